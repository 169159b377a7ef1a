// Model Breadcrumbs masks with TIES's sign election and disjoint mean (mergekit's
// `breadcrumbs_ties`): each task vector keeps, per tensor, the band of magnitudes just below
// its outliers (breadcrumbs.ts), then each element's sign is elected by the sum of the masked
// values and the values that agree are averaged (ties.ts). Lowered on the same operations:
// two exact top-k thresholds per vector, then the disjoint mean.
import type { TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { breadcrumbsBand } from './breadcrumbs.ts';
import { consensusFields, consensusGain, consensusKey, consensusParams, mergeAgreeing, type ConsensusFields } from './consensus-choices.ts';
import { defineMethod, requireFraction, type Method } from './method.ts';

export interface BreadcrumbsTiesNode extends NodeBase, ConsensusFields {
  readonly op: 'breadcrumbs_ties';
  readonly kind: 'vector';
  readonly inputs: readonly WeightNode[];
  /** Fraction of each vector kept. */
  readonly density: TensorNumber;
  /** Fraction of each vector's largest magnitudes dropped as outliers. */
  readonly gamma: TensorNumber;
}

export const breadcrumbsTies: Method<BreadcrumbsTiesNode> = defineMethod<BreadcrumbsTiesNode>()({
  name: 'breadcrumbs_ties',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge.' },
    density: { type: 'number', default: 0.9, keywordOnly: true, perTensor: true, above: 0, max: 1, doc: 'Fraction of each task vector kept, per tensor: the elements ranked by magnitude just below the outliers.' },
    gamma: { type: 'number', default: 0.01, keywordOnly: true, perTensor: true, min: 0, below: 1, doc: 'Fraction of each task vector\'s largest-magnitude elements dropped as outliers, per tensor. Where density + gamma > 1, fewer outliers are dropped so that `density` remains.' },
    ...consensusParams,
  },
  returns: 'Vector',
  summary: 'Model Breadcrumbs masks, then TIES sign election and disjoint mean.',
  doc: 'Each vector is masked as `breadcrumbs(v, density, gamma)` does, per tensor of n elements: with k_top = floor(gamma n) (at most n - k) and k = floor(density n), the elements whose |value| ranks between k_top + 1 and k_top + k are kept (every element tied with the k_top-th largest magnitude is dropped, every element tied with the (k_top + k)-th kept; NaN never). Then, as in `ties`, each element\'s sign is elected by the sign of the sum of the masked values, and the merged value is the mean of the masked values that are non-zero with that sign; 0 where the sum is 0 or none agree. Add it to the base with a scaling coefficient: `base + lam*breadcrumbs_ties(a, b, c)`. `weights`, `zero_sum="plus"` and `normalize=false` reproduce mergekit\'s `breadcrumbs_ties` (its default normalize is false), which still differs in two edge cases: it breaks ties at a threshold by its sort order, and keeps nothing at all when floor(gamma n) = 0 (an empty slice of its sorted indices).',
  example: 'merged = base + lam*breadcrumbs_ties(t1, t2, t3, density=0.9, gamma=0.01)',
  reference: 'Model Breadcrumbs (Davari & Belilovsky, 2023) with TIES-Merging (Yadav et al., 2023)',
  tag: 'breadcrumbs-ties',
  statistics: true,
  check({ vectors, density, gamma, ...choices }, rules) {
    const inputs = rules.align(vectors);
    if (!inputs) return { type: 'error' };
    const consensus = consensusFields(choices, inputs.length, rules);
    if (!consensus) return { type: 'error' };
    return rules.derive<BreadcrumbsTiesNode>({ op: 'breadcrumbs_ties', inputs: inputs.map((v) => v.node), density, gamma, ...consensus }, inputs);
  },
  gain: (node) => consensusGain(node, node.inputs.length),
  children: (node) => node.inputs,
  structure: (node, key) => ({ op: 'breadcrumbs_ties', density: node.density, gamma: node.gamma, inputs: node.inputs.map((input) => key.ref(input)), ...consensusKey(node) }),
  anchors: (node) => node.inputs.slice(0, 1),
  lower(node, b) {
    const density = b.at(node.density, node.range);
    const gamma = b.at(node.gamma, node.range);
    requireFraction(b, node, 'density', density);
    requireFraction(b, node, 'gamma', gamma);
    return mergeAgreeing(b, node, node.inputs.map((input) => breadcrumbsBand(b, b.value(input), density, gamma)));
  },
});
