// Snippets, grammar and language configuration against the language itself: the grammar's
// built-ins are the checker's table; each snippet, expanded with its default placeholders,
// parses without syntax errors, and a whole-recipe snippet passes the checker; the word
// pattern selects whole identifiers and numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze } from '../../../server/src/language/analysis.ts';
import { builtins } from '../../../server/src/language/builtins.ts';
import { parse } from '../../../server/src/language/parser.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const readJson = (rel: string): unknown => JSON.parse(readFileSync(join(root, rel), 'utf8'));

type Snippet = { prefix: string; body: string[]; description: string };
const snippets = readJson('grammar/snippets.json') as Record<string, Snippet>;
const grammar = readJson('grammar/tvr.tmLanguage.json') as { repository: Record<string, { match?: string; begin?: string }> };
const configuration = readJson('grammar/language-configuration.json') as { wordPattern: string };

const grammarBuiltins = /\(\?:([^)]*)\)/.exec(grammar.repository['builtin-name']!.match!)![1]!.split('|');
const builtinNames = new Set(builtins.map((b) => b.name));

/** Replaces `${1:default}`, `${1|first,second|}`, `${1}`, `$1` and `$0` by what VS Code inserts before the user types. */
function expandDefaults(body: string[]): string {
  let text = body.join('\n').replace(/\$\{\d+\|([^,|]*)[^}]*\}/g, '$1');
  let previous;
  do {
    previous = text;
    text = text.replace(/\$\{\d+:([^${}]*)\}/g, '$1');
  } while (text !== previous);
  return text.replace(/\$\{\d+\}|\$\d+/g, '');
}

test('snippet expansion replaces placeholders', () => {
  const table: [string[], string][] = [
    [['x = ${1:a} + ${2}', '$0'], 'x = a + \n'],
    [['${1:outer ${2:inner}}'], 'outer inner'],
    [['y = load("${1:m.safetensors}")'], 'y = load("m.safetensors")'],
    [['metric="${4|accuracy,loss|}"'], 'metric="accuracy"'],
  ];
  for (const [body, expected] of table) assert.equal(expandDefaults(body), expected);
});

test('the grammar marks exactly the built-ins of the checker', () => {
  assert.deepEqual([...grammarBuiltins].sort(), [...builtinNames].sort());
  assert.ok(grammar.repository['builtin-call']!.begin!.includes(`(${grammarBuiltins.join('|')})`), 'builtin-call and builtin-name list the same names');
});

/** Snippets that insert a whole recipe (the others insert a statement into one). */
const wholeRecipes = new Set(['negate', 'add', 'analogy']);

test('snippets have the expected prefixes', () => {
  const prefixes = Object.values(snippets).map((s) => s.prefix).sort();
  assert.deepEqual(prefixes, ['add', 'analogy', 'evaluate', 'negate', 'soup', 'ties']);
});

for (const [title, snippet] of Object.entries(snippets)) {
  test(`snippet "${title}" expands to a well-formed fragment`, () => {
    assert.ok(snippet.description.length > 0, 'a description');
    const text = expandDefaults(snippet.body);
    assert.doesNotMatch(text, /\$/, 'no placeholder left');
    assert.deepEqual(parse(text).errors.map((e) => e.message), [], text);
    for (const [, callee] of text.matchAll(/([A-Za-z_]\w*)\s*\(/g)) {
      assert.ok(builtinNames.has(callee!), `${callee} is not a built-in`);
    }
    if (wholeRecipes.has(snippet.prefix)) {
      // Checkpoint headers "not read yet": everything but shapes is checked.
      const analysis = analyze(text, { file: '/recipes/snippet.tvr', checkpoint: () => ({ status: 'pending' }) });
      assert.deepEqual(analysis.diagnostics.map((d) => `${d.code}: ${d.message}`), [], text);
    }
  });
}

test('word pattern selects whole identifiers and numbers', () => {
  const wordPattern = new RegExp(configuration.wordPattern, 'g');
  const table: [string, string[]][] = [
    ['edited = base + lam*sci - 0.5*toxic', ['edited', 'base', 'lam', 'sci', '0.5', 'toxic']],
    ['x = 1e-3 + .5 + magnitude_prune(t1)', ['x', '1e-3', '.5', 'magnitude_prune', 't1']],
    ['ties(a, density=0.2)', ['ties', 'a', 'density', '0.2']],
  ];
  for (const [line, words] of table) assert.deepEqual(line.match(wordPattern), words, line);
});
