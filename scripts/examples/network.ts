// The example network: a shared MLP encoder (`encoder_1`, `encoder_2`, ReLU) and a
// per-task `head` (softmax). Training runs in a *centered* parametrization: each
// layer sees its input minus a fixed mean (of the pre-training images, then of the
// base encoder's activations). Saved checkpoints are plain Dense layers: the means
// are folded into the biases (b = b' - mu.W), which is linear, so task vectors and
// any arithmetic on them are the same in either form. Why centre: with non-negative
// inputs (pixels, ReLU outputs), a weight update learnt on one task shifts the
// activations of every other input too; centred, tasks interfere far less (measured,
// see docs/examples-data.md).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers the gradients tfjs-core's optimizers need
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRng, permutation } from './random.ts';
import type { Rng } from './random.ts';
import { IMAGE_SIZE } from './sources.ts';
import type { ImageSet } from './sources.ts';

export const HIDDEN_UNITS = [256, 256] as const;
export const ENCODER_LAYERS = HIDDEN_UNITS.map((_, i) => `encoder_${i + 1}`);
export const HEAD_LAYER = 'head';

/** One Dense layer: kernel `[in, out]` row-major, bias `[out]`. */
export interface Dense {
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly inputs: number;
  readonly outputs: number;
}

/** Weights in the saved (plain Dense) form. */
export interface Network {
  readonly encoder: readonly Dense[];
  readonly head?: Dense;
}

/** Uses the WebAssembly backend (SIMD, one thread): about 20x the plain JS one. */
export async function useWasmBackend(): Promise<void> {
  const require = createRequire(import.meta.url);
  setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('the TensorFlow.js wasm backend failed to initialise');
  await tf.ready();
}

function glorotUniform(inputs: number, outputs: number, rng: Rng): Dense {
  const limit = Math.sqrt(6 / (inputs + outputs));
  const kernel = new Float32Array(inputs * outputs);
  for (let i = 0; i < kernel.length; i++) kernel[i] = (rng() * 2 - 1) * limit;
  return { kernel, bias: new Float32Array(outputs), inputs, outputs };
}

/** A freshly initialised encoder (Glorot uniform kernels, zero biases). */
export function initialEncoder(seed: number): Dense[] {
  const rng = createRng(seed);
  const layers: Dense[] = [];
  let inputs = IMAGE_SIZE;
  for (const units of HIDDEN_UNITS) {
    layers.push(glorotUniform(inputs, units, rng));
    inputs = units;
  }
  return layers;
}

export function initialDense(inputs: number, outputs: number, seed: number): Dense {
  return glorotUniform(inputs, outputs, createRng(seed));
}

/** `mu . W` for a kernel `[in, out]`, accumulated in float64. */
function meanTimesKernel(layer: Dense, mean: Float32Array): Float64Array {
  const out = new Float64Array(layer.outputs);
  for (let i = 0; i < layer.inputs; i++) {
    const m = mean[i]!;
    if (m === 0) continue;
    for (let o = 0; o < layer.outputs; o++) out[o]! += m * layer.kernel[i * layer.outputs + o]!;
  }
  return out;
}

/** Moves a layer between the plain form (x.W + b) and the centered one ((x - mu).W + b'). */
export function shiftBias(layer: Dense, mean: Float32Array, direction: 'to-centered' | 'to-plain'): Dense {
  const shift = meanTimesKernel(layer, mean);
  const sign = direction === 'to-centered' ? 1 : -1;
  return { ...layer, bias: layer.bias.map((b, o) => b + sign * shift[o]!) };
}

/** Row-major float inputs in [0, 1] for the given rows, minus the input mean. */
function batchInputs(set: ImageSet, rows: ArrayLike<number>, mean: Float32Array): Float32Array {
  const out = new Float32Array(rows.length * IMAGE_SIZE);
  for (let i = 0; i < rows.length; i++) {
    const offset = rows[i]! * IMAGE_SIZE;
    for (let j = 0; j < IMAGE_SIZE; j++) out[i * IMAGE_SIZE + j] = set.images[offset + j]! / 255 - mean[j]!;
  }
  return out;
}

/** The fixed means each layer's input is centred by: one per encoder layer, plus the head's. */
export type Centers = readonly Float32Array[];

/** Forward pass of centred layers; `x` is already centred by `centers[0]`. */
function encode(layers: readonly { kernel: tf.Tensor2D; bias: tf.Tensor1D }[], centers: readonly tf.Tensor1D[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x;
  layers.forEach((layer, l) => {
    const input = l === 0 ? h : tf.sub(h, centers[l]!);
    h = tf.relu(tf.add(tf.matMul(input, layer.kernel), layer.bias)) as tf.Tensor2D;
  });
  return h;
}

function asTensors(layer: Dense, trainable: boolean) {
  const kernel = tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs]);
  const bias = tf.tensor1d(layer.bias);
  if (!trainable) return { kernel, bias };
  return { kernel: tf.variable(kernel) as tf.Variable<tf.Rank.R2>, bias: tf.variable(bias) as tf.Variable<tf.Rank.R1> };
}

export interface TrainOptions {
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly optimizer: 'adam' | 'sgd-momentum';
  readonly learningRate: number;
  /** Called after every step, for progress bars. */
  readonly onStep?: () => void;
}

export type Objective =
  | { readonly kind: 'reconstruct' } // sigmoid cross-entropy of the input pixels
  | { readonly kind: 'classify'; readonly classes: number };

/**
 * Trains centred layers on `set`: the encoder and, when `trainTop`, the top layer
 * (a decoder or head). Returns the layers in the same centred form. Deterministic:
 * batches come from a seeded permutation, and the wasm backend runs one thread.
 */
export async function trainCentered(
  set: ImageSet,
  encoder: readonly Dense[],
  top: Dense,
  centers: Centers,
  objective: Objective,
  trainTop: boolean,
  options: TrainOptions,
): Promise<{ encoder: Dense[]; top: Dense }> {
  const encoderVars = encoder.map((layer) => asTensors(layer, true));
  const topVars = asTensors(top, trainTop);
  const centerTensors = centers.map((c) => tf.tensor1d(c));
  const trainable = [...encoderVars, ...(trainTop ? [topVars] : [])].flatMap((v) => [v.kernel, v.bias]) as tf.Variable[];
  const optimizer = options.optimizer === 'adam' ? tf.train.adam(options.learningRate) : tf.train.momentum(options.learningRate, 0.9);
  const rng = createRng(options.seed);
  let order = permutation(set.count, rng);
  let position = 0;
  try {
    for (let step = 0; step < options.steps; step++) {
      if (position + options.batchSize > set.count) {
        order = permutation(set.count, rng);
        position = 0;
      }
      const rows = order.subarray(position, position + options.batchSize);
      position += options.batchSize;
      const x = tf.tensor2d(batchInputs(set, rows, centers[0]!), [rows.length, IMAGE_SIZE]);
      const target = objective.kind === 'classify'
        ? tf.oneHot(tf.tensor1d(Array.from(rows, (r) => set.labels[r]!), 'int32'), objective.classes)
        : tf.tensor2d(batchInputs(set, rows, new Float32Array(IMAGE_SIZE)), [rows.length, IMAGE_SIZE]);
      const cost = optimizer.minimize(() => {
        const features = tf.sub(encode(encoderVars, centerTensors, x), centerTensors[encoder.length]!);
        const logits = tf.add(tf.matMul(features, topVars.kernel), topVars.bias);
        return (objective.kind === 'classify'
          ? tf.losses.softmaxCrossEntropy(target, logits)
          : tf.losses.sigmoidCrossEntropy(target, logits)) as tf.Scalar;
      }, true, trainable);
      cost?.dispose();
      x.dispose();
      target.dispose();
      options.onStep?.();
    }
    const read = (v: { kernel: tf.Tensor; bias: tf.Tensor }, like: Dense): Dense => ({
      ...like, kernel: v.kernel.dataSync().slice() as Float32Array, bias: v.bias.dataSync().slice() as Float32Array,
    });
    return { encoder: encoderVars.map((v, i) => read(v, encoder[i]!)), top: trainTop ? read(topVars, top) : top };
  } finally {
    optimizer.dispose();
    for (const v of [...encoderVars, topVars]) tf.dispose([v.kernel, v.bias]);
    tf.dispose(centerTensors);
  }
}

/**
 * Final-layer features of `set` under a centred encoder, minus `centers[last]`
 * (pass a zero vector there to get the raw activations), row-major `[count, units]`.
 */
export function centeredFeatures(set: ImageSet, encoder: readonly Dense[], centers: Centers): Float32Array {
  const units = encoder[encoder.length - 1]!.outputs;
  const out = new Float32Array(set.count * units);
  const layers = encoder.map((layer) => asTensors(layer, false));
  const centerTensors = centers.map((c) => tf.tensor1d(c));
  const chunk = 1000;
  try {
    for (let start = 0; start < set.count; start += chunk) {
      const rows = Int32Array.from({ length: Math.min(chunk, set.count - start) }, (_, i) => start + i);
      const values = tf.tidy(() => {
        const x = tf.tensor2d(batchInputs(set, rows, centers[0]!), [rows.length, IMAGE_SIZE]);
        return tf.sub(encode(layers, centerTensors, x), centerTensors[encoder.length]!);
      });
      out.set(values.dataSync(), start * units);
      values.dispose();
    }
  } finally {
    for (const l of layers) tf.dispose([l.kernel, l.bias]);
    tf.dispose(centerTensors);
  }
  return out;
}

function columnMeans(values: Float32Array, columns: number): Float32Array {
  const rows = values.length / columns;
  const sums = new Float64Array(columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) sums[c]! += values[r * columns + c]!;
  return Float32Array.from(sums, (s) => s / rows);
}

/** The mean image of `set`, per pixel, in [0, 1]. */
export function pixelMeans(set: ImageSet): Float32Array {
  const sums = new Float64Array(IMAGE_SIZE);
  for (let i = 0; i < set.images.length; i++) sums[i % IMAGE_SIZE]! += set.images[i]!;
  return Float32Array.from(sums, (s) => s / 255 / set.count);
}

/**
 * The centres for a plain-form encoder: the pixel mean of the pre-training images,
 * then the mean activation of each layer over those images.
 */
export function centersFor(encoder: readonly Dense[], pool: ImageSet): Float32Array[] {
  const centers = [pixelMeans(pool)];
  for (let l = 1; l <= encoder.length; l++) {
    const prefix = toCentered(encoder.slice(0, l), centers);
    const zero = new Float32Array(encoder[l - 1]!.outputs);
    centers.push(columnMeans(centeredFeatures(pool, prefix, [...centers, zero]), encoder[l - 1]!.outputs));
  }
  return centers;
}

export function toCentered(encoder: readonly Dense[], centers: Centers): Dense[] {
  return encoder.map((layer, l) => shiftBias(layer, centers[l]!, 'to-centered'));
}

export function toPlain(encoder: readonly Dense[], centers: Centers): Dense[] {
  return encoder.map((layer, l) => shiftBias(layer, centers[l]!, 'to-plain'));
}

/**
 * The "zero-shot" head of a task: for each class, the direction of the mean centred
 * feature of its training images (unit length), no bias. It needs no training, like
 * CLIP's heads built from class names, and leaves fine-tuning much to gain.
 */
export function classMeanHead(features: Float32Array, labels: Int32Array, classes: number): Dense {
  const units = features.length / labels.length;
  const sums = Array.from({ length: classes }, () => new Float64Array(units));
  labels.forEach((label, row) => {
    const sum = sums[label]!;
    for (let j = 0; j < units; j++) sum[j]! += features[row * units + j]!;
  });
  const kernel = new Float32Array(units * classes);
  sums.forEach((sum, c) => {
    const norm = Math.hypot(...sum) || 1;
    for (let j = 0; j < units; j++) kernel[j * classes + c] = sum[j]! / norm;
  });
  return { kernel, bias: new Float32Array(classes), inputs: units, outputs: classes };
}

/** The tfjs-layers topology (model.json's `modelTopology`) of an encoder, with or without a head. */
export function modelTopology(classes: number | undefined): unknown {
  const layers: tfl.layers.Layer[] = HIDDEN_UNITS.map((units, i) => tfl.layers.dense({
    name: ENCODER_LAYERS[i]!, units, activation: 'relu', ...(i === 0 ? { inputShape: [IMAGE_SIZE] } : {}),
  }));
  if (classes !== undefined) layers.push(tfl.layers.dense({ name: HEAD_LAYER, units: classes, activation: 'softmax' }));
  const model = tfl.sequential({ name: classes === undefined ? 'tvr_example_encoder' : 'tvr_example_classifier', layers });
  const topology = model.toJSON(null, false);
  model.dispose();
  return topology;
}

/** Tensors in storage order, named as tfjs-layers names them (`<layer>/kernel`, `<layer>/bias`). */
export function namedTensors(network: Network): { name: string; shape: number[]; values: Float32Array }[] {
  const named = network.encoder.map((layer, i) => [ENCODER_LAYERS[i]!, layer] as const);
  if (network.head) named.push([HEAD_LAYER, network.head]);
  return named.flatMap(([name, layer]) => [
    { name: `${name}/kernel`, shape: [layer.inputs, layer.outputs], values: layer.kernel },
    { name: `${name}/bias`, shape: [layer.outputs], values: layer.bias },
  ]);
}

/** Class predictions of a plain-form network (encoder + head) for every image of `set`. */
export function predict(network: Required<Network>, set: ImageSet): Int32Array {
  const zeroCenters = [new Float32Array(IMAGE_SIZE), ...network.encoder.map((l) => new Float32Array(l.outputs))];
  const features = centeredFeatures(set, network.encoder, zeroCenters);
  const units = network.head.inputs;
  const classes = network.head.outputs;
  const out = new Int32Array(set.count);
  for (let row = 0; row < set.count; row++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let score = network.head.bias[c]!;
      for (let j = 0; j < units; j++) score += features[row * units + j]! * network.head.kernel[j * classes + c]!;
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    out[row] = best;
  }
  return out;
}

export function accuracy(network: Required<Network>, set: ImageSet): number {
  const predictions = predict(network, set);
  let correct = 0;
  predictions.forEach((p, i) => { if (p === set.labels[i]) correct++; });
  return correct / set.count;
}
