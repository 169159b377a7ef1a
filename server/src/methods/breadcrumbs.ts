// Model Breadcrumbs (Davari & Belilovsky 2023): per tensor, drop a task vector's
// largest-magnitude outliers (the `gamma` fraction) and its smallest values, keeping the
// `density` fraction ranked just below the outliers. Lowered on two exact top-k thresholds:
// the band is the top (gamma + density) minus the top gamma, elementwise, so elements tied
// at either threshold follow one rule (all of a tie at the outlier threshold are dropped,
// all of a tie at the lower threshold kept).
import type { TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeRef } from '../engine/plan/types.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, keepCount, requireFraction, type Lowering, type Method } from './method.ts';

export interface BreadcrumbsNode extends NodeBase {
  readonly op: 'breadcrumbs';
  readonly kind: 'vector';
  readonly input: WeightNode;
  /** Fraction kept. */
  readonly density: TensorNumber;
  /** Fraction of largest magnitudes dropped as outliers. */
  readonly gamma: TensorNumber;
}

export const breadcrumbs: Method<BreadcrumbsNode> = defineMethod<BreadcrumbsNode>()({
  name: 'breadcrumbs',
  params: {
    vector: { type: 'vector', doc: 'The task vector to sparsify.' },
    density: { type: 'number', default: 0.9, perTensor: true, above: 0, max: 1, doc: 'Fraction of elements kept, per tensor: those ranked by magnitude just below the outliers.' },
    gamma: { type: 'number', default: 0.01, perTensor: true, min: 0, below: 1, doc: 'Fraction of largest-magnitude elements dropped as outliers, per tensor (mergekit\'s default). Where density + gamma > 1, fewer outliers are dropped so that `density` remains.' },
  },
  returns: 'Vector',
  summary: 'Model Breadcrumbs: drop the largest-magnitude outliers and the smallest values of each tensor.',
  doc: 'Per tensor of n elements, with k_top = floor(gamma n) (at most n - k) and k = floor(density n): keeps the elements whose |value| ranks between k_top + 1 and k_top + k. Ties at a threshold: every element equal in magnitude to the k_top-th largest is dropped, every element equal to the (k_top + k)-th largest is kept; NaN is never kept. Merge by adding: `base + lam*(breadcrumbs(a) + breadcrumbs(b))` is mergekit\'s `breadcrumbs`.',
  example: 'sparse = breadcrumbs(t1, density=0.9, gamma=0.01)',
  reference: 'Model Breadcrumbs (Davari & Belilovsky, 2023)',
  tag: 'breadcrumbs',
  statistics: true,
  check({ vector, density, gamma }, rules) {
    return rules.derive<BreadcrumbsNode>({ op: 'breadcrumbs', input: vector.value.node, density, gamma }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'breadcrumbs', density: node.density, gamma: node.gamma, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    const density = b.at(node.density, node.range);
    const gamma = b.at(node.gamma, node.range);
    requireFraction(b, node, 'density', density);
    requireFraction(b, node, 'gamma', gamma);
    return breadcrumbsBand(b, b.value(node.input), density, gamma);
  },
});

/** The breadcrumbs band of one tensor's values (null when it keeps nothing); `breadcrumbs_ties` masks each of its vectors with it. */
export function breadcrumbsBand(b: Lowering, arg: NodeRef | null, density: number, gamma: number): NodeRef | null {
  const kept = keepCount(density, b.elements);
  if (arg === null || kept === 0) return null;
  const outliers = Math.min(keepCount(gamma, b.elements), b.elements - kept);
  // x - x is exactly 0 and x - 0 exactly x: the band is exact (an infinity, always an outlier, gives NaN).
  // Where the band reaches the smallest magnitudes, the upper mask keeps all of `arg`: it must
  // still be a node of its own, as the disjoint mean of `arg` alone is (x itself, NaN to 0), for
  // `linear` flattens a linear `arg` (ft - base) into the difference, which then holds
  // (ft - base) - round32(ft - base), not 0, at the outliers.
  const upper = outliers > 0 && outliers + kept >= b.elements ? b.disjointMean([arg]) : b.keepLargest(arg, outliers + kept);
  return b.linear([{ coef: 1, arg: upper }, { coef: -1, arg: b.keepLargest(arg, outliers) }]);
}
