// Accuracy and cross-entropy of a classifier's outputs, accumulated batch by batch in
// float64. Outputs are rows of `classes` values (the last axis of the network's output);
// each row has one integer label. Labels below zero are padding and are not scored
// (the usual -100 of token-level language-model data). `Metrics` is what an evaluation
// reports for one model on one task and split (the results file carries it as it is).

export type MetricName = 'accuracy' | 'loss' | 'perplexity';

/** Metrics of one model on one task and split. */
export interface Metrics {
  readonly accuracy?: number;
  readonly loss?: number;
  readonly perplexity?: number;
  /** Examples evaluated. */
  readonly examples: number;
  /** Seconds the evaluation took (0 when it came from the cache). */
  readonly seconds: number;
  readonly cached?: boolean;
}

/** How the network's last layer presents its outputs. */
export type OutputActivation =
  /** Unnormalised scores: softmax over the row (or the sigmoid of a single unit) gives probabilities. */
  | 'logits'
  /** Probabilities over the row (a softmax last layer). */
  | 'softmax'
  /** The probability of class 1 from a single sigmoid unit. */
  | 'sigmoid';

/** Probabilities are clamped to [EPSILON, 1 - EPSILON] before the log, as Keras's cross-entropy does. */
export const PROBABILITY_EPSILON = 1e-7;

export interface MetricTotals {
  correct: number;
  lossSum: number;
  /** Labels scored (padding excluded). */
  scored: number;
}

export function emptyTotals(): MetricTotals {
  return { correct: 0, lossSum: 0, scored: 0 };
}

/**
 * Adds `labels.length` rows of `outputs` (row-major, `classes` per row) to `totals`.
 * `classes` = 1 is a binary classifier (labels 0 or 1); otherwise labels are class indices.
 * Throws RangeError naming the row when a label is out of range.
 */
export function accumulate(totals: MetricTotals, outputs: Float32Array, classes: number, labels: Int32Array, activation: OutputActivation): void {
  if (outputs.length !== labels.length * classes) {
    throw new RangeError(`${outputs.length} outputs do not make ${labels.length} rows of ${classes}`);
  }
  if (classes === 1) {
    accumulateBinary(totals, outputs, labels, activation);
    return;
  }
  if (activation === 'sigmoid') throw new RangeError(`a sigmoid output of ${classes} units is multi-label; the built-in evaluator scores one label per row`);
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row]!;
    if (label < 0) continue;
    if (label >= classes) throw new RangeError(`label ${label} at row ${row} is outside the ${classes} classes of the output`);
    const at = row * classes;
    let best = 0;
    let max = outputs[at]!;
    for (let c = 1; c < classes; c++) {
      const v = outputs[at + c]!;
      if (v > max) { max = v; best = c; }
    }
    if (best === label) totals.correct++;
    if (activation === 'softmax') {
      totals.lossSum -= Math.log(clampProbability(outputs[at + label]!));
    } else {
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(outputs[at + c]! - max);
      totals.lossSum += max + Math.log(sum) - outputs[at + label]!;
    }
    totals.scored++;
  }
}

function accumulateBinary(totals: MetricTotals, outputs: Float32Array, labels: Int32Array, activation: OutputActivation): void {
  if (activation === 'softmax') throw new RangeError('a softmax over one unit is always 1: use a sigmoid or a linear last layer for a binary classifier');
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row]!;
    if (label < 0) continue;
    if (label > 1) throw new RangeError(`label ${label} at row ${row}: a single-unit (binary) output needs labels 0 or 1`);
    const z = outputs[row]!;
    if (activation === 'sigmoid') {
      const p = clampProbability(z);
      if ((z >= 0.5 ? 1 : 0) === label) totals.correct++;
      totals.lossSum -= label === 1 ? Math.log(p) : Math.log(1 - p);
    } else {
      if ((z >= 0 ? 1 : 0) === label) totals.correct++;
      // -log sigmoid(+-z), stably: softplus(z) - label * z.
      totals.lossSum += Math.max(z, 0) - label * z + Math.log1p(Math.exp(-Math.abs(z)));
    }
    totals.scored++;
  }
}

function clampProbability(p: number): number {
  return Math.min(1 - PROBABILITY_EPSILON, Math.max(PROBABILITY_EPSILON, p));
}

export interface ClassifierMetrics {
  readonly accuracy: number;
  readonly loss: number;
  readonly perplexity: number;
  readonly scored: number;
}

export function finish(totals: MetricTotals): ClassifierMetrics {
  if (totals.scored === 0) throw new RangeError('no labelled rows to score (every label is padding)');
  const loss = totals.lossSum / totals.scored;
  return { accuracy: totals.correct / totals.scored, loss, perplexity: Math.exp(loss), scored: totals.scored };
}
