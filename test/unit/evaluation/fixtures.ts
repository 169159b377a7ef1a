// Small TensorFlow.js MLPs with chosen weights, evaluation data files, and an independent
// float64 forward pass and metrics, so evaluation results can be checked against values
// computed here rather than by tvr. Layout: `dense1` (the shared encoder, relu) and
// `dense2` (the task head, logits or softmax), as the project's example models.
import { writeFileSync } from 'node:fs';
import { mlpTopology, seededRandom, safetensorsBytes, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel, FixtureTensor } from '../../helpers/checkpoint-fixtures.ts';

export interface Mlp {
  /** [inputs][hidden] */
  readonly w1: readonly (readonly number[])[];
  readonly b1: readonly number[];
  /** [hidden][classes] */
  readonly w2: readonly (readonly number[])[];
  readonly b2: readonly number[];
}

/** Rounds every weight to float32, as the files store them. */
export function asFloat32(m: Mlp): Mlp {
  const f = (row: readonly number[]) => row.map((v) => Math.fround(v));
  return { w1: m.w1.map(f), b1: f(m.b1), w2: m.w2.map(f), b2: f(m.b2) };
}

export function randomMlp(seed: number, inputs: number, hidden: number, classes: number, scale = 1): Mlp {
  const r = seededRandom(seed);
  const matrix = (rows: number, cols: number) => Array.from({ length: rows }, () => Array.from({ length: cols }, () => (2 * r() - 1) * scale));
  return asFloat32({ w1: matrix(inputs, hidden), b1: matrix(1, hidden)[0]!, w2: matrix(hidden, classes), b2: matrix(1, classes)[0]! });
}

export function withEncoder(m: Mlp, encoder: Pick<Mlp, 'w1' | 'b1'>): Mlp {
  return { ...m, w1: encoder.w1, b1: encoder.b1 };
}

/** base + sum_i c_i * (other_i - base) on the encoder, in float64 then rounded to float32 (as the engine computes). */
export function editEncoder(base: Mlp, terms: readonly (readonly [number, Mlp])[]): Pick<Mlp, 'w1' | 'b1'> {
  const w1 = base.w1.map((row, i) => row.map((v, j) => Math.fround(v + terms.reduce((s, [c, m]) => s + c * (m.w1[i]![j]! - v), 0))));
  const b1 = base.b1.map((v, j) => Math.fround(v + terms.reduce((s, [c, m]) => s + c * (m.b1[j]! - v), 0)));
  return { w1, b1 };
}

export function logits(m: Mlp, x: readonly number[]): number[] {
  const hidden = m.b1.map((b, j) => Math.max(0, b + x.reduce((s, xi, i) => s + xi * m.w1[i]![j]!, 0)));
  return m.b2.map((b, k) => b + hidden.reduce((s, h, j) => s + h * m.w2[j]![k]!, 0));
}

export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Accuracy and mean cross-entropy of logits, in float64. */
export function referenceMetrics(m: Mlp, xs: readonly (readonly number[])[], ys: readonly number[]): { accuracy: number; loss: number } {
  let correct = 0;
  let loss = 0;
  xs.forEach((x, n) => {
    const z = logits(m, x);
    const max = Math.max(...z);
    loss += max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0)) - z[ys[n]!]!;
    if (argmax(z) === ys[n]) correct++;
  });
  return { accuracy: correct / xs.length, loss: loss / xs.length };
}

/** Top-two logit gap: examples with a tiny gap could flip between float32 and float64. */
export function margin(m: Mlp, x: readonly number[]): number {
  const z = [...logits(m, x)].sort((a, b) => b - a);
  return z[0]! - z[1]!;
}

function tensor(name: string, shape: number[], values: readonly number[], dtype: FixtureTensor['dtype'] = 'F32'): FixtureTensor {
  return { name, dtype, shape, values: Float64Array.from(values) };
}

export function mlpFixture(m: Mlp): FixtureModel {
  const inputs = m.w1.length;
  const hidden = m.b1.length;
  const classes = m.b2.length;
  return {
    tensors: [
      tensor('dense1/kernel', [inputs, hidden], m.w1.flat()),
      tensor('dense1/bias', [hidden], m.b1),
      tensor('dense2/kernel', [hidden, classes], m.w2.flat()),
      tensor('dense2/bias', [classes], m.b2),
    ],
  };
}

/** Writes `m` as a tfjs LayersModel in `dir`; returns model.json's path. `softmax`: the last layer outputs probabilities. */
export function writeMlp(dir: string, m: Mlp, options: { readonly softmax?: boolean } = {}): string {
  const topology = mlpTopology([m.w1.length, m.b1.length, m.b2.length]) as { config: { layers: { config: { activation: string } }[] } };
  if (options.softmax) topology.config.layers[topology.config.layers.length - 1]!.config.activation = 'softmax';
  return writeTfjsModel(dir, mlpFixture(m), { topology: topology as unknown as Record<string, unknown> });
}

export interface SplitRows {
  readonly x: readonly (readonly number[])[];
  readonly y: readonly number[];
}

/**
 * Writes an evaluation data file. `u8Scale`: store x as U8 (x / scale must be integers
 * in 0..255) with metadata x_scale; otherwise F32 (values rounded to float32).
 */
export function writeData(path: string, splits: { readonly validation: SplitRows; readonly test: SplitRows }, options: { readonly u8Scale?: number; readonly labels?: 'I32' | 'I64' } = {}): string {
  const tensors: FixtureTensor[] = [];
  for (const split of ['validation', 'test'] as const) {
    const { x, y } = splits[split];
    const flat = x.flat();
    tensors.push(options.u8Scale === undefined
      ? tensor(`${split}/x`, [x.length, x[0]!.length], flat.map((v) => Math.fround(v)))
      : tensor(`${split}/x`, [x.length, x[0]!.length], flat.map((v) => Math.round(v / options.u8Scale!)), 'U8'));
    tensors.push(tensor(`${split}/y`, [y.length], y, options.labels ?? 'I32'));
  }
  writeFileSync(path, safetensorsBytes({ tensors }, options.u8Scale === undefined ? {} : { metadata: { x_scale: String(options.u8Scale) } }));
  return path;
}

/**
 * Random inputs in [-1, 1) (float32), labelled by `labeller`'s argmax (every `flipEvery`-th
 * label moved to the next class, so even the labeller errs), keeping only inputs that
 * every one of `models` classifies with a clear margin.
 */
export function labelledRows(seed: number, count: number, inputs: number, labeller: Mlp, models: readonly Mlp[], options: { readonly minMargin?: number; readonly flipEvery?: number } = {}): SplitRows {
  const minMargin = options.minMargin ?? 0.02;
  const r = seededRandom(seed);
  const x: number[][] = [];
  const y: number[] = [];
  while (x.length < count) {
    const row = Array.from({ length: inputs }, () => Math.fround(2 * r() - 1));
    if ([labeller, ...models].some((m) => margin(m, row) < minMargin)) continue;
    const label = argmax(logits(labeller, row));
    const flip = options.flipEvery !== undefined && x.length % options.flipEvery === 0;
    x.push(row);
    y.push(flip ? (label + 1) % labeller.b2.length : label);
  }
  return { x, y };
}
