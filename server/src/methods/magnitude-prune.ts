// Magnitude pruning of a task vector: keep each tensor's largest-magnitude fraction.
import type { TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, keepCount, requireFraction, type Method } from './method.ts';

export interface PruneNode extends NodeBase {
  readonly op: 'magnitude_prune';
  readonly kind: 'vector';
  readonly input: WeightNode;
  readonly density: TensorNumber;
}

export const magnitudePrune: Method<PruneNode> = defineMethod<PruneNode>()({
  name: 'magnitude_prune',
  params: {
    vector: { type: 'vector', doc: 'The task vector to prune.' },
    density: { type: 'number', default: 0.2, perTensor: true, above: 0, max: 1, doc: 'Fraction of elements kept, by magnitude, per tensor.' },
  },
  returns: 'Vector',
  summary: 'Keep the largest-magnitude fraction of each tensor, zero the rest.',
  doc: 'Magnitude pruning of a task vector, per tensor.',
  example: 'pruned = magnitude_prune(t1, density=0.1)',
  tag: 'magnitude-prune',
  statistics: true,
  check({ vector, density }, rules) {
    return rules.derive<PruneNode>({ op: 'magnitude_prune', input: vector.value.node, density }, [vector.value]);
  },
  children: (node) => [node.input],
  // 'prune' as before the method table, so existing cache entries stay valid.
  structure: (node, key) => ({ op: 'prune', density: node.density, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    const density = b.at(node.density, node.range);
    requireFraction(b, node, 'density', density);
    const arg = b.value(node.input);
    return arg === null ? null : b.keepLargest(arg, keepCount(density, b.elements));
  },
});
