// SCE (Wan et al. 2024, FuseChat), as mergekit's `sce` merges: per tensor, Select the
// elements where the task vectors vary most across tasks, Calculate each vector's weight
// from its mean square, Erase the elements whose sign disagrees with the sign of the sum,
// and take the weighted mean of the rest. The weights come from the Gram matrix's diagonal
// of the selected vectors (one pass); the selection from an exact top-k of the variance.
import type { NodeBase, WeightNode } from '../language/program.ts';
import type { Gram } from './gram.ts';
import { defineMethod, keepCount, requireFraction, type Method } from './method.ts';

export interface SceNode extends NodeBase {
  readonly op: 'sce';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
  readonly selectTopk: number;
}

/** mergekit's floor under the summed mean squares (below it every vector weighs 1/k) and under the divisor. */
const SCE_EPS = 1e-6;

/** Each vector's mean square over the tensor's `elements`, normalised to sum 1 (1/k each where that sum is below 1e-6). */
export function sceWeights(gram: Gram, elements: number): number[] {
  const meanSquares = gram.map((row, i) => row[i]! / elements);
  const total = meanSquares.reduce((a, b) => a + b, 0);
  if (Math.abs(total) < SCE_EPS) return gram.map(() => 1 / gram.length);
  return meanSquares.map((m) => m / total);
}

export const sce: Method<SceNode> = defineMethod<SceNode>()({
  name: 'sce',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge.' },
    select_topk: { type: 'number', default: 1, min: 0, max: 1, keywordOnly: true, doc: 'Fraction of each tensor\'s elements kept: those whose values vary most across the vectors (mergekit\'s default 1 keeps all).' },
  },
  returns: 'Vector',
  summary: 'SCE: select the elements the vectors disagree on most, weigh vectors by mean square, erase minority signs.',
  doc: 'Per tensor of n elements, as mergekit\'s `sce`: where `select_topk` < 1, every vector keeps only the elements whose population variance across the vectors is among the floor(select_topk n) largest (all elements tied with the last kept too; an element of variance 0 never). Each vector weighs its mean square over the tensor (after selection), normalised to sum 1, or 1/k where the mean squares sum to less than 1e-6. Each element\'s sign is + where the vectors sum to >= 0, else -; the result is the weighted sum of the values of that sign divided by the sum of their weights (at least 1e-6). mergekit keeps int(select_topk m) elements, m the elements of non-zero variance, exactly (ties broken by sort order): the same where no element has variance 0 and no variances tie. Merge by adding to the base: mergekit\'s `sce` is `base + sce(a - base, b - base)`.',
  example: 'merged = base + sce(t1, t2, t3, select_topk=0.1)',
  reference: 'FuseChat: Knowledge Fusion of Chat Models (Wan et al., 2024); as mergekit merges with it',
  tag: 'sce',
  statistics: true,
  check({ vectors, select_topk }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<SceNode>({ op: 'sce', vectors: aligned.map((v) => v.node), selectTopk: select_topk }, aligned);
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'sce', select_topk: node.selectTopk, vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    requireFraction(b, node, 'select_topk', node.selectTopk);
    const vectors = node.vectors.map((v) => b.value(v));
    let selected = vectors;
    if (node.selectTopk < 1) {
      const spread = b.variance(vectors);
      const kept = spread === null ? null : b.keepLargest(spread, keepCount(node.selectTopk, b.elements));
      if (kept === null) return null;
      selected = vectors.map((v) => b.voteMask(v, [{ a: kept, b: null }], 0, 1));
    }
    return b.electedMean(node, selected, (gram) => sceWeights(gram, b.elements), SCE_EPS);
  },
});
