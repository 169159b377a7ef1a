// The language's limits on hostile recipes: "did you mean" costs the same per undefined
// name at 50,000 lines as at 50 (counted work, not time), a recipe over the size limit
// is one diagnostic without being tokenized, and names by the hundred thousand do not
// overflow the stack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyze } from '../../../server/src/language/analysis.ts';
import type { CheckEnvironment } from '../../../server/src/language/check.ts';
import { maxRecipeBytes } from '../../../server/src/language/limits.ts';
import { maxSuggestedNames, suggestionWork } from '../../../server/src/language/names.ts';

const env: CheckEnvironment = { file: '/nowhere/recipe.tvr', checkpoint: () => ({ status: 'pending' }) };

/** Distance computations plus index lookups made while analysing `text`. */
function suggestionCost(text: string): { work: number; messages: string[] } {
  suggestionWork.distances = 0;
  suggestionWork.lookups = 0;
  const analysis = analyze(text, env);
  const messages = analysis.diagnostics.filter((d) => d.code === 'undefined-name').map((d) => d.message);
  return { work: suggestionWork.distances + suggestionWork.lookups, messages };
}

/** Short distinct names (base 36, fixed width) so that 50,000 lines stay under the size limit. */
function id(i: number): string {
  return i.toString(36).padStart(4, '0');
}

const shapes: readonly { name: string; line: (i: number) => string; distinct: number }[] = [
  // One keystroke un-defines a name used on every line: one distinct undefined name, one edit from bindings.
  { name: 'one undefined name used on every line', line: (i) => `v${id(i)}=v${id(i - 1)}+v00_0`, distinct: 1 },
  // Every line its own undefined name, two edits from the binding above it: found by the bounded scan.
  { name: 'a different undefined name on every line', line: (i) => `vv${id(i)}=uw${id(i - 1)}`, distinct: 49_999 },
];

for (const shape of shapes) {
  test(`"did you mean" costs the same per undefined name at 50,000 lines as at 50: ${shape.name}`, () => {
    const recipe = (lines: number): string => `${['v0000=1', 'vv0000=1', ...Array.from({ length: lines - 1 }, (_, i) => shape.line(i + 1))].join('\n')}\n`;
    const small = suggestionCost(recipe(50));
    const large = suggestionCost(recipe(50_000));
    const suggested = Math.min(shape.distinct, maxSuggestedNames);
    const perName = small.work / Math.min(shape.distinct, 49);
    // Before the index, each use compared the name with every binding: up to 50,000 distances per use.
    assert.ok(large.work <= suggested * (4 * perName + 600), `${small.work} units of work at 50 lines, ${large.work} at 50,000 lines`);
    assert.equal(large.messages.length, 49_999);
    assert.equal(large.messages.filter((m) => / did you mean '(v|vv)0[0-9a-z]{3}'\?$/.test(m)).length, shape.distinct === 1 ? 49_999 : maxSuggestedNames);
  });
}

test('the suggestion is the closest visible binding, the first defined among equals', () => {
  // 300 bindings: past the brute-force size, so the index answers.
  const lines = ['alpha = 1', ...Array.from({ length: 300 }, (_, i) => `filler${i} = alpha`), 'x = alpah + betaa', 'betax = 2', 'y = betaa'];
  const { messages } = suggestionCost(`${lines.join('\n')}\n`);
  assert.deepEqual(messages, ["'alpah' is not defined; did you mean 'alpha'?", "'betaa' is not defined", "'betaa' is not defined; did you mean 'betax'?"]);
});

test('a recipe over the size limit is one diagnostic and is not tokenized', () => {
  const text = `x = ${'a+'.repeat(2_500_000)}a\n`;
  const before = process.memoryUsage().heapUsed;
  const analysis = analyze(text, env);
  const grown = process.memoryUsage().heapUsed - before;
  assert.deepEqual(analysis.diagnostics.map((d) => [d.code, d.span.start]), [['recipe-too-large', 0]]);
  assert.match(analysis.diagnostics[0]!.message, /^this recipe is 5,000,006 bytes, more than the 1,048,576 \(1 MiB\) tvr analyses/);
  assert.equal(analysis.tree.statements.length, 0);
  // Tokenizing it took over 500 MB (about 100 bytes a token); the line index is 4 bytes a line.
  assert.ok(grown < 64 * 1024 * 1024, `analysis grew the heap by ${(grown / 1e6).toFixed(0)} MB`);
  // Just under the limit, the recipe is analysed as usual.
  const under = `x = 1\n${'#'.repeat(maxRecipeBytes - 8)}\n`;
  assert.deepEqual(analyze(under, env).diagnostics.map((d) => d.code), ['unused-binding']);
});

test('135,000 unused bindings in a recipe under the size limit are reported without overflowing the stack', () => {
  // push(...hints) of this many arguments overflowed the stack (from about 125,000 on Node 24).
  const text = Array.from({ length: 135_000 }, (_, i) => `a${i.toString(36)}=1\n`).join('');
  assert.ok(Buffer.byteLength(text) <= maxRecipeBytes);
  const analysis = analyze(text, env);
  assert.equal(analysis.diagnostics.filter((d) => d.code === 'unused-binding').length, 135_000);
});
