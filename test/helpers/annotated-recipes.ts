// Expected diagnostics written in the test recipe itself, under the line they point at:
//
//   m = base + load("sci.safetensors")
//   #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[model-weight-sum]: the model weights sum to 2
//
// The carets stand under the columns the diagnostic covers (UTF-16 code units, as LSP
// counts); `#^^^` covers column 0 as well (the `#` stands under it, as a range starting
// there can have no caret under it). The text after `: ` is a fragment of that
// diagnostic's message. Annotations are comments, so the recipe is checked as written;
// several under one line all point at the nearest line above that is not an annotation.
import assert from 'node:assert/strict';
import type { Analysis } from '../../server/src/language/analysis.ts';

export interface ExpectedDiagnostic {
  /** Zero-based line of the annotated line. */
  readonly line: number;
  /** Zero-based start and end (exclusive) characters. */
  readonly start: number;
  readonly end: number;
  readonly severity: string;
  readonly code: string;
  readonly fragment: string | undefined;
}

/** What the helper compares: a diagnostic with an LSP range. */
export interface ActualDiagnostic {
  readonly range: { readonly start: { readonly line: number; readonly character: number }; readonly end: { readonly line: number; readonly character: number } };
  readonly severity: string;
  readonly code: string;
  readonly message: string;
}

const annotationLine = /^#( *)(\^+) (error|warning|info|hint)\[([a-z0-9-]+)\](?:: (.*))?$/;

/** The annotations of a recipe; a line that starts like one but does not parse is an error (a typo must not pass silently). */
export function parseAnnotations(text: string): ExpectedDiagnostic[] {
  const expected: ExpectedDiagnostic[] = [];
  let target: number | undefined;
  text.split(/\r\n|\r|\n/).forEach((source, line) => {
    if (!/^# *\^/.test(source)) {
      target = line;
      return;
    }
    const match = annotationLine.exec(source.trimEnd());
    if (!match) throw new Error(`line ${line + 1}: not an annotation (#  ^^^ severity[code]: fragment): ${source}`);
    if (target === undefined) throw new Error(`line ${line + 1}: an annotation needs a line above it`);
    const [, spaces, carets, severity, code, fragment] = match as unknown as [string, string, string, string, string, string | undefined];
    // Carets right after the `#` extend the range to column 0.
    const start = spaces.length === 0 ? 0 : 1 + spaces.length;
    expected.push({ line: target, start, end: 1 + spaces.length + carets.length, severity, code, fragment });
  });
  return expected;
}

function key(d: { line: number; start: number; end: number; severity: string; code: string }): string {
  return `${d.line + 1}:${d.start}-${d.end} ${d.severity}[${d.code}]`;
}

function actualKey(d: ActualDiagnostic): string {
  // A range over several lines cannot be annotated: its key says so, and no annotation matches it.
  const end = d.range.end.line === d.range.start.line ? d.range.end.character : `${d.range.end.line + 1}:${d.range.end.character}`;
  return `${d.range.start.line + 1}:${d.range.start.character}-${end} ${d.severity}[${d.code}]`;
}

/**
 * Asserts that `actual` is exactly the annotated diagnostics: the same ranges, severities and
 * codes (as multisets), and each annotation's fragment in the message of its own diagnostic.
 */
export function assertAnnotatedDiagnostics(text: string, actual: readonly ActualDiagnostic[]): void {
  const expected = parseAnnotations(text);
  const listing = actual.map((d) => `${actualKey(d)}: ${d.message}`).join('\n');
  assert.deepEqual(actual.map(actualKey).sort(), expected.map(key).sort(), `diagnostics differ from the annotations; the checker says:\n${listing}`);
  const unmatched = [...actual];
  // Annotations with fragments first, so one without cannot take the diagnostic a fragment needs.
  for (const e of [...expected].sort((a, b) => Number(b.fragment !== undefined) - Number(a.fragment !== undefined))) {
    const index = unmatched.findIndex((d) => actualKey(d) === key(e) && (e.fragment === undefined || d.message.includes(e.fragment)));
    assert.ok(index >= 0, `no ${key(e)} diagnostic has the message fragment ${JSON.stringify(e.fragment)}; the checker says:\n${listing}`);
    unmatched.splice(index, 1);
  }
}

/** An analysis's diagnostics as the helper compares them; hints left out unless asked. */
export function analysisDiagnostics(analysis: Analysis, withHints = false): ActualDiagnostic[] {
  return analysis.diagnostics
    .filter((d) => withHints || d.severity !== 'hint')
    .map((d) => ({ range: analysis.lines.range(d.span), severity: d.severity, code: d.code, message: d.message }));
}

/**
 * A template tag for recipes written indented in test code: drops the first line break, the
 * indentation of the first line from every line, and the last line when it is blank.
 * Interpolated values are inserted as they are (a shared header of several lines, say).
 */
export function recipe(strings: TemplateStringsArray, ...values: readonly unknown[]): string {
  const indent = /^\n([ \t]*)/.exec(strings[0]!)?.[1] ?? '';
  const dedented = strings.map((s) => s.replaceAll(`\n${indent}`, '\n'));
  dedented[0] = dedented[0]!.replace(/^\n/, '');
  const last = dedented.length - 1;
  dedented[last] = dedented[last]!.replace(/\n[ \t]*$/, '\n');
  return dedented.reduce((text, s, i) => text + String(values[i - 1]) + s);
}
