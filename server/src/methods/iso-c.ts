// Iso-C (Marczak et al. 2025, "No Task Left Behind: Isotropic Model Merging with Common and
// Task-Specific Subspaces"): sum the task vectors, then flatten the spectrum of each weight
// matrix: every singular value of the sum replaced by their mean. Tensors that are not
// matrices take the mean of the task vectors, as in the authors' code.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, type Lowering, type Method } from './method.ts';
import { compose, svd, type Matrix } from './svd.ts';

export interface IsoCNode extends NodeBase {
  readonly op: 'iso_c';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
}

/** mean(s) u vh of the SVD of the summed matrices. */
export function isoCMatrix(vectors: readonly Matrix[]): Matrix {
  const { u, s, vh } = svd(sum(vectors));
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return compose(u, s.map(() => mean), vh);
}

export function sum(vectors: readonly Matrix[]): Matrix {
  const [first] = vectors;
  const data = new Float64Array(first!.data.length);
  for (const v of vectors) for (let i = 0; i < data.length; i++) data[i]! += v.data[i]!;
  return { rows: first!.rows, cols: first!.cols, data };
}

/** The mean of the vectors' values for a tensor that is not a matrix; null when none has it. */
export function meanOf(b: Lowering, vectors: readonly WeightNode[]): ReturnType<Lowering['linear']> {
  return b.linear(vectors.map((v) => ({ coef: 1 / vectors.length, arg: b.value(v) })));
}

export const isoC: Method<IsoCNode> = defineMethod<IsoCNode>()({
  name: 'iso_c',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'The task vectors merged.' },
  },
  returns: 'Vector',
  summary: 'Iso-C: the summed task vectors with a flat (isotropic) spectrum per weight matrix.',
  doc: 'For each 2-D tensor, the sum of the task vectors is decomposed, Δ = U diag(σ) Vᵀ (thin SVD), and every singular value is replaced by their mean: mean(σ) U Vᵀ. Other tensors (biases, norms) take the mean of the task vectors. Add it to the base with a scaling coefficient chosen on validation data (the authors\' is about 1 to 1.5): `base + lam*iso_c(t1, t2, t3)`. Each matrix is decomposed whole, in float64, on the CPU (one-sided Jacobi): memory is the task vectors of one matrix in float64 plus the decomposition, and time grows with rows x columns²; every 2-D tensor is decomposed, embeddings included (leave them out with `exclude(...)` on a large vocabulary). Where a singular value is exactly 0 its direction is dropped.',
  example: 'merged = base + lam*iso_c(t1, t2, t3)',
  reference: 'No Task Left Behind: Isotropic Model Merging with Common and Task-Specific Subspaces (Marczak et al., ICML 2025)',
  tag: 'iso-c',
  statistics: true,
  check({ vectors }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<IsoCNode>({ op: 'iso_c', vectors: aligned.map((v) => v.node) }, aligned);
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'iso_c', vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    if (b.shape.length !== 2) return meanOf(b, node.vectors);
    return b.wholeMatrix(node, node.vectors.map((v) => b.value(v)), isoCMatrix);
  },
});
