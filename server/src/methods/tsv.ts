// TSV-M (Gargiulo et al. 2025, "Task Singular Vectors: Reducing Task Interference in Model
// Merging"): keep each task vector's top 1/T of its singular directions, decorrelate the
// directions of all tasks (each side replaced by its polar factor), keep the singular values.
// Tensors that are not matrices take the mean of the task vectors.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { meanOf } from './iso-c.ts';
import { defineMethod, type Method } from './method.ts';
import { compose, matrix, orthogonalFactor, svd, type Matrix } from './svd.ts';

export interface TsvNode extends NodeBase {
  readonly op: 'tsv';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
}

export function tsvMatrix(vectors: readonly Matrix[]): Matrix {
  const { rows, cols } = vectors[0]!;
  const r = Math.min(rows, cols);
  // The authors' int(r * (1 / T)): one fewer than r / T where the product rounds down (49 * (1/49) = 0.99...).
  const keep = Math.trunc(r * (1 / vectors.length));
  const u = new Float64Array(rows * r);
  const vh = new Float64Array(r * cols);
  const s = new Float64Array(r);
  vectors.forEach((w, t) => {
    const own = svd(w);
    for (let k = 0; k < keep; k++) {
      const at = t * keep + k;
      for (let i = 0; i < rows; i++) u[i * r + at] = own.u.data[i * own.u.cols + k]!;
      vh.set(own.vh.data.subarray(k * cols, (k + 1) * cols), at * cols);
      s[at] = own.s[k]!;
    }
  });
  return compose(orthogonalFactor(matrix(rows, r, u)), s, orthogonalFactor(matrix(r, cols, vh)));
}

export const tsv: Method<TsvNode> = defineMethod<TsvNode>()({
  name: 'tsv',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'The task vectors merged.' },
  },
  returns: 'Vector',
  summary: 'TSV-M: each task\'s top singular directions, decorrelated across tasks.',
  doc: 'For each 2-D tensor with r = min(rows, columns) and T task vectors: each task vector\'s top int(r (1/T)) singular directions (r / T, or one fewer where the float product rounds down, as in the authors\' code) and values (thin SVD) are placed side by side, the left and the right directions are each replaced by their polar factor (the nearest orthogonal matrix, which removes the interference between tasks), and the result is U⊥ diag(σ) V⊥ᵀ with the tasks\' own singular values. Other tensors take the mean of the task vectors. As in the authors\' code (`compute_and_sum_svd_mem_reduction`); they add it with coefficient 1: `base + tsv(t1, t2, t3)` (or a coefficient chosen on validation data). Memory and time as for `iso_c`, with one SVD per task vector.',
  example: 'merged = base + tsv(t1, t2, t3)',
  reference: 'Task Singular Vectors: Reducing Task Interference in Model Merging (Gargiulo et al., CVPR 2025)',
  tag: 'tsv',
  statistics: true,
  check({ vectors }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<TsvNode>({ op: 'tsv', vectors: aligned.map((v) => v.node) }, aligned);
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'tsv', vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    if (b.shape.length !== 2) return meanOf(b, node.vectors);
    return b.wholeMatrix(node, node.vectors.map((v) => b.value(v)), tsvMatrix);
  },
});
