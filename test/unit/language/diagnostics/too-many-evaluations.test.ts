// The message of too-many-evaluations, from the counts the checker makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sweepPointsNote, tooManyEvaluationsMessage } from '../../../../server/src/language/diagnostics/too-many-evaluations.ts';

test('one evaluate(...) over the limit names its count and how to raise the limit; several name the total; past the ceiling, the ceiling', () => {
  const one = { count: 10_206, total: 10_206, points: 10_201, tasks: 1, limit: 10_000, ceiling: 100_000 };
  assert.equal(tooManyEvaluationsMessage(one),
    "this evaluate(...) runs up to 10,206 evaluations (10,201 sweep points x 1 task on the validation split, plus the chosen points' tests and the references), more than the limit of 10,000. " +
    'Use fewer sweep points (a coarser step, or fewer sweeps per model), or raise the limit with max_evaluations=10206 if the run is meant to take that long');
  assert.match(tooManyEvaluationsMessage({ ...one, total: 10_300, tasks: 2 }), /^the evaluate\(\.\.\.\) statements up to this one run up to 10,300 evaluations, .*; this one runs up to 10,206 \(10,201 sweep points x 2 tasks/);
  assert.match(tooManyEvaluationsMessage({ ...one, total: 200_000 }), /\(max_evaluations= allows at most 100,000\)$/);
  assert.equal(sweepPointsNote('lam', 1), 'sweep lam: 1 point');
});
