// Accuracy and cross-entropy from raw outputs, for every output kind, against values
// written out by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accumulate, emptyTotals, finish, PROBABILITY_EPSILON } from '../../../server/src/engine/evaluation/metrics.ts';
import type { OutputActivation } from '../../../server/src/engine/evaluation/metrics.ts';

const ln = Math.log;
const softplus = (z: number) => ln(1 + Math.exp(z));

const cases: { name: string; outputs: number[]; classes: number; labels: number[]; activation: OutputActivation; accuracy: number; loss: number; scored: number }[] = [
  {
    name: 'logits, two rows',
    outputs: [2, 0, 0, /**/ 0, 0, 3], classes: 3, labels: [0, 1], activation: 'logits',
    accuracy: 0.5, loss: ((ln(Math.exp(2) + 2) - 2) + (ln(2 + Math.exp(3)) - 0)) / 2, scored: 2,
  },
  {
    name: 'probabilities from a softmax layer',
    outputs: [0.7, 0.2, 0.1, /**/ 0.1, 0.3, 0.6], classes: 3, labels: [0, 1], activation: 'softmax',
    accuracy: 0.5, loss: (-ln(0.7) - ln(0.3)) / 2, scored: 2,
  },
  {
    name: 'a zero probability is clamped, not infinite',
    outputs: [1, 0], classes: 2, labels: [1], activation: 'softmax',
    accuracy: 0, loss: -ln(PROBABILITY_EPSILON), scored: 1,
  },
  {
    name: 'padding labels (< 0) are not scored',
    outputs: [5, 0, /**/ 0, 5, /**/ 9, 9], classes: 2, labels: [0, 0, -100], activation: 'logits',
    accuracy: 0.5, loss: ((ln(Math.exp(5) + 1) - 5) + (ln(1 + Math.exp(5)) - 0)) / 2, scored: 2,
  },
  {
    name: 'ties go to the first class',
    outputs: [1, 1], classes: 2, labels: [1], activation: 'logits',
    accuracy: 0, loss: ln(2), scored: 1,
  },
  {
    name: 'binary logit (one unit)',
    outputs: [2, -1, 0.5], classes: 1, labels: [1, 1, 0], activation: 'logits',
    accuracy: 1 / 3, loss: (softplus(-2) + softplus(1) + softplus(0.5)) / 3, scored: 3,
  },
  {
    name: 'binary probability (one sigmoid unit)',
    outputs: [0.9, 0.4], classes: 1, labels: [1, 0], activation: 'sigmoid',
    accuracy: 1, loss: (-ln(0.9) - ln(0.6)) / 2, scored: 2,
  },
];

describe('classifier metrics', () => {
  for (const c of cases) {
    it(c.name, () => {
      const totals = emptyTotals();
      // In two batches, to exercise accumulation.
      const split = Math.ceil(c.labels.length / 2);
      accumulate(totals, Float32Array.from(c.outputs.slice(0, split * c.classes)), c.classes, Int32Array.from(c.labels.slice(0, split)), c.activation);
      accumulate(totals, Float32Array.from(c.outputs.slice(split * c.classes)), c.classes, Int32Array.from(c.labels.slice(split)), c.activation);
      const m = finish(totals);
      assert.equal(m.scored, c.scored);
      assert.ok(Math.abs(m.accuracy - c.accuracy) < 1e-12, `accuracy ${m.accuracy}`);
      assert.ok(Math.abs(m.loss - c.loss) < 1e-6, `loss ${m.loss} vs ${c.loss}`);
      assert.ok(Math.abs(m.perplexity - Math.exp(c.loss)) < 1e-5 * Math.exp(c.loss));
    });
  }

  const errors = [
    { name: 'a label beyond the classes', outputs: [1, 2], classes: 2, labels: [2], activation: 'logits' as const, message: /label 2 at row 0 is outside the 2 classes/ },
    { name: 'a binary label other than 0/1', outputs: [1], classes: 1, labels: [3], activation: 'logits' as const, message: /needs labels 0 or 1/ },
    { name: 'a one-unit softmax', outputs: [1], classes: 1, labels: [1], activation: 'softmax' as const, message: /softmax over one unit is always 1/ },
    { name: 'multi-unit sigmoid', outputs: [0.1, 0.2], classes: 2, labels: [1], activation: 'sigmoid' as const, message: /multi-label/ },
    { name: 'outputs not a whole number of rows', outputs: [1, 2, 3], classes: 2, labels: [1], activation: 'logits' as const, message: /do not make 1 rows of 2/ },
  ];
  for (const e of errors) {
    it(`refuses ${e.name}`, () => {
      assert.throws(() => accumulate(emptyTotals(), Float32Array.from(e.outputs), e.classes, Int32Array.from(e.labels), e.activation), e.message);
    });
  }

  it('refuses to score when every label is padding', () => {
    const totals = emptyTotals();
    accumulate(totals, Float32Array.from([1, 2]), 2, Int32Array.from([-1]), 'logits');
    assert.throws(() => finish(totals), /every label is padding/);
  });
});
