// DARE (Yu et al. 2024): drop each element of a task vector at random and rescale the
// survivors so the expected vector is unchanged.
import { numbersOf, type TensorNumber } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, requireFraction, type Method } from './method.ts';
import type { Matrix } from './svd.ts';

export interface DareNode extends NodeBase {
  readonly op: 'dare';
  readonly kind: 'vector';
  readonly input: WeightNode;
  /** Drop probability. */
  readonly p: TensorNumber;
  readonly seed: number;
  /** The survivors scaled so the tensor keeps its L1 norm (mergekit's rescale: true), or left as they are (rescale: false); absent: times 1/(1-p). */
  readonly rescale?: 'l1' | 'none';
}

/** The 24-bit draw an element must reach to survive, as the `dare` node compares it (engine/rng.ts dareKeepThreshold). */
const keepThreshold = (p: number): number => Math.ceil(p * 16777216);

/** mergekit's rescaled_masked_tensor: below this either L1 sum, the masked tensor is left unscaled. */
const L1_EPS = 1e-7;

/** The survivors of the draws, scaled to the input's L1 norm or not at all. */
export function dareMasked(x: Matrix, p: number, draws: Uint32Array, rescale: 'l1' | 'none'): Matrix {
  const threshold = keepThreshold(p);
  const out = new Float64Array(x.data.length);
  let before = 0;
  let after = 0;
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i]!;
    before += Math.abs(v);
    if (draws[i]! >= threshold) {
      out[i] = v;
      after += Math.abs(v);
    }
  }
  if (rescale === 'l1' && before >= L1_EPS && after >= L1_EPS) for (let i = 0; i < out.length; i++) out[i]! *= before / after;
  return { rows: x.rows, cols: x.cols, data: out };
}

export const dare: Method<DareNode> = defineMethod<DareNode>()({
  name: 'dare',
  params: {
    vector: { type: 'vector', doc: 'The task vector to sparsify.' },
    p: { type: 'number', default: 0.9, perTensor: true, min: 0, below: 1, doc: 'Drop probability; survivors are rescaled by 1/(1-p).' },
    seed: { type: 'number', default: 0, min: 0, integer: true, doc: 'Random seed, a whole number from 0 to 2^53 - 1; masks are identical on every backend and machine.' },
    rescale: { type: 'choice', choices: ['inverse', 'l1', 'none'], default: 'inverse', doc: 'How the survivors are scaled: `"inverse"` by 1/(1-p), so the expected vector is unchanged (the DARE paper); `"l1"` so each tensor keeps its L1 norm, as mergekit\'s `rescale: true` (its default since 2025); `"none"` not at all (mergekit\'s `rescale: false`). The same elements survive in all three. `"l1"` and `"none"` read each tensor whole, so the vector must be a sum of checkpoints (such as ft - base).' },
  },
  returns: 'Vector',
  summary: 'DARE: drop elements at random and rescale the rest.',
  doc: 'Drops each element with probability `p` and rescales the survivors by 1/(1-p), so the expected vector is unchanged. Usually followed by addition or TIES.',
  example: 'sparse = dare(t1, p=0.9, seed=1)',
  reference: 'DARE (Yu et al., 2024)',
  tag: 'dare',
  statistics: false,
  // L1 rescaling can enlarge survivors without bound (few survive); 1/(1-p) bounds the usual case.
  gain: (node) => (node.rescale === 'none' ? 1 : 1 / (1 - Math.max(...numbersOf(node.p)))),
  seed: (node) => node.seed,
  check({ vector, p, seed, rescale }, rules) {
    return rules.derive<DareNode>({ op: 'dare', input: vector.value.node, p, seed, ...(rescale === 'inverse' ? {} : { rescale }) }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'dare', p: node.p, seed: node.seed, input: key.ref(node.input), ...(node.rescale ? { rescale: node.rescale } : {}) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    const p = b.at(node.p, node.range);
    requireFraction(b, node, 'drop probability', p);
    const arg = b.value(node.input);
    if (arg === null || p === 1) return null;
    if (p === 0) return arg;
    const rescale = node.rescale;
    if (rescale === undefined) return b.dropAndRescale(arg, p, node.seed);
    // The draws of the `dare` node (stream 'dare', keyed by seed and tensor), over the tensor as one row.
    return b.wholeMatrix(node, [arg], ([x], tools) => dareMasked(x!, p, tools.draws('dare', 0, x!.data.length), rescale), { shape: [1, b.elements], seed: node.seed });
  },
});
