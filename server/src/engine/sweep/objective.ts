// Choosing a sweep point on validation metrics (docs/evaluation.md):
// - forget: the lowest mean target metric (oriented: accuracy down, loss up) among the
//   points where every control keeps at least 95% of the base's control metric (the
//   task arithmetic paper's rule); when none qualifies, the point closest to it.
// - add: the highest mean normalized metric over the targets (edited / fine-tuned).
// - max: the highest mean target metric.
// Scores are oriented so that higher is better for every objective.
import type { MetricName, Metrics } from '../evaluation/metrics.ts';

export type Objective = 'forget' | 'add' | 'max';

export type TaskRole = 'target' | 'control';

/** Sweep variable name -> value; empty for a recipe without sweeps. */
export type PointValues = Readonly<Record<string, number>>;

/** The fraction of the base's control metric a `forget` point must keep. */
export const CONTROL_RETENTION = 0.95;

export interface ObjectiveTask {
  readonly name: string;
  readonly role: TaskRole;
  readonly metric: MetricName;
  readonly higherIsBetter: boolean;
}

/** Metric values of the references on the split the points are scored on. */
export interface ObjectiveReferences {
  readonly finetuned: Readonly<Record<string, number | undefined>>;
  readonly base: Readonly<Record<string, number | undefined>>;
}

export interface ScoredPoint {
  readonly score: number;
  readonly admissible: boolean;
  /** Task name -> metric relative to the fine-tuned reference (1 = as good). */
  readonly normalized: Readonly<Record<string, number>>;
  /** How far the worst control is from the 95% rule, as a fraction of the base (0 when admissible). */
  readonly shortfall: number;
}

export function higherIsBetter(metric: MetricName): boolean {
  return metric === 'accuracy';
}

export function metricValue(metrics: Metrics | undefined, metric: MetricName): number | undefined {
  return metrics?.[metric];
}

/**
 * The metric relative to the fine-tuned model's: edited / fine-tuned for accuracy,
 * fine-tuned / edited for loss and perplexity, so that 1 means "as good" and higher is
 * better either way. Undefined when a value is missing or the ratio is not finite.
 */
export function normalize(value: number | undefined, finetuned: number | undefined, higher: boolean): number | undefined {
  if (value === undefined || finetuned === undefined) return undefined;
  const ratio = higher ? value / finetuned : finetuned / value;
  return Number.isFinite(ratio) ? ratio : undefined;
}

function oriented(value: number, higher: boolean): number {
  return higher ? value : -value;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function scorePoint(objective: Objective, tasks: readonly ObjectiveTask[], references: ObjectiveReferences, metrics: Readonly<Record<string, Metrics>>): ScoredPoint {
  const normalized: Record<string, number> = {};
  for (const t of tasks) {
    const n = normalize(metricValue(metrics[t.name], t.metric), references.finetuned[t.name], t.higherIsBetter);
    if (n !== undefined) normalized[t.name] = n;
  }
  const targets = tasks.filter((t) => t.role === 'target');
  const targetValues = targets.map((t) => {
    const v = metricValue(metrics[t.name], t.metric);
    if (v === undefined) throw new RangeError(`no ${t.metric} for target task '${t.name}'`);
    return oriented(v, t.higherIsBetter);
  });
  let score: number;
  let shortfall = 0;
  switch (objective) {
    case 'add': {
      const ratios = targets.map((t) => normalized[t.name]).filter((n): n is number => n !== undefined);
      score = ratios.length === targets.length ? mean(ratios) : mean(targetValues);
      break;
    }
    case 'max':
      score = mean(targetValues);
      break;
    case 'forget': {
      score = -mean(targetValues);
      for (const c of tasks.filter((t) => t.role === 'control')) {
        const base = references.base[c.name];
        const value = metricValue(metrics[c.name], c.metric);
        if (base === undefined || value === undefined || base === 0) continue;
        const required = c.higherIsBetter ? CONTROL_RETENTION * base : base / CONTROL_RETENTION;
        const missing = c.higherIsBetter ? (required - value) / Math.abs(base) : (value - required) / Math.abs(required);
        shortfall = Math.max(shortfall, missing);
      }
      break;
    }
  }
  return { score, admissible: shortfall <= 0, normalized, shortfall: Math.max(0, shortfall) };
}

export interface Candidate {
  readonly point: PointValues;
  readonly scored: ScoredPoint;
  /** Control metrics relative to the base (for the reason), task -> fraction. */
  readonly controlsVsBase?: Readonly<Record<string, number>>;
}

export interface Choice {
  readonly index: number;
  readonly reason: string;
}

/** One sentence for the results: what the objective chooses. */
export function describeObjective(objective: Objective, tasks: readonly ObjectiveTask[]): string {
  const { metric, best, worst } = words(tasks);
  switch (objective) {
    case 'forget': return `${worst} mean target ${metric} keeping every control at >= ${CONTROL_RETENTION * 100}% of the base's`;
    case 'add': return `highest mean normalized ${metric} over the targets (edited / fine-tuned)`;
    case 'max': return `${best} mean target ${metric}`;
  }
}

/** The targets' metric name, and which end of it is best ("highest accuracy", "lowest loss"). */
function words(tasks: readonly ObjectiveTask[]): { metric: string; best: string; worst: string } {
  const targets = tasks.filter((t) => t.role === 'target');
  const names = [...new Set(targets.map((t) => t.metric))];
  const metric = names.length === 1 ? names[0]! : 'metric';
  if (targets.every((t) => t.higherIsBetter)) return { metric, best: 'highest', worst: 'lowest' };
  if (targets.every((t) => !t.higherIsBetter)) return { metric, best: 'lowest', worst: 'highest' };
  return { metric, best: 'best', worst: 'worst' };
}

/**
 * The best candidate for the objective; ties go to the earlier candidate (give them in
 * sweep order, so ties choose the smallest coefficients).
 */
export function choosePoint(objective: Objective, tasks: readonly ObjectiveTask[], candidates: readonly Candidate[]): Choice {
  if (candidates.length === 0) throw new RangeError('no points to choose from');
  const { metric, best: bestWord, worst: worstWord } = words(tasks);
  if (candidates.length === 1 && Object.keys(candidates[0]!.point).length === 0) {
    return { index: 0, reason: 'no sweep: the model is evaluated as written' };
  }
  const admissible = candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.scored.admissible);
  const total = candidates.length;
  if (admissible.length > 0) {
    const best = admissible.reduce((a, b) => (b.c.scored.score > a.c.scored.score ? b : a));
    const value = format(Math.abs(best.c.scored.score));
    switch (objective) {
      case 'forget': {
        const hasControls = tasks.some((t) => t.role === 'control');
        return {
          index: best.i,
          reason: hasControls
            ? `${worstWord} mean target ${metric} (${value}) among the ${admissible.length} of ${total} points that keep every control at >= ${CONTROL_RETENTION * 100}% of the base's ${controlWords(tasks)}`
            : `${worstWord} mean target ${metric} (${value}) among ${total} points (no control tasks constrain it)`,
        };
      }
      case 'add': return { index: best.i, reason: `highest mean normalized ${metric} over the targets (${value}) among ${total} points` };
      case 'max': return { index: best.i, reason: `${bestWord} mean target ${metric} (${value}) among ${total} points` };
    }
  }
  // Only `forget` has a constraint: take the point that misses it by the least.
  const closest = candidates.map((c, i) => ({ c, i })).reduce((a, b) => {
    if (b.c.scored.shortfall !== a.c.scored.shortfall) return b.c.scored.shortfall < a.c.scored.shortfall ? b : a;
    return b.c.scored.score > a.c.scored.score ? b : a;
  });
  const worst = Object.entries(closest.c.controlsVsBase ?? {}).sort((a, b) => a[1] - b[1])[0];
  const detail = worst ? ` (worst control '${worst[0]}' at ${format(worst[1] * 100)}% of the base)` : '';
  return {
    index: closest.i,
    reason: `no point keeps every control at >= ${CONTROL_RETENTION * 100}% of the base's ${controlWords(tasks)}; chose the closest one${detail}, with mean target ${metric} ${format(Math.abs(closest.c.scored.score))}`,
  };
}

function controlWords(tasks: readonly ObjectiveTask[]): string {
  const names = [...new Set(tasks.filter((t) => t.role === 'control').map((t) => t.metric))];
  return names.length === 1 ? names[0]! : 'metric';
}

function format(x: number): string {
  return String(Number(x.toPrecision(4)));
}
