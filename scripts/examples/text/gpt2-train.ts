// A compact GPT-2 (transformers' GPT2LMHeadModel) that TensorFlow.js can train: the same
// tensor names, layouts and arithmetic as the evaluator reads
// (server/src/engine/evaluation/transformers/gpt2.ts): Conv1D weights stored [in, out],
// pre-norm blocks, gelu_new, a final layer norm and the head tied to the token embedding.
// The wasm backend lacks kernels for some gradients and runs transposed products slowly,
// so the embedding's and the products' gradients are written out here. Training is
// deterministic: seeded initial weights and batches, one wasm thread.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients tfjs-core's optimizers need
import { createRng } from '../random.ts';
import type { Rng } from '../random.ts';

/** The sizes of a GPT-2, as config.json names them in comments. */
export interface Gpt2Shape {
  readonly vocab: number; // vocab_size
  readonly positions: number; // n_positions (the context)
  readonly hidden: number; // n_embd
  readonly layers: number; // n_layer
  readonly heads: number; // n_head
  readonly inner: number; // n_inner
}

/** Weights by the names transformers writes, row-major float32. */
export type Gpt2Weights = ReadonlyMap<string, Float32Array>;

const LAYER_NORM_EPSILON = 1e-5;

/** Every tensor of a tied GPT2LMHeadModel, in the order the safetensors file stores them. */
export function gpt2Tensors(s: Gpt2Shape): { readonly name: string; readonly shape: readonly number[] }[] {
  const h = s.hidden;
  const tensors = [
    { name: 'transformer.wte.weight', shape: [s.vocab, h] },
    { name: 'transformer.wpe.weight', shape: [s.positions, h] },
  ];
  for (let i = 0; i < s.layers; i++) {
    const p = `transformer.h.${i}`;
    tensors.push(
      { name: `${p}.ln_1.weight`, shape: [h] }, { name: `${p}.ln_1.bias`, shape: [h] },
      { name: `${p}.attn.c_attn.weight`, shape: [h, 3 * h] }, { name: `${p}.attn.c_attn.bias`, shape: [3 * h] },
      { name: `${p}.attn.c_proj.weight`, shape: [h, h] }, { name: `${p}.attn.c_proj.bias`, shape: [h] },
      { name: `${p}.ln_2.weight`, shape: [h] }, { name: `${p}.ln_2.bias`, shape: [h] },
      { name: `${p}.mlp.c_fc.weight`, shape: [h, s.inner] }, { name: `${p}.mlp.c_fc.bias`, shape: [s.inner] },
      { name: `${p}.mlp.c_proj.weight`, shape: [s.inner, h] }, { name: `${p}.mlp.c_proj.bias`, shape: [h] },
    );
  }
  tensors.push({ name: 'transformer.ln_f.weight', shape: [h] }, { name: 'transformer.ln_f.bias', shape: [h] });
  return tensors;
}

function normal(rng: Rng): number {
  // Box-Muller; 1 - u keeps the logarithm finite.
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * GPT-2's initialisation: normal(0, 0.02) matrices and embeddings, the residual
 * projections (c_proj) scaled by 1/sqrt(2 x layers), layer norms at identity, zero biases.
 */
export function initialGpt2(s: Gpt2Shape, seed: number): Map<string, Float32Array> {
  const rng = createRng(seed);
  const weights = new Map<string, Float32Array>();
  for (const { name, shape } of gpt2Tensors(s)) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/ln_(\d|f)\.weight$/.test(name)) values.fill(1);
    else if (!name.endsWith('.bias')) {
      const std = 0.02 / (name.endsWith('c_proj.weight') ? Math.sqrt(2 * s.layers) : 1);
      for (let i = 0; i < values.length; i++) values[i] = normal(rng) * std;
    }
    weights.set(name, values);
  }
  return weights;
}

type Lookup = (name: string) => tf.Tensor;

/** tf.customGrad's parameter type, which typed operands do not match. */
type CustomGradient = Parameters<typeof tf.customGrad>[0];

/** Swaps the last two axes. */
function transposeLast(t: tf.Tensor): tf.Tensor {
  const axes = t.shape.map((_, i) => i);
  axes.push(...axes.splice(-2).reverse());
  return tf.transpose(t, axes);
}

/**
 * a x b (rank 2, or batches of rank 4) with its gradients as plain products of explicitly
 * transposed operands: the wasm backend's matMul with a transposed operand, which the
 * built-in gradient uses, runs about 30 times slower than a transpose and a plain product.
 */
const matMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, [savedA, savedB]: tf.Tensor[]) => [tf.matMul(dy, transposeLast(savedB!)), tf.matMul(transposeLast(savedA!), dy)],
  };
}) as CustomGradient) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPSILON))), weight), bias);
}

function geluNew(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/** Float one-hot rows [ids.length, vocab], built here: the wasm backend's OneHot writes integer bits into a float tensor. */
function oneHot(ids: ArrayLike<number>, vocab: number): tf.Tensor2D {
  const values = new Float32Array(ids.length * vocab);
  for (let i = 0; i < ids.length; i++) values[i * vocab + ids[i]!] = 1;
  return tf.tensor2d(values, [ids.length, vocab]);
}

/**
 * Rows `ids` of the embedding `table` [vocab, hidden]. Gather's gradient needs a kernel
 * the wasm backend lacks (UnsortedSegmentSum), so the gradient, a sum of each token's
 * rows, is accumulated here in plain JavaScript: far cheaper than a one-hot product.
 */
function embed(table: tf.Tensor, ids: Int32Array): tf.Tensor2D {
  const lookup = tf.customGrad(((t: tf.Tensor) => ({
    value: tf.gather(t, tf.tensor1d(ids, 'int32')),
    gradFunc: (dy: tf.Tensor) => {
      const [vocab, hidden] = table.shape as [number, number];
      const rows = dy.dataSync();
      const sums = new Float32Array(vocab * hidden);
      for (let r = 0; r < ids.length; r++) {
        const into = ids[r]! * hidden;
        for (let j = 0; j < hidden; j++) sums[into + j]! += rows[r * hidden + j]!;
      }
      return tf.tensor2d(sums, [vocab, hidden]);
    },
  })) as CustomGradient) as (t: tf.Tensor) => tf.Tensor2D;
  return lookup(table);
}

/** Inputs and targets of one batch of sequences [batch, length]: position t predicts token t + 1. */
interface Batch {
  readonly batch: number;
  readonly length: number;
  /** Every token, row-major [batch x length]. */
  readonly ids: Int32Array;
  /** One-hot of the next token of positions 0 .. length-2 [batch x (length - 1), vocab]. */
  readonly next: tf.Tensor2D;
}

function toBatch(ids: Int32Array, batch: number, length: number, vocab: number): Batch {
  const next = new Int32Array(batch * (length - 1));
  for (let b = 0; b < batch; b++) next.set(ids.subarray(b * length + 1, (b + 1) * length), b * (length - 1));
  return { batch, length, ids, next: oneHot(next, vocab) };
}

/** Mean next-token cross-entropy of a batch. */
function languageModelLoss(w: Lookup, s: Gpt2Shape, input: Batch, mask: tf.Tensor): tf.Scalar {
  const { batch, length } = input;
  const h = s.hidden;
  const headSize = h / s.heads;
  const rows = batch * length;
  const tokens = embed(w('transformer.wte.weight'), input.ids);
  const positions = tf.slice(w('transformer.wpe.weight'), [0, 0], [length, h]);
  let x = tf.add(tf.reshape(tokens, [batch, length, h]), positions);
  const dense = (t: tf.Tensor, name: string): tf.Tensor => {
    const weight = w(`${name}.weight`);
    const y = tf.add(matMul(tf.reshape(t, [rows, weight.shape[0]!]), weight), w(`${name}.bias`));
    return tf.reshape(y, [batch, length, weight.shape[1]!]);
  };
  const heads = (t: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(t, [batch, length, s.heads, headSize]), [0, 2, 1, 3]);
  for (let i = 0; i < s.layers; i++) {
    const p = `transformer.h.${i}`;
    const qkv = dense(layerNorm(x, w(`${p}.ln_1.weight`), w(`${p}.ln_1.bias`)), `${p}.attn.c_attn`);
    const [q, k, v] = tf.split(qkv, 3, 2).map(heads);
    const scores = tf.add(tf.mul(matMul(q!, transposeLast(k!)), 1 / Math.sqrt(headSize)), mask);
    const attended = tf.reshape(tf.transpose(matMul(tf.softmax(scores, -1), v!), [0, 2, 1, 3]), [batch, length, h]);
    x = tf.add(x, dense(attended, `${p}.attn.c_proj`));
    const m = layerNorm(x, w(`${p}.ln_2.weight`), w(`${p}.ln_2.bias`));
    x = tf.add(x, dense(geluNew(dense(m, `${p}.mlp.c_fc`)), `${p}.mlp.c_proj`));
  }
  const final = layerNorm(x, w('transformer.ln_f.weight'), w('transformer.ln_f.bias'));
  // The last position has no next token: score positions 0 .. length-2.
  const predicting = tf.reshape(tf.slice(final, [0, 0, 0], [batch, length - 1, h]), [batch * (length - 1), h]);
  const logits = matMul(predicting, tf.transpose(w('transformer.wte.weight')));
  return tf.losses.softmaxCrossEntropy(input.next, logits) as tf.Scalar;
}

/** Additive causal mask [length, length]: 0 on and below the diagonal, -1e9 above. */
function causalMask(length: number): tf.Tensor {
  const values = new Float32Array(length * length);
  for (let r = 0; r < length; r++) for (let c = r + 1; c < length; c++) values[r * length + c] = -1e9;
  return tf.tensor2d(values, [length, length]);
}

export interface Gpt2TrainOptions {
  readonly steps: number;
  readonly batchSize: number;
  /** Peak learning rate of Adam, reached after `warmupSteps` and decayed linearly to a tenth. */
  readonly learningRate: number;
  readonly warmupSteps: number;
  /** Called after each step with the step's loss (read back every few steps only, it costs a sync). */
  readonly onStep?: (step: number, loss: number | undefined) => void;
}

/** Sequences of `positions` token ids for one step: [batchSize x positions], row-major. */
export type BatchSource = (batchSize: number) => Int32Array;

/** Trains every weight with Adam on batches from `nextBatch`; returns the trained weights. */
export function trainGpt2(start: Gpt2Weights, s: Gpt2Shape, nextBatch: BatchSource, options: Gpt2TrainOptions): Map<string, Float32Array> {
  const variables = new Map<string, tf.Variable>();
  for (const { name, shape } of gpt2Tensors(s)) variables.set(name, tf.variable(tf.tensor(start.get(name)!, [...shape]), true, name));
  const lookup: Lookup = (name) => variables.get(name)!;
  const mask = causalMask(s.positions);
  const learningRate = (step: number): number => {
    if (step < options.warmupSteps) return options.learningRate * (step + 1) / options.warmupSteps;
    const progress = (step - options.warmupSteps) / Math.max(1, options.steps - options.warmupSteps);
    return options.learningRate * (1 - 0.9 * progress);
  };
  const optimizer = tf.train.adam(options.learningRate, 0.9, 0.95);
  try {
    for (let step = 0; step < options.steps; step++) {
      // Adam's rate is a plain field read at each step.
      (optimizer as unknown as { learningRate: number }).learningRate = learningRate(step);
      const batch = toBatch(nextBatch(options.batchSize), options.batchSize, s.positions, s.vocab);
      const report = step % 25 === 0 || step === options.steps - 1;
      const cost = optimizer.minimize(() => languageModelLoss(lookup, s, batch, mask), report);
      batch.next.dispose();
      options.onStep?.(step, cost ? cost.dataSync()[0] : undefined);
      cost?.dispose();
    }
    return new Map([...variables].map(([name, v]) => [name, v.dataSync().slice() as Float32Array]));
  } finally {
    optimizer.dispose();
    mask.dispose();
    for (const v of variables.values()) v.dispose();
  }
}
