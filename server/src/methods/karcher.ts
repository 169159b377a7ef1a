// The Karcher (Riemannian) mean on the unit sphere, as mergekit's `karcher` merges: per
// tensor, flattened, the inputs' directions are averaged on the sphere by fixed-point
// iteration and the result scaled by their mean norm. Every iterate is a linear
// combination of the inputs, so the iteration runs on coefficients from their Gram matrix
// (gram.ts) after one pass of dot products, and the output is one linear node.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { combine, norm, norms, inner, unit, type Gram } from './gram.ts';
import { defineMethod, sharedKind, type Method } from './method.ts';

export interface KarcherNode extends NodeBase {
  readonly op: 'karcher';
  readonly inputs: readonly WeightNode[];
  readonly maxIter: number;
  readonly tol: number;
}

/**
 * mergekit's karcher_merge_tensors with equal weights, on coefficients: inputs of norm
 * <= tol take no part in the mean (a zero one keeps its share of the weights in the final
 * scale); the start is the normalised weighted mean of the unit directions (the first
 * direction when that mean's norm is < tol); each step moves along the weighted sum of
 * log maps, skipping directions within tol radians, and stops when that sum's norm < tol.
 */
export function karcherCoefficients(gram: Gram, maxIter: number, tol: number): number[] {
  const k = gram.length;
  const n = norms(gram);
  const alpha = 1 / k;
  const valid = [...n.keys()].filter((i) => n[i]! > tol);
  if (valid.length === 0) return new Array<number>(k).fill(0);
  const weight = 1 / valid.length;
  const units = valid.map((i) => unit(k, i, 1 / n[i]!));
  let u = units.reduce((sum, ui) => combine(1, sum, weight, ui), new Array<number>(k).fill(0));
  const start = norm(gram, u);
  u = start < tol ? units[0]! : u.map((c) => c / start);
  for (let iter = 0; iter < maxIter; iter++) {
    let step = new Array<number>(k).fill(0);
    for (const ui of units) {
      const dot = Math.min(1, Math.max(-1, inner(gram, u, ui)));
      const theta = Math.acos(dot);
      if (theta < tol) continue;
      step = combine(1, step, (weight * theta) / Math.sin(theta), combine(1, ui, -dot, u));
    }
    const length = norm(gram, step);
    if (length < tol) break;
    u = combine(Math.cos(length), u, Math.sin(length) / length, step);
    const size = norm(gram, u);
    if (size > tol) u = u.map((c) => c / size);
  }
  const scale = n.reduce((sum, ni) => sum + alpha * ni, 0);
  return u.map((c) => scale * c);
}

export const karcher: Method<KarcherNode> = defineMethod<KarcherNode>()({
  name: 'karcher',
  params: {
    inputs: { type: 'weights', variadic: true, doc: 'Models, or Vectors, to average (all of one kind).' },
    max_iter: { type: 'number', default: 10, min: 0, integer: true, keywordOnly: true, doc: 'Most iterations of the fixed-point step (mergekit\'s default).' },
    tol: { type: 'number', default: 1e-5, above: 0, keywordOnly: true, doc: 'Convergence tolerance: on the step\'s norm, on angles, and on the norms of inputs that take part (mergekit\'s default).' },
  },
  returns: 'the kind of the inputs',
  summary: 'Karcher mean: the inputs\' directions averaged on the sphere, scaled by their mean norm.',
  doc: 'Per tensor, flattened, as mergekit\'s `karcher` (equal weights): the unit directions x_i/|x_i| of the inputs with |x_i| > tol are averaged on the unit sphere by the fixed-point iteration u <- exp_u(sum_i w_i log_u(x_i/|x_i|)) from their normalised mean, for at most `max_iter` steps or until the step\'s norm is below `tol` (directions within `tol` radians of u add nothing); the result is u times the mean of all the inputs\' norms (a zero input counts with norm 0). Computed in float64 on the coefficients of the inputs, from their Gram matrix: mergekit iterates on the float32 tensors, so its result can differ by float32 rounding. One input is returned as it is.',
  example: 'merged = karcher(ft1, ft2, ft3)',
  reference: 'Riemannian center of mass (Karcher, 1977); as mergekit merges with it',
  tag: 'karcher',
  statistics: true,
  check({ inputs, max_iter, tol }, rules) {
    const kind = sharedKind(inputs, rules, 'karcher() averages');
    if (!kind) return { type: 'error' };
    const aligned = rules.align(inputs);
    if (!aligned) return { type: 'error' };
    return rules.derive<KarcherNode>({ op: 'karcher', inputs: aligned.map((v) => v.node), maxIter: max_iter, tol }, aligned, { kind });
  },
  children: (node) => node.inputs,
  structure: (node, key) => ({ op: 'karcher', max_iter: node.maxIter, tol: node.tol, inputs: node.inputs.map((input) => key.ref(input)) }),
  anchors: (node) => node.inputs.slice(0, 1),
  lower(node, b) {
    const values = node.inputs.map((input) => b.value(input));
    if (values.length === 1) return values[0]!;
    return b.gramCombination(node, values, values, (gram) => karcherCoefficients(gram, node.maxIter, node.tol));
  },
});
