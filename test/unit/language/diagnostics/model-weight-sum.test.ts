// The message and fixes of model-weight-sum, from the facts the checker finds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { weightSumFixes, weightSumMessage, type WeightSumFacts } from '../../../../server/src/language/diagnostics/model-weight-sum.ts';

const span = { start: 4, end: 9 };
const twoModels: WeightSumFacts = {
  sum: '2', constantSum: 2, models: [{ name: "'a'", weight: '1' }, { name: "'b'", weight: '1' }],
  summands: ['a', 'b'], base: 'base', text: 'a + b', needsParens: true,
};

test('the message names the sum and each weight, and the double-counted base of a + b', () => {
  assert.equal(weightSumMessage(twoModels),
    "the model weights sum to 2 ('a': 1, 'b': 1) (adding two models counts the shared base twice): a Model needs weights summing to 1 and a task Vector to 0. Average models with mean(...), or add task vectors (finetuned - base) to one model");
  assert.ok(!weightSumMessage({ ...twoModels, sum: '1.1', constantSum: 1.1 }).includes('twice'));
});

test('a sum of models becomes their mean (preferred) or their task vectors on the base', () => {
  assert.deepEqual(weightSumFixes(twoModels, span).map((f) => [f.edits[0]!.newText, f.preferred ?? false]), [
    ['mean(a, b)', true],
    ['base + (a - base) + (b - base)', false],
  ]);
  assert.deepEqual(weightSumFixes({ ...twoModels, base: 'a' }, span).map((f) => f.edits[0]!.newText), ['mean(a, b)']);
});

test('any other constant sum is divided out; a sum that depends on a sweep has no fix', () => {
  const scaled = { ...twoModels, summands: undefined, sum: '1.1', constantSum: 1.1, text: '0.5*a + 0.6*b' };
  assert.deepEqual(weightSumFixes(scaled, span).map((f) => f.edits[0]!.newText), ['(0.5*a + 0.6*b) / 1.1']);
  assert.deepEqual(weightSumFixes({ ...scaled, needsParens: false, text: 'lam*a', sum: 'lam', constantSum: undefined }, span), []);
});
