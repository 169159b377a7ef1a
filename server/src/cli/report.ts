// rustc-style rendering of diagnostics for terminals, and the JSON form for programs.
import { styleText } from 'node:util';
import type { Analysis } from '../language/analysis.ts';
import type { Diagnostic, Severity } from '../language/diagnostics.ts';
import { formatExactCount } from '../language/limits.ts';
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
  const line = analysis.lines.lineText(start.line);
  const spanEnd = end.line === start.line ? Math.max(end.character, start.character + 1) : line.length;
  const shown = excerpt(line, start.character, spanEnd);
  const source = visibleControls(shown.text);
  // Columns of the printed line: escapes widen what precedes a character.
  const column = (character: number): number => visibleControls(shown.text.slice(0, shown.column(character))).length;
  const caretStart = column(start.character);
  const caretEnd = Math.max(column(spanEnd), caretStart + 1);
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

/** Diagnostics printed per file: past this many a terminal shows a count (no one reads 10,000 of them). */
const maxPrintedDiagnostics = 100;

/**
 * Several diagnostics of one file, each followed by a blank line, at most
 * `maxPrintedDiagnostics` of them, then how many more there are and where to see them all.
 */
export function renderDiagnostics(displayPath: string, analysis: Analysis, diagnostics: readonly Diagnostic[], stream: NodeJS.WriteStream): string {
  const shown = diagnostics.slice(0, maxPrintedDiagnostics).map((d) => `${renderDiagnostic(displayPath, analysis, d, stream)}\n\n`);
  const more = diagnostics.length - shown.length;
  if (more > 0) shown.push(`... and ${formatExactCount(more)} more in ${visibleControls(displayPath)} (tvr check --json lists every one)\n\n`);
  return shown.join('');
}

/** Characters shown each side of a diagnostic's span; a longer line is cut, marked with `...`. */
const CONTEXT = 80;

/**
 * The part of a source line to print: all of it when short, else the span (at most 2 x CONTEXT
 * of it) with CONTEXT characters around it, so a one-line 5 MB recipe prints one short line.
 * `column` maps a column of the line to one of the excerpt (clamped to it).
 */
function excerpt(line: string, start: number, end: number): { text: string; column: (character: number) => number } {
  if (line.length <= 3 * CONTEXT) return { text: line, column: (c) => c };
  const from = Math.max(0, start - CONTEXT);
  const to = Math.min(line.length, Math.min(end, start + 2 * CONTEXT) + CONTEXT);
  const lead = from > 0 ? '...' : '';
  return {
    text: `${lead}${line.slice(from, to)}${to < line.length ? '...' : ''}`,
    column: (c) => lead.length + Math.min(Math.max(c, from), to) - from,
  };
}
