// too-many-evaluations: a run whose evaluations exceed the limit. The checker counts them
// per evaluate(...); the message is written here.
import { formatExactCount } from '../limits.ts';

export interface EvaluationLimitFacts {
  /** Evaluations of this evaluate(...), and of all of them up to this one. */
  readonly count: number;
  readonly total: number;
  /** This evaluate(...)'s sweep points (over all its models) and tasks. */
  readonly points: number;
  readonly tasks: number;
  /** The limit in force, and the most max_evaluations= may raise it to. */
  readonly limit: number;
  readonly ceiling: number;
}

function plural(n: number, word: string): string {
  return `${formatExactCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

export function tooManyEvaluationsMessage(facts: EvaluationLimitFacts): string {
  const { count, total, limit } = facts;
  const breakdown = `${plural(facts.points, 'sweep point')} x ${plural(facts.tasks, 'task')} on the validation split, plus the chosen points' tests and the references`;
  const what = total === count
    ? `this evaluate(...) runs up to ${formatExactCount(count)} evaluations (${breakdown}), more than the limit of ${formatExactCount(limit)}`
    : `the evaluate(...) statements up to this one run up to ${formatExactCount(total)} evaluations, more than the limit of ${formatExactCount(limit)}; this one runs up to ${formatExactCount(count)} (${breakdown})`;
  const raise = total <= facts.ceiling
    ? `, or raise the limit with max_evaluations=${total} if the run is meant to take that long`
    : ` (max_evaluations= allows at most ${formatExactCount(facts.ceiling)})`;
  return `${what}. Use fewer sweep points (a coarser step, or fewer sweeps per model)${raise}`;
}

/** The related note on one of the sweeps that make the grid large. */
export function sweepPointsNote(sweep: string, points: number): string {
  return `sweep ${sweep}: ${plural(points, 'point')}`;
}
