// Conversions between the analysis core's plain data and LSP types.
import { fileURLToPath } from 'node:url';
import {
  DiagnosticSeverity, DiagnosticTag, type Diagnostic as LspDiagnostic, type Range as LspRange, type TextEdit as LspTextEdit,
} from 'vscode-languageserver/node';
import type { Analysis } from '../language/analysis.ts';
import type { Diagnostic, Severity, TextEdit } from '../language/diagnostics.ts';
import type { Span } from '../language/syntax-tree.ts';

export function toRange(analysis: Analysis, span: Span): LspRange {
  return analysis.lines.range(span);
}

export function toSpan(analysis: Analysis, range: LspRange): Span {
  return { start: analysis.lines.offset(range.start), end: analysis.lines.offset(range.end) };
}

const severities: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function toLspDiagnostic(analysis: Analysis, d: Diagnostic, uri: string): LspDiagnostic {
  return {
    range: toRange(analysis, d.span),
    severity: severities[d.severity],
    code: d.code,
    source: 'tvr',
    message: d.message,
    ...(d.unnecessary ? { tags: [DiagnosticTag.Unnecessary] } : {}),
    ...(d.related ? { relatedInformation: d.related.map((r) => ({ location: { uri, range: toRange(analysis, r.span) }, message: r.message })) } : {}),
  };
}

export function toTextEdit(analysis: Analysis, edit: TextEdit): LspTextEdit {
  return { range: toRange(analysis, edit.span), newText: edit.newText };
}

/** Recipes live on disk; untitled documents resolve relative paths against the working directory. */
export function uriToPath(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  return `${process.cwd()}/${uri.replace(/^[a-z]+:/i, '').replace(/[^A-Za-z0-9._-]/g, '_')}`;
}
