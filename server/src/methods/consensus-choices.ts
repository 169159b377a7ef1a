// The choices that make a sign-electing merge (ties, breadcrumbs_ties) compute what mergekit's
// generalized task arithmetic computes: per-vector weights, + elected where the values sum to
// exactly 0, and the agreeing values summed rather than averaged. One definition of the
// parameters, their node fields, their cache-key entries and their lowering.
import type { NodeRef } from '../engine/plan/types.ts';
import type { Lowering, NumbersArg, TypeRules } from './method.ts';

export const consensusParams = {
  weights: { type: 'numbers', keywordOnly: true, doc: 'A weight per vector (> 0), as mergekit\'s per-model `weight`: each vector is multiplied by its weight before the sign election, and the agreeing weighted values are summed and divided by their weights\' sum. Unweighted (the mean) when omitted.' },
  zero_sum: { type: 'choice', choices: ['none', 'plus'], default: 'none', doc: 'Where the values sum to exactly 0: `"none"` elects no sign (the element is 0), `"plus"` elects + as mergekit does (the positive values are kept).' },
  normalize: { type: 'bool', default: true, keywordOnly: true, doc: 'Divide the agreeing values\' sum by their count (or weights): the mean. `false` keeps the sum, as mergekit\'s `dare_ties` and `breadcrumbs_ties` do by default.' },
} as const;

/** What a node holds of the choices: only what differs from tvr's defaults, so existing cache keys stay valid. */
export interface ConsensusFields {
  /** mergekit's per-model weights, one per input (> 0); absent: unweighted. */
  readonly weights?: readonly number[];
  /** + is elected where the values sum to exactly 0 (mergekit); absent: no sign (tvr). */
  readonly zeroSum?: 'plus';
  /** The agreeing values are summed (mergekit's dare_ties and breadcrumbs_ties default); absent: averaged. */
  readonly normalize?: false;
}

/** The node fields of the bound choices, or undefined after reporting weights that do not fit `count` vectors. */
export function consensusFields(args: { readonly weights: NumbersArg | undefined; readonly zero_sum: 'none' | 'plus'; readonly normalize: boolean }, count: number, rules: TypeRules): ConsensusFields | undefined {
  const { weights } = args;
  if (weights && weights.value.length !== count) {
    rules.report(weights.expr, 'error', 'invalid-value', `weights has ${weights.value.length} number${weights.value.length === 1 ? '' : 's'} for ${count} vector${count === 1 ? '' : 's'}: give one weight per vector`);
    return undefined;
  }
  if (weights && weights.value.some((w) => !(w > 0))) {
    rules.report(weights.expr, 'error', 'invalid-value', 'weights must all be > 0 (a zero or negative weight turns the sign election around)');
    return undefined;
  }
  return {
    ...(weights ? { weights: weights.value } : {}),
    ...(args.zero_sum === 'plus' ? { zeroSum: 'plus' as const } : {}),
    ...(args.normalize ? {} : { normalize: false as const }),
  };
}

/** The choices' entries of a cache key. */
export function consensusKey(node: ConsensusFields): { weights?: readonly number[]; zeroSum?: 'plus'; normalize?: false } {
  return { ...(node.weights ? { weights: node.weights } : {}), ...(node.zeroSum ? { zeroSum: node.zeroSum } : {}), ...(node.normalize === false ? { normalize: false as const } : {}) };
}

/** How far the merge can scale its inputs: 1 for a mean, the summed weights for a sum. */
export function consensusGain(node: ConsensusFields, count: number): number {
  return node.normalize !== false ? 1 : (node.weights ?? new Array<number>(count).fill(1)).reduce((a, b) => a + b, 0);
}

/** The sign election and merge of the (trimmed or masked) values: tvr's `ties` node at the defaults, mergekit's consensus otherwise. */
export function mergeAgreeing(b: Lowering, node: ConsensusFields, values: readonly (NodeRef | null)[]): NodeRef | null {
  if (node.weights === undefined && node.zeroSum === undefined && node.normalize === undefined) {
    const present = values.filter((v): v is NodeRef => v !== null);
    if (present.length === 0) return null;
    // One vector: every non-zero element agrees with its own sign, so the disjoint mean is itself.
    return present.length === 1 ? present[0]! : b.disjointMean(present);
  }
  return b.signConsensus(values, node.weights ?? values.map(() => 1), { normalize: node.normalize !== false, strict: node.zeroSum === undefined });
}
