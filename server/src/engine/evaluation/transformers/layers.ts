// Building blocks the transformer families share, on TensorFlow.js tensors.
import type { Tensor, Tf } from './family.ts';

/** Additive causal mask [length, length]: 0 where a position may attend (itself and before), -1e9 after. */
export function causalMask(tf: Tf, length: number): Tensor {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([length, length]), -1, 0)), -1e9));
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
