// Building blocks the transformer families share, on TensorFlow.js tensors.
import type { Tensor, Tf } from './family.ts';

/** Additive causal mask [length, length]: 0 where a position may attend (itself and before), -1e9 after. */
export function causalMask(tf: Tf, length: number): Tensor {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([length, length]), -1, 0)), -1e9));
}

/**
 * A causal LM's logits [rows, vocab] from its final hidden states [batch, length, hidden]
 * and its head transposed [hidden, vocab]: only the flat positions `rows` (all when absent)
 * go through the head, the largest cost of a pass.
 */
export function headLogits(tf: Tf, hidden: Tensor, headT: Tensor, rows?: Int32Array): Tensor {
  return tf.tidy(() => {
    const flat = tf.reshape(hidden, [-1, hidden.shape[hidden.shape.length - 1]!]);
    return tf.matMul(rows ? tf.gather(flat, tf.tensor1d(rows, 'int32')) : flat, headT);
  });
}

/** [batch, length, heads * size] -> [batch, heads, length, size]. */
export function splitHeads(tf: Tf, t: Tensor, heads: number, size: number): Tensor {
  const [batch, length] = t.shape as [number, number, number];
  return tf.transpose(tf.reshape(t, [batch, length, heads, size]), [0, 2, 1, 3]);
}

/** Layer normalisation over the last axis with a weight and bias. */
export function layerNorm(tf: Tf, x: Tensor, weight: Tensor, bias: Tensor, epsilon: number): Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(normed, weight), bias);
  });
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluNew(tf: Tf, x: Tensor): Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/** Root-mean-square normalisation over the last axis (Llama's RMSNorm): x / sqrt(mean(x^2) + epsilon) * weight. */
export function rmsNorm(tf: Tf, x: Tensor, weight: Tensor, epsilon: number): Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))), weight));
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(tf: Tf, x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** Rotary position tables [length, 2 * frequencies]: the angle of position p at index i is p * inverseFrequencies[i mod frequencies]. */
export function rotaryTables(tf: Tf, inverseFrequencies: readonly number[], length: number): { readonly cos: Tensor; readonly sin: Tensor } {
  const half = inverseFrequencies.length;
  const cos = new Float32Array(length * 2 * half);
  const sin = new Float32Array(length * 2 * half);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < 2 * half; i++) {
      const angle = p * inverseFrequencies[i % half]!;
      cos[p * 2 * half + i] = Math.cos(angle);
      sin[p * 2 * half + i] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor2d(cos, [length, 2 * half]), sin: tf.tensor2d(sin, [length, 2 * half]) };
}

/**
 * Rotary position embedding in the rotate-half convention (transformers' Llama): x [..., length, size]
 * times cos, plus x with its halves swapped and the new first half negated, times sin.
 */
export function applyRotary(tf: Tf, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return tf.tidy(() => {
    const [first, second] = tf.split(x, 2, -1);
    const rotated = tf.concat([tf.neg(second!), first!], -1);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
  });
}
