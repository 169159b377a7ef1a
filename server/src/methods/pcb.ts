// PCB-merging (Du et al., NeurIPS 2024, "Parameter Competition Balancing for Model Merging"):
// each task vector's elements are weighed by how much they matter to their own task
// (intra-balancing: exp(T x normalised magnitude²)) and how much they agree with the other
// tasks (inter-balancing: tanh of the element times the summed vectors); the lowest-scoring
// fraction is dropped and the clamped vectors are averaged with the remaining scores as weights.
// Per tensor: the authors' code takes the quantiles and the normalisation over the whole
// flattened model; here, as every other method, over each tensor.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, type Method } from './method.ts';
import type { Matrix } from './svd.ts';

export interface PcbNode extends NodeBase {
  readonly op: 'pcb';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
  /** Fraction of each task's elements kept, by score. */
  readonly ratio: number;
  /** Fraction of each task's magnitudes clamped at either end before scoring. */
  readonly clip: number;
}

/** The value at index floor(d q) of the sorted values (the authors' sorted_x[int(d * q)]). */
function sortedAt(sorted: Float64Array, index: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, index))]!;
}

/** (x - min) / (max - min) over the values; 0 where they are all equal (the authors' code divides by zero there). */
function normalized(values: Float64Array): Float64Array {
  let min = Infinity;
  let max = -Infinity;
  for (const x of values) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const span = max - min;
  return values.map((x) => (span > 0 ? (x - min) / span : 0));
}

/** The PCB merge of one tensor's task vectors (each as a 1 x d matrix). */
export function pcbMerge(vectors: readonly Matrix[], ratio: number, clip: number): Matrix {
  const tasks = vectors.length;
  const d = vectors[0]!.data.length;
  const sum = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) sum[i]! += v.data[i]!;
  const weighted = new Float64Array(d);
  const weights = new Float64Array(d);
  for (const v of vectors) {
    // Magnitudes clamped to their [clip, 1 - clip] quantiles; the clamped vector is what is merged.
    const magnitudes = v.data.map(Math.abs);
    const sorted = Float64Array.from(magnitudes).sort();
    const low = sortedAt(sorted, Math.trunc(d * clip));
    const high = sortedAt(sorted, Math.trunc(d * (1 - clip)) - 1);
    const clamped = magnitudes.map((m) => Math.min(high, Math.max(low, m)));
    const intra = normalized(clamped).map((x) => Math.exp(tasks * x * x));
    const score = intra.map((x, i) => x * Math.tanh(v.data[i]! * sum[i]!));
    // Scores below the (1 - ratio) quantile are raised to it, so they normalise to 0: dropped.
    const floor = sortedAt(Float64Array.from(score).sort(), Math.trunc(d * (1 - ratio)));
    const scale = normalized(score.map((x) => Math.max(floor, x)));
    for (let i = 0; i < d; i++) {
      weighted[i]! += Math.sign(v.data[i]!) * clamped[i]! * scale[i]!;
      weights[i]! += scale[i]!;
    }
  }
  return { rows: 1, cols: d, data: weighted.map((x, i) => x / Math.max(weights[i]!, 1e-12)) };
}

export const pcb: Method<PcbNode> = defineMethod<PcbNode>()({
  name: 'pcb',
  params: {
    vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge (sums of checkpoints and adapters, such as ft - base: each tensor is read whole).' },
    ratio: { type: 'number', default: 0.1, above: 0, max: 1, keywordOnly: true, doc: 'Fraction of each task vector\'s elements kept, those with the highest balancing scores (the authors\' `pcb_ratio`; 0.1 their default, 0.05 to 0.2 in their experiments).' },
    clip: { type: 'number', default: 0.0001, min: 0, below: 0.5, keywordOnly: true, doc: 'Fraction of each task vector\'s magnitudes clamped at each end (to the clip and 1 - clip quantiles) before scoring (the authors\' 0.0001).' },
  },
  returns: 'Vector',
  summary: 'PCB-merging: balance each element by its importance to its task and its agreement with the others; drop the lowest; weighted mean.',
  doc: 'Per tensor of d elements, with T task vectors τ_i and their sum S: the magnitudes |τ_i| are clamped to their sorted values at indices int(d clip) and int(d (1 - clip)) - 1, giving a_i and the clamped vector sign(τ_i) a_i; the intra-balancing score is exp(T n_i²), n_i = a_i min-max normalised over the tensor; the inter-balancing score is tanh(τ_i S); their product is raised to its sorted value at index int(d (1 - ratio)) (dropping the rest) and min-max normalised into the weight w_i; the result is Σ w_i sign(τ_i) a_i / max(Σ w_i, 1e-12). As the authors\' `pcb_merging`, except that the quantiles and normalisations are taken per tensor, as every tvr method does, not over the whole flattened model; a tensor whose values are all equal normalises to 0 (the authors\' code divides by zero). Add it to the base with a scaling coefficient chosen on validation data: `base + lam*pcb(t1, t2, t3)`. Each tensor is read whole (sorting it), in float64.',
  example: 'merged = base + lam*pcb(t1, t2, t3, ratio=0.1)',
  reference: 'Parameter Competition Balancing for Model Merging (Du et al., NeurIPS 2024)',
  tag: 'pcb',
  statistics: true,
  check({ vectors, ratio, clip }, rules) {
    const aligned = rules.align(vectors);
    if (!aligned) return { type: 'error' };
    return rules.derive<PcbNode>({ op: 'pcb', vectors: aligned.map((v) => v.node), ratio, clip }, aligned);
  },
  children: (node) => node.vectors,
  structure: (node, key) => ({ op: 'pcb', ratio: node.ratio, clip: node.clip, vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    return b.wholeMatrix(node, node.vectors.map((v) => b.value(v)), (matrices) => pcbMerge(matrices, node.ratio, node.clip), { shape: [1, b.elements] });
  },
});
