// Multi-SLERP, as mergekit's `multislerp` merges: per tensor, flattened, a weighted
// barycentre of several tensors on the hypersphere, taken in the tangent space at their
// normalised weighted mean of directions. Every vector it forms is a linear combination of
// the inputs, so it runs on coefficients from their Gram matrix (gram.ts) after one pass
// of dot products; the output is one linear node.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { combine, inner, norm, norms, unit, type Gram } from './gram.ts';
import { defineMethod, sharedKind, type GramCoefficients, type Method } from './method.ts';

export interface MultislerpNode extends NodeBase {
  readonly op: 'multislerp';
  readonly inputs: readonly WeightNode[];
  /** One per input, as given or all 1 (normalised when lowered). */
  readonly weights: readonly number[];
  readonly eps: number;
}

/**
 * mergekit's multislerp on coefficients, with weights normalised to sum 1: directions
 * x_i / (|x_i| + eps), their weighted mean m (two inputs whose |m| < eps are interpolated
 * linearly; more are an error), the weighted sum t of their tangents at m/|m|, the
 * exponential map back to the sphere, scaled by the weighted mean of the norms.
 */
export function multislerpCoefficients(gram: Gram, given: readonly number[], eps: number): GramCoefficients {
  const k = gram.length;
  const total = given.reduce((a, b) => a + b, 0);
  const w = given.map((x) => x / total);
  const n = norms(gram);
  const units = n.map((ni, i) => unit(k, i, 1 / (ni + eps)));
  const sum = units.reduce((acc, ui, i) => combine(1, acc, w[i]!, ui), new Array<number>(k).fill(0));
  const length = norm(gram, sum);
  if (length < eps) {
    if (k === 2) return w;
    return { error: 'the weighted mean of the inputs\' directions is zero (antipodal inputs whose weights balance out): multislerp() cannot take its direction; give other weights' };
  }
  const mean = sum.map((c) => c / length);
  const tangent = units.reduce((acc, ui, i) => combine(1, acc, w[i]!, combine(1, ui, -inner(gram, ui, mean), mean)), new Array<number>(k).fill(0));
  const angle = norm(gram, tangent) + eps;
  const scale = n.reduce((acc, ni, i) => acc + ni * w[i]!, 0);
  return combine(scale * Math.cos(angle), mean, (scale * Math.sin(angle)) / angle, tangent);
}

export const multislerp: Method<MultislerpNode> = defineMethod<MultislerpNode>()({
  name: 'multislerp',
  params: {
    inputs: { type: 'weights', variadic: true, doc: 'Models, or Vectors, to interpolate (all of one kind).' },
    weights: { type: 'numbers', keywordOnly: true, doc: 'A weight per input, normalised to sum 1 (mergekit\'s normalize_weights: true); equal weights when omitted (mergekit requires them).' },
    eps: { type: 'number', default: 1e-8, above: 0, keywordOnly: true, doc: 'Added to norms before dividing by them, and the smallest norm of the weighted mean of directions (mergekit\'s default).' },
  },
  returns: 'the kind of the inputs',
  summary: 'Multi-SLERP: a weighted barycentre of several tensors on the hypersphere.',
  doc: 'Per tensor, flattened, as mergekit\'s `multislerp`: the directions u_i = x_i / (|x_i| + eps) are averaged with the weights (normalised to sum 1), the mean direction m is that average normalised, each u_i is projected onto the tangent space at m, the weighted sum t of the projections is mapped back to the sphere (m cos|t| + t sin|t| / |t|, with eps added to |t|) and scaled by the weighted mean of the norms |x_i|. Where the weighted mean of directions has a norm below eps, two inputs are interpolated linearly and more stop the run with an error naming the tensor. mergekit\'s base_model (interpolating task vectors about it) is `base + multislerp(a - base, b - base, weights=[...])`; its normalize_weights: false is not offered. One input is returned as it is. Computed in float64 from the Gram matrix of the inputs.',
  example: 'merged = multislerp(ft1, ft2, ft3, weights=[0.5, 0.3, 0.2])',
  reference: 'Multi-SLERP (Charles Goddard, goddard.blog); as mergekit merges with it',
  tag: 'multislerp',
  statistics: true,
  check({ inputs, weights, eps }, rules) {
    const kind = sharedKind(inputs, rules, 'multislerp() interpolates');
    if (!kind) return { type: 'error' };
    if (weights && weights.value.length !== inputs.length) {
      rules.report(weights.expr, 'error', 'invalid-value', `multislerp() takes a weight per input: it was given ${weights.value.length} weight${weights.value.length === 1 ? '' : 's'} for ${inputs.length} input${inputs.length === 1 ? '' : 's'}`);
      return { type: 'error' };
    }
    const given = weights?.value ?? inputs.map(() => 1);
    // Only given weights can sum to 0.
    if (given.reduce((a, b) => a + b, 0) === 0) {
      rules.report(weights!.expr, 'error', 'invalid-value', 'the weights of multislerp() sum to 0: they are divided by their sum');
      return { type: 'error' };
    }
    const aligned = rules.align(inputs);
    if (!aligned) return { type: 'error' };
    return rules.derive<MultislerpNode>({ op: 'multislerp', inputs: aligned.map((v) => v.node), weights: given, eps }, aligned, { kind });
  },
  children: (node) => node.inputs,
  structure: (node, key) => ({ op: 'multislerp', weights: node.weights, eps: node.eps, inputs: node.inputs.map((input) => key.ref(input)) }),
  anchors: (node) => [node.inputs[node.weights.indexOf(Math.max(...node.weights))]!],
  lower(node, b) {
    const values = node.inputs.map((input) => b.value(input));
    if (values.length === 1) return values[0]!;
    return b.gramCombination(node, values, values, (gram) => multislerpCoefficients(gram, node.weights, node.eps));
  },
});
