// DELLA-Merging (Deep et al. 2024), as mergekit's `della` merges: each task vector pruned by
// MAGPRUNE (della-prune.ts), then mergekit's sign consensus and mean over the survivors that
// agree (its `normalize`, on by default for della, with every model's weight 1).
import type { NodeRef } from '../engine/plan/types.ts';
import type { TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import type { WeightsValue } from '../language/values.ts';
import { magpruneAt, magpruned, magpruneGain, magpruneRangeProblem } from './della-prune.ts';
import { defineMethod, type Json, type Lowering, type Method, type MethodParams, type StructureKey, type TypeRules, type WeightsArg } from './method.ts';

export interface DellaNode extends NodeBase {
  readonly op: 'della';
  readonly kind: 'vector';
  readonly vectors: readonly WeightNode[];
  readonly density: TensorNumber;
  readonly epsilon: number;
  readonly rescale: boolean;
  readonly seed: number;
}

/** The parameters of `della` and `della_linear`. */
export const dellaParams = {
  vectors: { type: 'vector', variadic: true, doc: 'Task vectors to merge (sums of checkpoints and adapters, such as ft - base: each tensor is ranked whole).' },
  density: { type: 'number', default: 0.5, perTensor: true, min: 0, max: 1, keywordOnly: true, doc: 'Expected fraction of each row of each vector kept (mergekit\'s default 1 prunes nothing; 0.5 leaves every epsilon below 0.5 valid).' },
  epsilon: { type: 'number', default: 0.15, min: 0, below: 0.5, keywordOnly: true, doc: 'Half the spread of the keep probabilities, density - epsilon for a row\'s smallest magnitude to density + epsilon for its largest; density ± epsilon must lie in (0, 1).' },
  rescale: { type: 'bool', default: true, keywordOnly: true, doc: 'Scale each pruned vector\'s kept values so each tensor keeps its L1 norm (mergekit\'s default).' },
  seed: { type: 'number', default: 0, min: 0, integer: true, keywordOnly: true, doc: 'Random seed: vector i (from 0) is pruned with seed + i, as della_prune(v, seed=seed + i) prunes it.' },
} as const satisfies MethodParams;

/** What a DELLA merge's node holds besides its op. */
export type DellaFields = Omit<DellaNode, keyof NodeBase | 'op' | 'kind'>;

/** A DELLA merge's cache-key structure (`della` and `della_linear` differ only in their op). */
export function dellaStructure(node: DellaFields & { readonly op: string }, key: StructureKey): Json {
  return { op: node.op, density: node.density, epsilon: node.epsilon, rescale: node.rescale, seed: node.seed, vectors: node.vectors.map((v) => key.ref(v)) };
}

/** The aligned inputs and node fields of a DELLA merge, density ± epsilon checked, or undefined after reporting why not. */
export function dellaFields(name: string, args: Omit<DellaFields, 'vectors'> & { readonly vectors: readonly WeightsArg[] }, rules: TypeRules): { aligned: readonly WeightsValue[]; fields: DellaFields } | undefined {
  const problem = magpruneRangeProblem(args.density, args.epsilon);
  if (problem !== undefined) {
    rules.report(args.vectors[0]!.expr, 'error', 'invalid-value', `${name}(): ${problem}`);
    return undefined;
  }
  const aligned = rules.align(args.vectors);
  if (!aligned) return undefined;
  return { aligned, fields: { vectors: aligned.map((v) => v.node), density: args.density, epsilon: args.epsilon, rescale: args.rescale, seed: args.seed } };
}

/** Each vector of a DELLA node pruned for this tensor, vector i with seed + i. */
export function prunedVectors(b: Lowering, node: WeightNode & DellaFields): (NodeRef | null)[] {
  const prune = magpruneAt(b, node);
  if (!Number.isSafeInteger(node.seed + node.vectors.length - 1)) b.fail(node, `seed + ${node.vectors.length - 1} (the last vector's seed) is above 2^53 - 1: give a smaller seed`);
  return node.vectors.map((v, i) => magpruned(b, node, b.value(v), prune, node.seed + i));
}

export const della: Method<DellaNode> = defineMethod<DellaNode>()({
  name: 'della',
  params: dellaParams,
  returns: 'Vector',
  summary: 'DELLA merging: MAGPRUNE each vector, elect signs, mean of the agreeing values.',
  doc: 'As mergekit\'s `della` with every weight 1: each vector is pruned as `della_prune` prunes it (vector i with seed + i), then each element\'s sign is + where the pruned values sum to >= 0 (else -) and the result is the mean of the pruned values of that sign (0 where none). Add it to the base with a scaling coefficient (mergekit\'s lambda): `base + lam*della(t1, t2, density=0.5)`. mergekit\'s per-model densities and weights are `ties(della_prune(t1, density=0.3), della_prune(t2, density=0.6, seed=1), density=1, zero_sum="plus", weights=[...])`. The masks follow mergekit\'s distribution, not torch\'s numbers.',
  example: 'merged = base + lam*della(t1, t2, t3, density=0.5, epsilon=0.1)',
  reference: 'DELLA-Merging: Reducing Interference in Model Merging through Magnitude-Based Sampling (Deep et al., 2024); as mergekit merges with it',
  tag: 'della',
  statistics: true,
  gain: (node) => magpruneGain(node.density, node.epsilon, node.rescale),
  seed: (node) => node.seed,
  check(args, rules) {
    const checked = dellaFields('della', args, rules);
    return checked ? rules.derive<DellaNode>({ op: 'della', ...checked.fields }, checked.aligned) : { type: 'error' };
  },
  children: (node) => node.vectors,
  structure: dellaStructure,
  anchors: (node) => node.vectors.slice(0, 1),
  lower(node, b) {
    // mergekit's consensus with every weight 1: + where the sum is 0, the mean of the agreeing values.
    const pruned = prunedVectors(b, node);
    return b.signConsensus(pruned, pruned.map(() => 1), { normalize: true, strict: false });
  },
});
