// Consensus merging (Wang et al., ICML 2024): keep the elements of the multi-task vector
// tau_MTL = sum tau_i that at least k tasks' TALL masks (tall.ts) claim, dropping those
// that only one task uses ("selfish") or none ("catastrophic").
import type { Poly } from '../language/poly.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, type Method } from './method.ts';
import { TALL_LAMBDA_DOC, tallVotes } from './tall.ts';

export interface ConsensusNode extends NodeBase {
  readonly op: 'consensus';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
  /** The fewest tasks whose masks must hold an element. */
  readonly k: number;
  readonly lambda: Poly;
}

export const consensus: Method<ConsensusNode> = defineMethod<ConsensusNode>()({
  name: 'consensus',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'The task vectors merged: tau_MTL is their sum.' },
    k: { type: 'number', default: 2, min: 0, integer: true, keywordOnly: true, doc: 'The fewest tasks whose TALL masks must hold an element for it to be kept (the paper\'s default 2; 1 drops only the elements no task uses, 0 keeps tau_MTL, more than the tasks keeps nothing).' },
    lambda: { type: 'scalar', default: 1, min: 0, keywordOnly: true, doc: `One ${TALL_LAMBDA_DOC}` },
  },
  returns: 'Vector',
  summary: 'Consensus merging: the summed task vectors where at least k tasks\' TALL masks agree.',
  doc: 'With tau_MTL = sum of `vectors` and each task\'s TALL mask m_t = 1{|tau_t| > lambda |tau_MTL - tau_t|} (see `tall`), gives 1{sum_t m_t >= k} * tau_MTL, as Wang et al. (2024) with Task Arithmetic. The authors build each mask with its own lambda, picked on that task\'s validation data; here one lambda serves every task. Add it to the base with a scaling coefficient: `base + lam*consensus(t1, t2, t3, k=2)`.',
  example: 'merged = base + lam*consensus(t1, t2, t3, k=2)',
  reference: 'Localizing Task Information for Improved Model Merging and Compression (Wang et al., ICML 2024)',
  tag: 'consensus',
  statistics: false,
  // Its values are those of tau_MTL, a sum of the vectors.
  gain: (node) => node.vectors.length,
  coefficients: (node) => [node.lambda],
  check({ vectors, k, lambda }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<ConsensusNode>({ op: 'consensus', vectors: aligned.map((v) => v.node), k, lambda }, aligned, { coefficients: [lambda] });
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'consensus', k: node.k, lambda: key.at(node.lambda), vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    const { mtl, votes } = tallVotes(b, node.vectors, node.vectors);
    return b.voteMask(mtl, votes, b.at(node.lambda, node.range), node.k);
  },
});
