// Sweep point order and the objectives' choice, on synthetic tables of validation metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bisectionOrder, gridOrder } from '../../../server/src/engine/sweep/order.ts';
import { choosePoint, normalize, scorePoint } from '../../../server/src/engine/sweep/objective.ts';
import type { ObjectiveReferences, ObjectiveTask } from '../../../server/src/engine/sweep/objective.ts';
import type { Metrics, Objective } from '../../../server/src/results/schema.ts';

describe('sweep order', () => {
  const cases: { count: number; order: number[] }[] = [
    { count: 0, order: [] },
    { count: 1, order: [0] },
    { count: 2, order: [0, 1] },
    { count: 3, order: [0, 2, 1] },
    { count: 5, order: [0, 4, 2, 1, 3] },
    { count: 9, order: [0, 8, 4, 2, 6, 1, 3, 5, 7] },
    // The paper's grid, 0..1 step 0.05: ends, 0.5, quarters, eighths (rounded down), then the rest.
    { count: 21, order: [0, 20, 10, 5, 15, 2, 7, 12, 17, 1, 3, 6, 8, 11, 13, 16, 18, 4, 9, 14, 19] },
  ];
  for (const c of cases) {
    it(`${c.count} values`, () => {
      const order = bisectionOrder(c.count);
      assert.deepEqual(order, c.order);
      assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: c.count }, (_, i) => i));
    });
  }

  it('two axes: the coarse grid first, every point once', () => {
    const order = gridOrder([3, 2]);
    assert.deepEqual(order, [[0, 0], [0, 1], [2, 0], [2, 1], [1, 0], [1, 1]]);
    assert.deepEqual(gridOrder([]), [[]]);
    const big = gridOrder([5, 4]);
    assert.equal(new Set(big.map((t) => t.join())).size, 20);
    // The 2 x 2 corners come before anything else.
    assert.deepEqual(big.slice(0, 4).map((t) => t.join()).sort(), ['0,0', '0,3', '4,0', '4,3']);
  });
});

const acc = (accuracy: number): Metrics => ({ accuracy, examples: 100, seconds: 0 });
const loss = (value: number): Metrics => ({ loss: value, examples: 100, seconds: 0 });

const target = (name: string, metric: 'accuracy' | 'loss' = 'accuracy'): ObjectiveTask => ({ name, role: 'target', metric, higherIsBetter: metric === 'accuracy' });
const control = (name: string, metric: 'accuracy' | 'loss' = 'accuracy'): ObjectiveTask => ({ name, role: 'control', metric, higherIsBetter: metric === 'accuracy' });

interface Case {
  name: string;
  objective: Objective;
  tasks: ObjectiveTask[];
  references: ObjectiveReferences;
  /** lam -> metrics per task, in sweep order. */
  points: [number, Record<string, Metrics>][];
  chosen: number;
  admissible?: boolean[];
  reason: RegExp;
}

const cases: Case[] = [
  {
    name: 'forget: lowest target accuracy among points keeping controls at 95% of the base',
    objective: 'forget',
    tasks: [target('toxic'), control('wiki')],
    references: { base: { toxic: 0.8, wiki: 0.9 }, finetuned: { toxic: 0.95, wiki: 0.9 } },
    points: [
      [0, { toxic: acc(0.8), wiki: acc(0.9) }],
      [0.5, { toxic: acc(0.5), wiki: acc(0.88) }],
      [1, { toxic: acc(0.2), wiki: acc(0.86) }],
      [1.5, { toxic: acc(0.1), wiki: acc(0.85) }],
    ],
    chosen: 2,
    admissible: [true, true, true, false],
    reason: /lowest mean target accuracy \(0\.2\) among the 3 of 4 points that keep every control at >= 95% of the base's accuracy/,
  },
  {
    name: 'forget: no point qualifies, the closest one is chosen',
    objective: 'forget',
    tasks: [target('toxic'), control('wiki')],
    references: { base: { toxic: 0.8, wiki: 1 }, finetuned: {} },
    points: [
      [0.5, { toxic: acc(0.3), wiki: acc(0.8) }],
      [1, { toxic: acc(0.1), wiki: acc(0.9) }],
    ],
    chosen: 1,
    admissible: [false, false],
    reason: /no point keeps every control at >= 95% of the base's accuracy; chose the closest one \(worst control 'wiki' at 90% of the base\)/,
  },
  {
    name: 'forget with a loss metric: highest target loss, control loss at most base / 0.95',
    objective: 'forget',
    tasks: [target('toxic', 'loss'), control('wiki', 'loss')],
    references: { base: { toxic: 1, wiki: 2 }, finetuned: {} },
    points: [
      [0.5, { toxic: loss(2), wiki: loss(2.1) }],
      [1, { toxic: loss(3), wiki: loss(2.2) }],
    ],
    chosen: 0,
    admissible: [true, false],
    reason: /highest mean target loss \(2\) among the 1 of 2 points that keep every control at >= 95% of the base's loss/,
  },
  {
    name: 'add: highest mean normalized accuracy',
    objective: 'add',
    tasks: [target('a'), target('b')],
    references: { base: {}, finetuned: { a: 0.9, b: 0.5 } },
    points: [
      // normalized means: (0.9/0.9 + 0.2/0.5)/2 = 0.7; (0.6/0.9 + 0.45/0.5)/2 = 0.7833; (0.45/0.9 + 0.5/0.5)/2 = 0.75
      [0.2, { a: acc(0.9), b: acc(0.2) }],
      [0.4, { a: acc(0.6), b: acc(0.45) }],
      [0.6, { a: acc(0.45), b: acc(0.5) }],
    ],
    chosen: 1,
    reason: /highest mean normalized accuracy over the targets \(0\.7833\) among 3 points/,
  },
  {
    name: 'max: highest mean target accuracy (not normalized: here it differs from add)',
    objective: 'max',
    tasks: [target('a'), target('b')],
    references: { base: {}, finetuned: { a: 0.9, b: 0.5 } },
    points: [
      [0.2, { a: acc(0.9), b: acc(0.2) }],
      [0.4, { a: acc(0.6), b: acc(0.45) }],
      [0.6, { a: acc(0.45), b: acc(0.5) }],
    ],
    chosen: 0,
    reason: /highest mean target accuracy \(0\.55\) among 3 points/,
  },
  {
    name: 'max with loss: lowest loss wins',
    objective: 'max',
    tasks: [target('lm', 'loss')],
    references: { base: {}, finetuned: {} },
    points: [[0, { lm: loss(3) }], [0.5, { lm: loss(2.5) }], [1, { lm: loss(2.7) }]],
    chosen: 1,
    reason: /lowest mean target loss \(2\.5\) among 3 points/,
  },
  {
    name: 'ties go to the smallest coefficient',
    objective: 'add',
    tasks: [target('a')],
    references: { base: {}, finetuned: { a: 0.5 } },
    points: [[0, { a: acc(0.25) }], [0.5, { a: acc(0.5) }], [1, { a: acc(0.5) }]],
    chosen: 1,
    reason: /among 3 points/,
  },
];

describe('objectives', () => {
  for (const c of cases) {
    it(c.name, () => {
      const candidates = c.points.map(([lam, metrics]) => {
        const scored = scorePoint(c.objective, c.tasks, c.references, metrics);
        const controlsVsBase = Object.fromEntries(c.tasks.filter((t) => t.role === 'control').map((t) => [t.name, normalize(metrics[t.name]![t.metric], c.references.base[t.name], t.higherIsBetter)!]));
        return { point: { lam }, scored, controlsVsBase };
      });
      const choice = choosePoint(c.objective, c.tasks, candidates);
      assert.equal(c.points[choice.index]![0], c.points[c.chosen]![0]);
      assert.match(choice.reason, c.reason);
      if (c.admissible) assert.deepEqual(candidates.map((x) => x.scored.admissible), c.admissible);
    });
  }

  it('normalizes accuracy as edited / fine-tuned and losses as fine-tuned / edited', () => {
    assert.equal(normalize(0.45, 0.9, true), 0.5);
    assert.equal(normalize(4, 2, false), 0.5);
    assert.equal(normalize(undefined, 2, true), undefined);
    assert.equal(normalize(0.5, 0, true), undefined);
  });

  it('a model without sweeps is evaluated as written', () => {
    const scored = scorePoint('add', [target('a')], { base: {}, finetuned: { a: 1 } }, { a: acc(0.5) });
    assert.deepEqual(choosePoint('add', [target('a')], [{ point: {}, scored }]), { index: 0, reason: 'no sweep: the model is evaluated as written' });
  });
});
