// The messages of non-finite, from the value the checker folds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldedMessage, nonFiniteWords } from '../../../../server/src/language/diagnostics/non-finite.ts';

test('a number folds to its value; a sweep-dependent one reaches it; a coefficient scales weights by it', () => {
  const rows: [Parameters<typeof foldedMessage>[0], string][] = [
    [{ excerpt: "'1e308*10'", folded: 'number', reach: Infinity, dependsOnSweep: false }, "'1e308*10' folds to Infinity: "],
    [{ excerpt: "'1e10*lam'", folded: 'number', reach: Infinity, dependsOnSweep: true }, "'1e10*lam' reaches Infinity at some sweep point: "],
    [{ excerpt: "'sci/1e-320'", folded: 'coefficient', reach: -Infinity, dependsOnSweep: false }, "'sci/1e-320' scales weights by -Infinity: "],
  ];
  for (const [facts, start] of rows) assert.ok(foldedMessage(facts).startsWith(start), foldedMessage(facts));
  assert.equal(nonFiniteWords(NaN), 'NaN (not a number, e.g. Infinity - Infinity)');
});
