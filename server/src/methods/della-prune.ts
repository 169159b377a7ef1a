// DELLA's MAGPRUNE (Deep et al. 2024), as mergekit's `della_magprune`: each element of a task
// vector is kept at random with a probability that grows with its magnitude's rank within its
// row, and the survivors are rescaled so the tensor keeps its L1 norm. The ranking needs each
// row whole, so the pruned tensor is computed whole (Lowering.wholeMatrix) from draws of the
// engine's counter-based generator: the same on every backend and chunking.
import type { NodeRef } from '../engine/plan/types.ts';
import { numbersOf, type TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, requireFraction, type Lowering, type Method } from './method.ts';
import { matrix, type Matrix } from './svd.ts';

export interface DellaPruneNode extends NodeBase {
  readonly op: 'della_prune';
  readonly kind: 'vector';
  readonly input: WeightNode;
  readonly density: TensorNumber;
  readonly epsilon: number;
  readonly rescale: boolean;
  readonly seed: number;
}

/** How a DELLA method prunes each task vector. */
export interface Magprune {
  readonly density: number;
  readonly epsilon: number;
  readonly rescale: boolean;
}

/** mergekit's floor under both L1 norms: below it the kept values are not rescaled. */
const RESCALE_EPS = 1e-7;

/** 2^24: the draws are 24-bit integers. */
const DRAWS = 16777216;

/**
 * Each element's 0-based position in ascending order of |x| rounded to float32 (the dtype
 * mergekit ranks in), ties in index order: a permutation of 0 .. n-1, as mergekit's
 * argsort of argsort is (its ties fall in sort order).
 */
export function ascendingRanks(row: ArrayLike<number>): Uint32Array {
  const n = row.length;
  const magnitudes = new Float32Array(n);
  for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(row[i]!);
  const sorted = magnitudes.slice().sort();
  // Indexed by where a magnitude's run in `sorted` starts: how many of the run are ranked so far.
  const taken = new Uint32Array(n);
  const ranks = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const m = magnitudes[i]!;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < m) lo = mid + 1;
      else hi = mid;
    }
    ranks[i] = lo + taken[lo]!++;
  }
  return ranks;
}

/**
 * mergekit's della_magprune of `x` (0 < density < 1), a row at a time: rank r of |x| within
 * the row (0 = smallest) gives the keep probability p = density - epsilon + 2 epsilon
 * r / (cols - 1) (density - epsilon in a row of one element, where mergekit divides 0 by 0),
 * and the element is kept where its 24-bit draw is below ceil(p 2^24) (probability p, to
 * 2^-24). With `rescale`, the kept values are scaled by sum|x| / sum|kept| over the whole
 * tensor where both sums are at least 1e-7 (mergekit's L1 rescale).
 */
export function magprune(x: Matrix, { density, epsilon, rescale }: Magprune, draws: (start: number, count: number) => Uint32Array): Matrix {
  const { rows, cols } = x;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const row = x.data.subarray(start, start + cols);
    const ranks = ascendingRanks(row);
    const drawn = draws(start, cols);
    for (let c = 0; c < cols; c++) {
      const p = density - epsilon + (cols > 1 ? ranks[c]! / (cols - 1) : 0) * 2 * epsilon;
      if (drawn[c]! < Math.ceil(p * DRAWS)) out[start + c] = row[c]!;
    }
  }
  if (!rescale) return matrix(rows, cols, out);
  let before = 0;
  let after = 0;
  for (let i = 0; i < out.length; i++) {
    before += Math.abs(x.data[i]!);
    after += Math.abs(out[i]!);
  }
  // Negated as mergekit tests it, so a NaN sum rescales (and the tensor becomes NaN, as there).
  if (!(before < RESCALE_EPS || after < RESCALE_EPS)) {
    const scale = before / after;
    for (let i = 0; i < out.length; i++) out[i]! *= scale;
  }
  return matrix(rows, cols, out);
}

/** Why density ± epsilon leaves (0, 1) for some density in (0, 1) (0 and 1 themselves prune nothing or everything), or undefined. */
export function magpruneRangeProblem(density: TensorNumber, epsilon: number): string | undefined {
  const problem = (d: number, sign: '-' | '+', bound: number, side: string): string =>
    `density ${sign} epsilon must lie strictly between 0 and 1 (the keep probabilities run from density - epsilon to density + epsilon), but density ${d} ${sign} epsilon ${epsilon} = ${Number(bound.toPrecision(12))} is not ${side}`;
  for (const d of numbersOf(density)) {
    if (!(d > 0 && d < 1)) continue;
    if (d - epsilon <= 0) return problem(d, '-', d - epsilon, 'above 0');
    if (d + epsilon >= 1) return problem(d, '+', d + epsilon, 'below 1');
  }
  return undefined;
}

/** How far pruning scales values, for the checker's overflow estimate: the L1 rescale's factor is data-dependent, 1/(density - epsilon) where every element is kept with the smallest probability. */
export function magpruneGain(density: TensorNumber, epsilon: number, rescale: boolean): number {
  if (!rescale) return 1;
  return Math.max(...numbersOf(density).map((d) => (d >= 1 ? 1 : d <= 0 ? 0 : 1 / (d - epsilon))));
}

/** The rows and columns MAGPRUNE ranks along: a matrix's rows, a vector (or a scalar) as one row. */
function rowsOf(b: Lowering, node: WeightNode): readonly [number, number] {
  if (b.shape.length > 2) {
    b.fail(node, `${node.op}() ranks magnitudes within the rows of a matrix: tensor ${b.tensor} has shape [${b.shape.join(', ')}] (mergekit ranks along dimension 1 there); leave it out with exclude(...)`);
  }
  return b.shape.length === 2 ? [b.shape[0]!, b.shape[1]!] : [1, b.elements];
}

/** The pruning arguments of a DELLA node for this tensor, checked: a program built without the checker may hold anything. */
export function magpruneAt(b: Lowering, node: WeightNode & { readonly density: TensorNumber; readonly epsilon: number; readonly rescale: boolean }): Magprune {
  const density = b.at(node.density, node.range);
  requireFraction(b, node, 'density', density);
  const problem = magpruneRangeProblem(density, node.epsilon);
  if (problem !== undefined) b.fail(node, problem);
  return { density, epsilon: node.epsilon, rescale: node.rescale };
}

/** `arg` pruned by MAGPRUNE with draws keyed by `seed` and the tensor: itself at density 1, null at 0. */
export function magpruned(b: Lowering, node: WeightNode, arg: NodeRef | null, prune: Magprune, seed: number): NodeRef | null {
  if (arg === null || prune.density <= 0) return null;
  if (prune.density >= 1) return arg;
  return b.wholeMatrix(node, [arg], ([x], tools) => magprune(x!, prune, (start, count) => tools.draws('della', start, count)), { shape: rowsOf(b, node), seed });
}

export const dellaPrune: Method<DellaPruneNode> = defineMethod<DellaPruneNode>()({
  name: 'della_prune',
  params: {
    vector: { type: 'vector', doc: 'The task vector to prune (a sum of checkpoints and adapters, such as ft - base: each tensor is ranked whole).' },
    density: { type: 'number', default: 0.5, perTensor: true, min: 0, max: 1, doc: 'Expected fraction of each row kept. The default 0.5 is the middle of (0, 1), where every epsilon below 0.5 is valid (mergekit\'s default 1 keeps everything).' },
    epsilon: { type: 'number', default: 0.15, min: 0, below: 0.5, doc: 'Half the spread of the keep probabilities: from density - epsilon (the smallest magnitude of a row) to density + epsilon (the largest); density ± epsilon must lie in (0, 1).' },
    rescale: { type: 'bool', default: true, keywordOnly: true, doc: 'Scale the kept values so each tensor keeps its L1 norm (mergekit\'s default).' },
    seed: { type: 'number', default: 0, min: 0, integer: true, keywordOnly: true, doc: 'Random seed, a whole number from 0 to 2^53 - 1; masks are identical on every backend and machine.' },
  },
  returns: 'Vector',
  summary: 'DELLA\'s MAGPRUNE: keep elements at random, larger magnitudes more often, and rescale.',
  doc: 'As mergekit\'s `della_magprune`: within each row of a matrix (a 1-D tensor is one row), the elements are ranked by magnitude and each is kept with probability density - epsilon + 2 epsilon r/(n - 1), r its rank from 0 (the smallest) to n - 1; with `rescale`, the kept values are scaled by sum|x| / sum|kept| over the tensor (where both sums are at least 1e-7), so the L1 norm is kept. Magnitude ties are ranked in index order; a row of one element is kept with probability density - epsilon. Density 1 returns the vector, 0 zero. The draws come from the counter-based generator keyed by (seed, tensor, element): the same on every backend and chunking, but not torch.bernoulli\'s numbers, so the same distribution as mergekit, never the same mask. Each tensor is ranked whole, so the vector must be a sum of checkpoints and adapters (ft - base), and tensors of more than two dimensions are refused (exclude them).',
  example: 'sparse = della_prune(t1, density=0.4, epsilon=0.1, seed=1)',
  reference: 'DELLA-Merging: Reducing Interference in Model Merging through Magnitude-Based Sampling (Deep et al., 2024); as mergekit prunes with it',
  tag: 'della',
  statistics: true,
  gain: (node) => magpruneGain(node.density, node.epsilon, node.rescale),
  seed: (node) => node.seed,
  check({ vector, density, epsilon, rescale, seed }, rules) {
    const problem = magpruneRangeProblem(density, epsilon);
    if (problem !== undefined) {
      rules.report(vector.expr, 'error', 'invalid-value', `della_prune(): ${problem}`);
      return { type: 'error' };
    }
    return rules.derive<DellaPruneNode>({ op: 'della_prune', input: vector.value.node, density, epsilon, rescale, seed }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'della_prune', density: node.density, epsilon: node.epsilon, rescale: node.rescale, seed: node.seed, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    return magpruned(b, node, b.value(node.input), magpruneAt(b, node), node.seed);
  },
});
