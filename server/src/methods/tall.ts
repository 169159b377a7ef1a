// TALL masks (Wang et al., ICML 2024, "Localizing Task Information for Improved Model
// Merging and Compression"): the elements of the multi-task vector tau_MTL = sum tau_i
// where task t's vector dominates the rest of the sum, |tau_t| > lambda |tau_MTL - tau_t|;
// masking tau_MTL with them gives back that task's vector from the merged one. consensus.ts
// counts these masks over the tasks.
import type { NodeRef } from '../engine/plan/types.ts';
import type { Poly } from '../language/poly.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, type Lowering, type Method } from './method.ts';

export interface TallNode extends NodeBase {
  readonly op: 'tall';
  readonly kind: 'vector';
  readonly task: WeightNode;
  readonly vectors: readonly WeightNode[];
  /** Possibly a sweep: the paper picks it per task on validation data. */
  readonly lambda: Poly;
}

/**
 * The multi-task vector and, for each of `tasks`, the vote of its TALL mask: |tau_t|
 * against lambda |tau_MTL - tau_t| (the difference one linear node over the inputs).
 */
export function tallVotes(b: Lowering, vectors: readonly WeightNode[], tasks: readonly WeightNode[]): { mtl: NodeRef | null; votes: { a: NodeRef | null; b: NodeRef | null }[] } {
  const mtl = b.linear(vectors.map((v) => ({ coef: 1, arg: b.value(v) })));
  const votes = tasks.map((task) => {
    const own = b.value(task);
    return { a: own, b: b.linear([{ coef: 1, arg: mtl }, { coef: -1, arg: own }]) };
  });
  return { mtl, votes };
}

/** The authors' code (tall_masks, generate_task_masks) defaults lambda to 1; the paper tunes it per task on validation data. */
export const TALL_LAMBDA_DOC = 'lambda: an element belongs to a task where |tau_t| > lambda |tau_MTL - tau_t|. The default 1 is that of the authors\' code (generate_task_masks); the paper picks lambda per task on validation data (their code tries 0.2 to 2 in steps of 0.2): sweep it.';

export const tall: Method<TallNode> = defineMethod<TallNode>()({
  name: 'tall',
  params: {
    task: { type: 'vector', doc: 'The task vector whose mask is taken (one of `vectors`).' },
    vectors: { type: 'vector', variadic: true, doc: 'The task vectors merged: tau_MTL is their sum.' },
    lambda: { type: 'scalar', default: 1, min: 0, keywordOnly: true, doc: TALL_LAMBDA_DOC },
  },
  returns: 'Vector',
  summary: 'TALL mask: the elements of the summed task vectors where one task dominates the rest.',
  doc: 'With tau_MTL = sum of `vectors`, gives m_t * tau_MTL where m_t = 1{|tau_t| > lambda |tau_MTL - tau_t|} (tau_t = `task`): the task\'s vector recovered from the merged one, as in Wang et al. (2024). The comparison is strict, as in the authors\' code (the paper writes >=; they differ only where the two sides are equal, e.g. both 0); lambda |tau_MTL - tau_t| is rounded to float32 as torch computes it. Add it to the base: `base + tall(t1, t1, t2, t3, lambda=0.4)`.',
  example: 'recovered = base + tall(t1, t1, t2, t3, lambda=0.4)',
  reference: 'Localizing Task Information for Improved Model Merging and Compression (Wang et al., ICML 2024)',
  tag: 'tall-masks',
  statistics: false,
  // Its values are those of tau_MTL, a sum of the vectors.
  gain: (node) => node.vectors.length,
  coefficients: (node) => [node.lambda],
  check({ task, vectors, lambda }, rules) {
    const aligned = rules.align([task, ...vectors]);
    if (!aligned) return { type: 'error' };
    if (!vectors.some((v) => v.value.node === task.value.node)) {
      rules.report(task.expr, 'warning', 'invalid-value', 'this task vector is not one of the vectors merged: TALL masks locate a task\'s share of their sum, tau_MTL');
    }
    return rules.derive<TallNode>({ op: 'tall', task: aligned[0]!.node, vectors: aligned.slice(1).map((v) => v.node), lambda }, aligned, { coefficients: [lambda] });
  },
  children: (node) => [node.task, ...node.vectors],
  structure: (node, key) => ({ op: 'tall', lambda: key.at(node.lambda), task: key.ref(node.task), vectors: node.vectors.map((v) => key.ref(v)) }),
  anchors: (node) => [node.task],
  lower(node, b) {
    const { mtl, votes } = tallVotes(b, node.vectors, [node.task]);
    return b.voteMask(mtl, votes, b.at(node.lambda, node.range), 1);
  },
});
