// rustc-style rendering of diagnostics for terminals, and the JSON form for programs.
import { styleText } from 'node:util';
import type { Analysis } from '../language/analysis.ts';
import type { Diagnostic, Severity } from '../language/diagnostics.ts';
import type { Range } from '../language/program.ts';

export interface JsonDiagnostic {
  readonly file: string;
  readonly range: Range;
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
}

export function toJsonDiagnostic(file: string, analysis: Analysis, d: Diagnostic): JsonDiagnostic {
  return { file, range: analysis.lines.range(d.span), severity: d.severity, code: d.code, message: d.message };
}

const colours: Record<Severity, 'red' | 'yellow' | 'blue' | 'cyan'> = { error: 'red', warning: 'yellow', info: 'blue', hint: 'cyan' };

/** `error[code]: message`, the location, the source line with carets, and fixes as help lines. */
export function renderDiagnostic(displayPath: string, analysis: Analysis, d: Diagnostic, stream: NodeJS.WriteStream): string {
  const style = (format: Parameters<typeof styleText>[0], text: string): string => styleText(format, text, { stream });
  const { start, end } = analysis.lines.range(d.span);
  const lineNumber = String(start.line + 1);
  const gutter = ' '.repeat(lineNumber.length);
  const source = analysis.lines.lineText(start.line);
  const caretEnd = end.line === start.line ? Math.max(end.character, start.character + 1) : source.length;
  const carets = ' '.repeat(start.character) + '^'.repeat(Math.max(1, caretEnd - start.character));
  const out = [
    `${style(['bold', colours[d.severity]], `${d.severity}[${d.code}]`)}${style('bold', `: ${d.message}`)}`,
    `${gutter}${style('blue', '-->')} ${displayPath}:${start.line + 1}:${start.character + 1}`,
    `${gutter} ${style('blue', '|')}`,
    `${style('blue', lineNumber)} ${style('blue', '|')} ${source}`,
    `${gutter} ${style('blue', '|')} ${style(colours[d.severity], carets)}`,
  ];
  for (const related of d.related ?? []) {
    const at = analysis.lines.position(related.span.start);
    out.push(`${gutter} ${style('blue', '=')} note: ${related.message} at ${displayPath}:${at.line + 1}:${at.character + 1}`);
  }
  for (const fix of d.fixes ?? []) out.push(`${gutter} ${style('blue', '=')} help: ${fix.title}`);
  return out.join('\n');
}
