// Tokens and trees: each row is a recipe and the tree written as an s-expression, or
// the errors the parser reports; recovery keeps the rest of the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from '../../../server/src/language/parser.ts';
import type { Expression, Statement } from '../../../server/src/language/syntax-tree.ts';
import { tokenize } from '../../../server/src/language/tokens.ts';

function sexpr(e: Expression): string {
  switch (e.kind) {
    case 'number': return String(e.value);
    case 'string': return JSON.stringify(e.value);
    case 'bool': return String(e.value);
    case 'name': return e.name;
    case 'missing': return '?';
    case 'paren': return sexpr(e.inner);
    case 'unary': return `(${e.operator} ${sexpr(e.operand)})`;
    case 'binary': return `(${e.operator} ${sexpr(e.left)} ${sexpr(e.right)})`;
    case 'list': return `[${e.items.map(sexpr).join(' ')}]`;
    case 'call': return `(${e.callee.name}${e.args.map((a) => ` ${a.keyword ? `${a.keyword.name}=` : ''}${sexpr(a.value)}`).join('')}${e.closed ? '' : ' …'})`;
  }
}

function statement(s: Statement): string {
  return s.kind === 'assignment' ? `${s.target.name} = ${sexpr(s.value)}` : sexpr(s.expression);
}

const trees: [string, string[]][] = [
  ['a = 1', ['a = 1']],
  ['a = 1e-3\nb = .5\nc = 2E+2', ['a = 0.001', 'b = 0.5', 'c = 200']],
  ['e = base + 0.5*sci - toxic', ['e = (- (+ base (* 0.5 sci)) toxic)']],
  ['e = a - b - c', ['e = (- (- a b) c)']],
  ['e = a * b / c', ['e = (/ (* a b) c)']],
  ['e = -a * -2', ['e = (* (- a) (- 2))']],
  ['e = -(a - b)', ['e = (- (- a b))']],
  ['e = c + (b - a)', ['e = (+ c (- b a))']],
  ['save(e, "out/e.safetensors", dtype="bf16")', ['(save e "out/e.safetensors" dtype="bf16")']],
  ['t = ties(a, b, density=0.2,)', ['t = (ties a b density=0.2)']],
  ['m = mean(\n  a,\n  b,\n)\nn = 1', ['m = (mean a b)', 'n = 1']],
  ['x = [1, 2, [3]]', ['x = [1 2 [3]]']],
  ['f = true\ng = false', ['f = true', 'g = false']],
  ['s = "a\\"b\\\\"', ['s = "a\\"b\\\\"']],
  ['# only a comment\n\na = b  # trailing\n', ['a = b']],
  ['trueish = truex', ['trueish = truex']],
];

for (const [text, expected] of trees) {
  test(`parses ${JSON.stringify(text)}`, () => {
    const tree = parse(text);
    assert.deepEqual(tree.errors, []);
    assert.deepEqual(tree.statements.map(statement), expected);
  });
}

// Recovery: [text, statements, error messages (with the offending text)].
const recoveries: [string, string[], string[]][] = [
  ['x = base +\ny = 3', ['x = (+ base ?)', 'y = 3'], ['expected an expression but found the end of the line']],
  ['x = mean(a, b\ny = 2', ['x = (mean a b …)', 'y = 2'], ["'(' is never closed: add ')'"]],
  ['x = = 2\nz = 1', ['x = ?', 'z = 1'], ["expected an expression but found '='"]],
  ['x = a b\nq = 1', ['x = a', 'q = 1'], ["unexpected 'b': put each statement on its own line, or join values with an operator"]],
  ['ties(a, b, density=)', ['(ties a b density=?)'], ["expected an expression but found ')'"]],
  ['s = "abc\nt = 1', ['s = "abc"', 't = 1'], ['unterminated string: add a closing "']],
  ['a = 1 $ 2\nb = 2', ['a = 1', 'b = 2'], ['unexpected character "$"', "unexpected '2': put each statement on its own line, or join values with an operator"]],
  ['w = [1, 2\nv = 3', ['w = [1 2]', 'v = 3'], ["'[' is never closed: add ']'"]],
];

for (const [text, statements, messages] of recoveries) {
  test(`recovers from ${JSON.stringify(text)}`, () => {
    const tree = parse(text);
    assert.deepEqual(tree.statements.map(statement), statements);
    assert.deepEqual(tree.errors.map((e) => e.message), messages);
  });
}

test('error spans point at the offending text', () => {
  const text = 'x = a b';
  const [error] = parse(text).errors;
  assert.equal(text.slice(error!.start, error!.end), 'b');
});

test('spans of nodes cover their source text', () => {
  const text = 'edited = base + 0.5*(sci - base)';
  const [s] = parse(text).statements;
  assert.equal(s!.kind, 'assignment');
  if (s!.kind !== 'assignment') return;
  assert.equal(text.slice(s.value.start, s.value.end), 'base + 0.5*(sci - base)');
  assert.equal(text.slice(s.target.start, s.target.end), 'edited');
});

test('newlines inside brackets continue the statement; a column-0 binding after an unclosed bracket starts a new one', () => {
  const kinds = (text: string) => tokenize(text).tokens.map((t) => t.tokenType.name).join(' ');
  assert.equal(kinds('f(a,\n  b)\n'), 'Identifier LParen Identifier Comma Identifier RParen Newline');
  assert.equal(kinds('f(a,\nb = 1'), 'Identifier LParen Identifier Comma Newline Identifier Equals NumberLiteral');
});

test('comments are kept for formatting, not parsed', () => {
  const tree = parse('a = 1 # one\n# two\n');
  assert.deepEqual(tree.comments.map((c) => c.text), ['# one', '# two']);
});

test('never throws and always returns a tree, even for junk', () => {
  for (const junk of ['', '\n\n', ')))', '((((', '= = =', '"', '#', 'a(b(c(d(', '1 2 3', ',,,', '[[]]]', 'x = ' + '('.repeat(2000)]) {
    const tree = parse(junk);
    assert.ok(Array.isArray(tree.statements));
  }
});
