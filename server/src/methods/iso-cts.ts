// Iso-CTS (Marczak et al. 2025): Iso-C's common subspace (the top singular directions of the
// summed task vectors) completed by each task's own top directions outside it, orthogonalised,
// with a flat spectrum. Tensors that are not matrices take the mean of the task vectors.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { meanOf, sum } from './iso-c.ts';
import { defineMethod, type Method } from './method.ts';
import { compose, matrix, multiply, orthogonalFactor, svd, transpose, type Matrix } from './svd.ts';

export interface IsoCtsNode extends NodeBase {
  readonly op: 'iso_cts';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
  /** Fraction of the r = min(rows, cols) directions kept for the common subspace. */
  readonly common: number;
}

/** Python's round(): halves to the even neighbour, as the authors' sizes are computed. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** How many directions the common subspace and each task take: r - T n_task and n_task. */
export function subspaceSizes(r: number, tasks: number, common: number): { common: number; perTask: number } {
  const first = Math.floor(r * common);
  const specific = roundHalfEven((r - first) / tasks) * tasks;
  const shared = r - specific;
  return { common: shared, perTask: Math.floor((r - shared) / tasks) };
}

export function isoCtsMatrix(vectors: readonly Matrix[], common: number): Matrix {
  const total = svd(sum(vectors));
  const r = total.s.length;
  const sizes = subspaceSizes(r, vectors.length, common);
  const rows = total.u.rows;
  const cols = total.vh.cols;
  // Columns of U and rows of Vh: each task's block, then the common subspace; the rest stays zero.
  const u = new Float64Array(rows * r);
  const vh = new Float64Array(r * cols);
  const s = new Float64Array(r);
  const place = (from: Matrix, fromVh: Matrix, values: ArrayLike<number>, count: number, at: number) => {
    for (let k = 0; k < count; k++) {
      for (let i = 0; i < rows; i++) u[i * r + at + k] = from.data[i * from.cols + k]!;
      vh.set(fromVh.data.subarray(k * cols, (k + 1) * cols), (at + k) * cols);
      s[at + k] = values[k]!;
    }
  };
  // Each task's part outside the common subspace: w - Uc Ucᵀ w.
  const commonU = matrix(rows, sizes.common, Float64Array.from({ length: rows * sizes.common }, (_, x) => total.u.data[Math.floor(x / sizes.common) * total.u.cols + (x % sizes.common)]!));
  vectors.forEach((w, t) => {
    const projected = multiply(commonU, multiply(transpose(commonU), w));
    const own = svd(matrix(rows, cols, w.data.map((x, i) => x - projected.data[i]!)));
    place(own.u, own.vh, own.s, sizes.perTask, t * sizes.perTask);
  });
  place(total.u, total.vh, total.s, sizes.common, vectors.length * sizes.perTask);
  const mean = s.reduce((a, b) => a + b, 0) / r;
  return compose(orthogonalFactor(matrix(rows, r, u)), new Float64Array(r).fill(mean), orthogonalFactor(matrix(r, cols, vh)));
}

export const isoCts: Method<IsoCtsNode> = defineMethod<IsoCtsNode>()({
  name: 'iso_cts',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'The task vectors merged.' },
    common: { type: 'number', default: 0.8, min: 0, max: 1, keywordOnly: true, doc: 'Fraction of the r = min(rows, columns) directions of each matrix given to the common subspace (the authors\' default 0.8); the rest is shared equally among the tasks.' },
  },
  returns: 'Vector',
  summary: 'Iso-CTS: Iso-C\'s common subspace plus each task\'s own directions, with a flat spectrum.',
  doc: 'For each 2-D tensor with r = min(rows, columns) and T task vectors: the summed task vectors Δ = U diag(σ) Vᵀ give the common subspace, its top c directions, with c = r - T round((r - floor(r common)) / T) (Python\'s round, halves to even) so that the rest divides among the tasks; each task vector with the common subspace projected out, w - U_c U_cᵀ w, gives its top (r - c) / T directions. The directions are placed side by side (tasks first, then the common ones), orthogonalised (each side replaced by its polar factor) and combined with every singular value set to the mean of the kept ones. Other tensors take the mean of the task vectors. As in the authors\' code; memory and time as for `iso_c`, plus one SVD per task vector. Add it to the base with a coefficient chosen on validation data: `base + lam*iso_cts(t1, t2, t3)`.',
  example: 'merged = base + lam*iso_cts(t1, t2, t3, common=0.8)',
  reference: 'No Task Left Behind: Isotropic Model Merging with Common and Task-Specific Subspaces (Marczak et al., ICML 2025)',
  tag: 'iso-cts',
  statistics: true,
  check({ vectors, common }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<IsoCtsNode>({ op: 'iso_cts', vectors: aligned.map((v) => v.node), common }, aligned);
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'iso_cts', common: node.common, vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    if (b.shape.length !== 2) return meanOf(b, node.vectors);
    return b.wholeMatrix(node, node.vectors.map((v) => b.value(v)), (matrices) => isoCtsMatrix(matrices, node.common));
  },
});
