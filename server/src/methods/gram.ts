// Geometry in coefficient space: a vector that is a linear combination sum c_i x_i of a
// tensor's inputs is held as its coefficients c, and the Gram matrix G of the inputs gives
// every inner product, <c, d> = c' G d. The Gram-based methods (model_stock, karcher,
// multislerp, nuslerp) compute their coefficients this way, from one pass of dot products.

export type Gram = readonly (readonly number[])[];

/** c' G d. */
export function inner(gram: Gram, c: readonly number[], d: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < c.length; i++) {
    if (c[i] === 0) continue;
    for (let j = 0; j < d.length; j++) sum += c[i]! * gram[i]![j]! * d[j]!;
  }
  return sum;
}

/** ||sum c_i x_i||; rounding can make c' G c slightly negative for a (near) zero vector. */
export function norm(gram: Gram, c: readonly number[]): number {
  return Math.sqrt(Math.max(0, inner(gram, c, c)));
}

/** The coefficients of x_i alone. */
export function unit(k: number, i: number, scale = 1): number[] {
  const c = new Array<number>(k).fill(0);
  c[i] = scale;
  return c;
}

/** a * c + b * d. */
export function combine(a: number, c: readonly number[], b: number, d: readonly number[]): number[] {
  return c.map((ci, i) => a * ci + b * d[i]!);
}

/** The norms of the inputs, from the diagonal. */
export function norms(gram: Gram): number[] {
  return gram.map((row, i) => Math.sqrt(Math.max(0, row[i]!)));
}
