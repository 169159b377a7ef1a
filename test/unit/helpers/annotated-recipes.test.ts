// The inline-annotation helper: where carets point, what they must match, and that it
// fails on a missing, extra, misplaced or misworded diagnostic.
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
    { line: 1, start: 4, end: 9, severity: 'error', code: 'model-weight-sum', fragment: 'sum to 2' },
    { line: 1, start: 4, end: 5, severity: 'warning', code: 'foreign-base', fragment: undefined },
    { line: 4, start: 0, end: 5, severity: 'info', code: 'some-code', fragment: 'at column 0' },
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
});
