// rustc-style rendering of diagnostics for terminals, and the JSON form for programs.
import { styleText } from 'node:util';
import type { Analysis } from '../language/analysis.ts';
import type { Diagnostic, Severity } from '../language/diagnostics.ts';
import type { Range } from '../language/program.ts';
import { visibleControls } from '../display-text.ts';

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

/**
 * `error[code]: message`, the location, the source line with carets, and fixes as help lines.
 * Text from files (the message names tensors and paths; the source line) has its control
 * characters escaped, with the carets moved to match.
 */
export function renderDiagnostic(displayPath: string, analysis: Analysis, d: Diagnostic, stream: NodeJS.WriteStream): string {
  const style = (format: Parameters<typeof styleText>[0], text: string): string => styleText(format, text, { stream });
  const { start, end } = analysis.lines.range(d.span);
  const lineNumber = String(start.line + 1);
  const gutter = ' '.repeat(lineNumber.length);
  const raw = analysis.lines.lineText(start.line);
  const source = visibleControls(raw);
  const column = (character: number): number => visibleControls(raw.slice(0, character)).length;
  const caretStart = column(start.character);
  const caretEnd = end.line === start.line ? Math.max(column(end.character), caretStart + 1) : source.length;
  const carets = ' '.repeat(caretStart) + '^'.repeat(Math.max(1, caretEnd - caretStart));
  const path = visibleControls(displayPath);
  const out = [
    `${style(['bold', colours[d.severity]], `${d.severity}[${d.code}]`)}${style('bold', `: ${visibleControls(d.message)}`)}`,
    `${gutter}${style('blue', '-->')} ${path}:${start.line + 1}:${start.character + 1}`,
    `${gutter} ${style('blue', '|')}`,
    `${style('blue', lineNumber)} ${style('blue', '|')} ${source}`,
    `${gutter} ${style('blue', '|')} ${style(colours[d.severity], carets)}`,
  ];
  for (const related of d.related ?? []) {
    const at = analysis.lines.position(related.span.start);
    out.push(`${gutter} ${style('blue', '=')} note: ${visibleControls(related.message)} at ${path}:${at.line + 1}:${at.character + 1}`);
  }
  for (const fix of d.fixes ?? []) out.push(`${gutter} ${style('blue', '=')} help: ${visibleControls(fix.title)}`);
  return out.join('\n');
}
