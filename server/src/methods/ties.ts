// TIES merging (Yadav et al. 2023): trim each task vector to its largest magnitudes,
// elect each element's sign by the summed trimmed values, average the values that agree.
import type { TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { consensusFields, consensusGain, consensusKey, consensusParams, mergeAgreeing, type ConsensusFields } from './consensus-choices.ts';
import { defineMethod, keepCount, requireFraction, type Method } from './method.ts';

export interface TiesNode extends NodeBase, ConsensusFields {
  readonly op: 'ties';
  readonly kind: 'vector';
  readonly inputs: readonly WeightNode[];
  readonly density: TensorNumber;
  /** k = mergekit's int(density * n) in binary floating point (0.29 of 100 keeps 28); absent: floor(density n) for the decimal written (29). */
  readonly rounding?: 'float';
}

/** k of a density over n elements, by the node's rounding. */
export function trimCount(density: number, n: number, rounding: 'decimal' | 'float' = 'decimal'): number {
  return rounding === 'float' ? Math.min(n, Math.trunc(density * n)) : keepCount(density, n);
}

export const ties: Method<TiesNode> = defineMethod<TiesNode>()({
  name: 'ties',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge.' },
    density: { type: 'number', default: 0.2, keywordOnly: true, perTensor: true, above: 0, max: 1, doc: 'Fraction of each task vector kept when trimming (by magnitude, per tensor).' },
    ...consensusParams,
    rounding: { type: 'choice', choices: ['decimal', 'float'], default: 'decimal', doc: 'How many elements density keeps of n: `"decimal"` floor(density n) for the decimal written (0.29 of 100 keeps 29); `"float"` mergekit\'s int(density * n) in binary floating point (0.29 * 100 = 28.999... keeps 28).' },
  },
  returns: 'Vector',
  summary: 'TIES merging: trim, elect sign, disjoint mean.',
  doc: 'Each vector is trimmed to its largest `density` fraction by magnitude; each element\'s sign is elected by the sign of the summed trimmed values; the merged value is the mean of the values that agree with that sign. Add it to the base with a scaling coefficient: `base + lam*ties(a, b, c)`. `weights`, `zero_sum`, `normalize` and `rounding` reproduce mergekit\'s `ties` (`weights=[...], zero_sum="plus", rounding="float"`) and `dare_ties` (also `normalize=false`); elements tied in magnitude at the trim threshold are all kept, where mergekit keeps exactly k by its sort order.',
  example: 'merged = base + lam*ties(t1, t2, t3, density=0.2)',
  reference: 'TIES-Merging (Yadav et al., 2023)',
  tag: 'ties',
  statistics: true,
  check({ vectors, density, rounding, ...choices }, rules) {
    const inputs = rules.align(vectors);
    if (!inputs) return { type: 'error' };
    const consensus = consensusFields(choices, inputs.length, rules);
    if (!consensus) return { type: 'error' };
    return rules.derive<TiesNode>({ op: 'ties', inputs: inputs.map((v) => v.node), density, ...consensus, ...(rounding === 'float' ? { rounding: 'float' as const } : {}) }, inputs);
  },
  gain: (node) => consensusGain(node, node.inputs.length),
  children: (node) => node.inputs,
  // Only what differs from tvr's defaults joins the key, so keys of recipes written before these arguments stay valid.
  structure: (node, key) => ({
    op: 'ties',
    density: node.density,
    inputs: node.inputs.map((input) => key.ref(input)),
    ...consensusKey(node),
    ...(node.rounding ? { rounding: node.rounding } : {}),
  }),
  anchors: (node) => node.inputs.slice(0, 1),
  lower(node, b) {
    const density = b.at(node.density, node.range);
    requireFraction(b, node, 'density', density);
    const k = trimCount(density, b.elements, node.rounding);
    return mergeAgreeing(b, node, node.inputs.map((input) => {
      const value = b.value(input);
      return value === null ? null : b.keepLargest(value, k);
    }));
  },
});
