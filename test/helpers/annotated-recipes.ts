// Expected diagnostics written in the test recipe itself, under the line they point at:
//
//   m = base + load("sci.safetensors")
//   #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[model-weight-sum]: the model weights sum to 2
//   #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ fix: Average them: mean(base, load("sci.safetensors"))
//   x = base +
//   #         | error[syntax]: expected an expression
//
// The carets stand under the columns the diagnostic covers (UTF-16 code units, as LSP
// counts); `#^^^` covers column 0 as well (the `#` stands under it, as a range starting
// there can have no caret under it). A single `|` instead marks an empty range: the
// diagnostic starts and ends at the column the bar stands in (`#|`: column 0), such as a
// syntax error at the end of a line. The text after `: ` is a fragment of that diagnostic's
// message. A `fix:` line under a diagnostic's annotation names one of its quick fixes: the
// title in full, the carets (or bar) covering what the fix's first edit replaces; fixes not
// named are not checked. Annotations are comments, so the recipe is checked as written;
// several under one line all point at the nearest line above that is not an annotation. A
// line that starts like an annotation (`#`, spaces, `^` or `|`) but does not parse is an
// error, so a typo cannot pass silently.
import assert from 'node:assert/strict';
import type { Analysis } from '../../server/src/language/analysis.ts';

/** Zero-based line, and start and end (exclusive) characters on it. */
interface LineRange {
  readonly line: number;
  readonly start: number;
  readonly end: number;
}

export interface ExpectedFix extends LineRange {
  readonly title: string;
}

export interface ExpectedDiagnostic extends LineRange {
  readonly severity: string;
  readonly code: string;
  readonly fragment: string | undefined;
  readonly fixes: readonly ExpectedFix[];
}

interface Range {
  readonly start: { readonly line: number; readonly character: number };
  readonly end: { readonly line: number; readonly character: number };
}

/** What the helper compares: a diagnostic with LSP ranges. */
export interface ActualDiagnostic {
  readonly range: Range;
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  /** Each fix's title and the range of its first edit. */
  readonly fixes?: readonly { readonly title: string; readonly range: Range }[];
}

const annotationStart = /^# *[\^|]/;
const annotationLine = /^#( *)(\^+|\|) (?:(error|warning|info|hint)\[([a-z0-9-]+)\](?:: (.*))?|fix: (.+))$/;

/** The columns the marks stand under; carets right after the `#` extend the range to column 0. */
function markedColumns(spaces: string, marks: string): { start: number; end: number } {
  const start = spaces.length === 0 ? 0 : 1 + spaces.length;
  return { start, end: marks === '|' ? start : 1 + spaces.length + marks.length };
}

/** The annotations of a recipe; a line that starts like one but does not parse is an error (a typo must not pass silently). */
export function parseAnnotations(text: string): ExpectedDiagnostic[] {
  const expected: { -readonly [K in keyof ExpectedDiagnostic]: ExpectedDiagnostic[K] }[] = [];
  let target: number | undefined;
  text.split(/\r\n|\r|\n/).forEach((source, line) => {
    if (!annotationStart.test(source)) {
      target = line;
      return;
    }
    const match = annotationLine.exec(source.trimEnd());
    if (!match) throw new Error(`line ${line + 1}: not an annotation (#  ^^^ severity[code]: fragment, #  | severity[code] or #  ^^^ fix: title): ${source}`);
    if (target === undefined) throw new Error(`line ${line + 1}: an annotation needs a line above it`);
    const [, spaces, marks, severity, code, fragment, fixTitle] = match as unknown as [string, string, string, string?, string?, string?, string?];
    const range = { line: target, ...markedColumns(spaces, marks) };
    if (fixTitle === undefined) {
      expected.push({ ...range, severity: severity!, code: code!, fragment, fixes: [] });
      return;
    }
    const owner = expected.at(-1);
    if (owner?.line !== target) throw new Error(`line ${line + 1}: a fix annotation needs a diagnostic annotation above it`);
    owner.fixes = [...owner.fixes, { ...range, title: fixTitle }];
  });
  return expected;
}

function key(d: LineRange & { severity: string; code: string }): string {
  return `${d.line + 1}:${d.start}-${d.end} ${d.severity}[${d.code}]`;
}

/** A range as its annotation would give it; one over several lines, which no annotation can give, says so. */
function rangeKey(r: Range): string {
  const end = r.end.line === r.start.line ? r.end.character : `${r.end.line + 1}:${r.end.character}`;
  return `${r.start.line + 1}:${r.start.character}-${end}`;
}

function actualKey(d: ActualDiagnostic): string {
  return `${rangeKey(d.range)} ${d.severity}[${d.code}]`;
}

function hasFix(d: ActualDiagnostic, fix: ExpectedFix): boolean {
  return (d.fixes ?? []).some((f) => f.title === fix.title && rangeKey(f.range) === `${fix.line + 1}:${fix.start}-${fix.end}`);
}

/**
 * Asserts that `actual` is exactly the annotated diagnostics: the same ranges, severities and
 * codes (as multisets), each annotation's fragment in the message of its own diagnostic, and
 * each fix annotation among that diagnostic's fixes.
 */
export function assertAnnotatedDiagnostics(text: string, actual: readonly ActualDiagnostic[]): void {
  const expected = parseAnnotations(text);
  const listing = actual.map((d) => `${actualKey(d)}: ${d.message}${(d.fixes ?? []).map((f) => `\n  fix ${rangeKey(f.range)}: ${f.title}`).join('')}`).join('\n');
  assert.deepEqual(actual.map(actualKey).sort(), expected.map(key).sort(), `diagnostics differ from the annotations; the checker says:\n${listing}`);
  const unmatched = [...actual];
  // The most specific annotations first, so a vaguer one cannot take the diagnostic they need.
  const specificity = (e: ExpectedDiagnostic): number => Number(e.fragment !== undefined) + e.fixes.length;
  for (const e of [...expected].sort((a, b) => specificity(b) - specificity(a))) {
    const index = unmatched.findIndex((d) => actualKey(d) === key(e) && (e.fragment === undefined || d.message.includes(e.fragment)) && e.fixes.every((f) => hasFix(d, f)));
    const wanted = [`the message fragment ${JSON.stringify(e.fragment)}`, ...e.fixes.map((f) => `the fix ${JSON.stringify(f.title)} at ${f.start}-${f.end}`)].join(' and ');
    assert.ok(index >= 0, `no ${key(e)} diagnostic has ${wanted}; the checker says:\n${listing}`);
    unmatched.splice(index, 1);
  }
}

/** An analysis's diagnostics as the helper compares them; hints left out unless asked. */
export function analysisDiagnostics(analysis: Analysis, withHints = false): ActualDiagnostic[] {
  return analysis.diagnostics
    .filter((d) => withHints || d.severity !== 'hint')
    .map((d) => ({
      range: analysis.lines.range(d.span),
      severity: d.severity,
      code: d.code,
      message: d.message,
      fixes: (d.fixes ?? []).map((f) => ({ title: f.title, range: analysis.lines.range(f.edits[0]!.span) })),
    }));
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
