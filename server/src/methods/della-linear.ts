// Linear DELLA, as mergekit's `della_linear` merges (normalize off, weights and lambda 1):
// the sum of the task vectors, each pruned by MAGPRUNE (della-prune.ts).
import type { NodeBase } from '../language/program.ts';
import { magpruneGain } from './della-prune.ts';
import { dellaFields, dellaParams, dellaStructure, prunedVectors, type DellaFields } from './della.ts';
import { defineMethod, type Method } from './method.ts';

export interface DellaLinearNode extends NodeBase, DellaFields {
  readonly op: 'della_linear';
  readonly kind: 'vector';
}

export const dellaLinear: Method<DellaLinearNode> = defineMethod<DellaLinearNode>()({
  name: 'della_linear',
  params: dellaParams,
  returns: 'Vector',
  summary: 'Linear DELLA: the sum of the vectors, each pruned by MAGPRUNE.',
  doc: 'As mergekit\'s `della_linear`: the sum of the vectors, each pruned as `della_prune` prunes it (vector i with seed + i), so `della_linear(t1, t2, seed=s)` is `della_prune(t1, seed=s) + della_prune(t2, seed=s + 1)`. Pruning commutes with scaling (ranks and the L1 ratio do not change), so mergekit\'s per-model weights are scaled inputs, `della_linear(0.7*t1, 0.3*t2)`, and its lambda a coefficient: `base + lam*della_linear(...)`. The masks follow mergekit\'s distribution, not torch\'s numbers.',
  example: 'merged = base + della_linear(0.5*t1, 0.5*t2, density=0.5, epsilon=0.1)',
  reference: 'DELLA-Merging: Reducing Interference in Model Merging through Magnitude-Based Sampling (Deep et al., 2024); as mergekit merges with it',
  tag: 'della-linear',
  statistics: true,
  gain: (node) => node.vectors.length * magpruneGain(node.density, node.epsilon, node.rescale),
  seed: (node) => node.seed,
  check(args, rules) {
    const checked = dellaFields('della_linear', args, rules);
    return checked ? rules.derive<DellaLinearNode>({ op: 'della_linear', ...checked.fields }, checked.aligned) : { type: 'error' };
  },
  children: (node) => node.vectors,
  structure: dellaStructure,
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    return b.linear(prunedVectors(b, node).map((arg) => ({ coef: 1, arg })));
  },
});
