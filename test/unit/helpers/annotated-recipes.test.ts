// The inline-annotation helper: where carets and bars point, what they must match, and
// that it fails on a missing, extra, misplaced or misworded diagnostic or fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertAnnotatedDiagnostics, parseAnnotations, recipe, type ActualDiagnostic } from '../../helpers/annotated-recipes.ts';

const text = recipe`
  a = load("a.safetensors")
  m = a + a
  #   ^^^^^ error[model-weight-sum]: sum to 2
  #   ^ warning[foreign-base]
  x = 1
  #^^^^ info[some-code]: at column 0
`;

function at(line: number, start: number, end: number, severity: string, code: string, message: string): ActualDiagnostic {
  return { range: { start: { line, character: start }, end: { line, character: end } }, severity, code, message };
}

const matching = [
  at(1, 4, 9, 'error', 'model-weight-sum', 'the model weights sum to 2'),
  at(1, 4, 5, 'warning', 'foreign-base', 'anything'),
  at(4, 0, 5, 'info', 'some-code', 'a note at column 0'),
];

test('the recipe tag drops the indentation and keeps the text as written', () => {
  assert.equal(text.split('\n')[0], 'a = load("a.safetensors")');
  assert.ok(text.endsWith('at column 0\n'));
  assert.equal(recipe`
    ${'h = 1\n'}y = h
  `, 'h = 1\ny = h\n');
});

test('carets give the line above and its columns; several annotations may share a line; #^ starts at column 0', () => {
  assert.deepEqual(parseAnnotations(text), [
    { line: 1, start: 4, end: 9, severity: 'error', code: 'model-weight-sum', fragment: 'sum to 2', fixes: [] },
    { line: 1, start: 4, end: 5, severity: 'warning', code: 'foreign-base', fragment: undefined, fixes: [] },
    { line: 4, start: 0, end: 5, severity: 'info', code: 'some-code', fragment: 'at column 0', fixes: [] },
  ]);
});

test('exactly the annotated diagnostics pass, in any order', () => {
  assertAnnotatedDiagnostics(text, matching);
  assertAnnotatedDiagnostics(text, [...matching].reverse());
});

test('a missing, extra or misplaced diagnostic fails', () => {
  assert.throws(() => assertAnnotatedDiagnostics(text, matching.slice(1)), /differ from the annotations/);
  assert.throws(() => assertAnnotatedDiagnostics(text, [...matching, at(0, 0, 1, 'hint', 'unused-binding', 'x')]), /differ/);
  assert.throws(() => assertAnnotatedDiagnostics(text, [at(1, 4, 8, 'error', 'model-weight-sum', 'sum to 2'), ...matching.slice(1)]), /differ/);
  assert.throws(() => assertAnnotatedDiagnostics(text, [{ ...matching[0]!, range: { start: { line: 1, character: 4 }, end: { line: 2, character: 1 } } }, ...matching.slice(1)]), /differ/);
});

test('a fragment must be in the message of its own diagnostic, not of any', () => {
  const swapped = [at(1, 4, 9, 'error', 'model-weight-sum', 'weights sum to 3'), matching[1]!, { ...matching[2]!, message: 'sum to 2' }];
  assert.throws(() => assertAnnotatedDiagnostics(text, swapped), /message fragment "sum to 2"/);
});

test('a malformed annotation is an error, not an ignored comment', () => {
  assert.throws(() => parseAnnotations('x = 1\n#   ^^ eror[type-mismatch]\n'), /not an annotation/);
  assert.throws(() => parseAnnotations('#^ error[syntax]\n'), /needs a line above/);
  assert.throws(() => parseAnnotations('x = 1 +\n#      || error[syntax]\n'), /not an annotation/);
  assert.throws(() => parseAnnotations('x = 1 +\n#      |^ error[syntax]\n'), /not an annotation/);
  assert.throws(() => parseAnnotations('x = 1 +\n#      |error[syntax]\n'), /not an annotation/);
  assert.throws(() => parseAnnotations('x = 1\n#   ^ fix:\n'), /not an annotation/);
  assert.throws(() => parseAnnotations('x = 1\n#   ^ fix: Remove it\n'), /needs a diagnostic annotation above/);
});

const edited = recipe`
  x = base +
  #         | error[syntax]: expected an expression
  s = "f8"
  #^ warning[some-code]
  #   ^^^^ error[invalid-value]: must be one of
  #   ^^^^ fix: Change to "f16"
  #| fix: Insert at the start
`;

function fixed(diagnostic: ActualDiagnostic, ...fixes: [string, number, number][]): ActualDiagnostic {
  return { ...diagnostic, fixes: fixes.map(([title, start, end]) => ({ title, range: at(diagnostic.range.start.line, start, end, '', '', '').range })) };
}

const editedDiagnostics = [
  at(0, 10, 10, 'error', 'syntax', 'expected an expression but found the end of the line'),
  at(2, 0, 2, 'warning', 'some-code', 'anything'),
  fixed(at(2, 4, 8, 'error', 'invalid-value', "'dtype' must be one of"), ['Change to "f32"', 4, 8], ['Change to "f16"', 4, 8], ['Insert at the start', 0, 0]),
];

test('a bar marks an empty range at its column; fix lines belong to the diagnostic annotated above them', () => {
  assert.deepEqual(parseAnnotations(edited), [
    { line: 0, start: 10, end: 10, severity: 'error', code: 'syntax', fragment: 'expected an expression', fixes: [] },
    { line: 2, start: 0, end: 2, severity: 'warning', code: 'some-code', fragment: undefined, fixes: [] },
    {
      line: 2, start: 4, end: 8, severity: 'error', code: 'invalid-value', fragment: 'must be one of',
      fixes: [{ line: 2, start: 4, end: 8, title: 'Change to "f16"' }, { line: 2, start: 0, end: 0, title: 'Insert at the start' }],
    },
  ]);
  assertAnnotatedDiagnostics(edited, editedDiagnostics);
});

test('an empty range matches only a bar, and each annotated fix must be among its diagnostic\'s fixes with its range', () => {
  const [syntax, note, choice] = editedDiagnostics as [ActualDiagnostic, ActualDiagnostic, ActualDiagnostic];
  assert.throws(() => assertAnnotatedDiagnostics(edited, [at(0, 10, 11, 'error', 'syntax', 'expected an expression'), note, choice]), /differ/);
  assert.throws(() => assertAnnotatedDiagnostics(edited, [syntax, note, fixed(choice, ['Change to "f32"', 4, 8], ['Insert at the start', 0, 0])]), /the fix "Change to \\"f16\\""/);
  assert.throws(() => assertAnnotatedDiagnostics(edited, [syntax, note, fixed(choice, ['Change to "f16"', 5, 8], ['Insert at the start', 0, 0])]), /no 3:4-8 error\[invalid-value\]/);
});
