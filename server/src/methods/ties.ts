// TIES merging (Yadav et al. 2023): trim each task vector to its largest magnitudes,
// elect each element's sign by the summed trimmed values, average the values that agree.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, keepCount, requireFraction, type Method } from './method.ts';

export interface TiesNode extends NodeBase {
  readonly op: 'ties';
  readonly kind: 'vector';
  readonly inputs: readonly WeightNode[];
  readonly density: number;
}

export const ties: Method<TiesNode> = defineMethod<TiesNode>()({
  name: 'ties',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge.' },
    density: { type: 'number', default: 0.2, keywordOnly: true, above: 0, max: 1, doc: 'Fraction of each task vector kept when trimming (by magnitude, per tensor).' },
  },
  returns: 'Vector',
  summary: 'TIES merging: trim, elect sign, disjoint mean.',
  doc: 'Each vector is trimmed to its largest `density` fraction by magnitude; each element\'s sign is elected by the sign of the summed trimmed values; the merged value is the mean of the values that agree with that sign. Add it to the base with a scaling coefficient: `base + lam*ties(a, b, c)`.',
  example: 'merged = base + lam*ties(t1, t2, t3, density=0.2)',
  reference: 'TIES-Merging (Yadav et al., 2023)',
  tag: 'ties',
  statistics: true,
  check({ vectors, density }, rules) {
    const inputs = rules.align(vectors);
    if (!inputs) return { type: 'error' };
    return rules.derive<TiesNode>({ op: 'ties', inputs: inputs.map((v) => v.node), density }, inputs);
  },
  children: (node) => node.inputs,
  structure: (node, key) => ({ op: 'ties', density: node.density, inputs: node.inputs.map((input) => key.ref(input)) }),
  anchors: (node) => node.inputs.slice(0, 1),
  lower(node, b) {
    requireFraction(b, node, 'density', node.density);
    const k = keepCount(node.density, b.elements);
    const trimmed = node.inputs.flatMap((input) => {
      const value = b.value(input);
      const kept = value === null ? null : b.keepLargest(value, k);
      return kept === null ? [] : [kept];
    });
    if (trimmed.length === 0) return null;
    // One vector: every non-zero element agrees with its own sign, so the disjoint mean is itself.
    return trimmed.length === 1 ? trimmed[0]! : b.disjointMean(trimmed);
  },
});
