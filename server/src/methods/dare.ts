// DARE (Yu et al. 2024): drop each element of a task vector at random and rescale the
// survivors so the expected vector is unchanged.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, requireFraction, type Method } from './method.ts';

export interface DareNode extends NodeBase {
  readonly op: 'dare';
  readonly kind: 'vector';
  readonly input: WeightNode;
  /** Drop probability. */
  readonly p: number;
  readonly seed: number;
}

export const dare: Method<DareNode> = defineMethod<DareNode>()({
  name: 'dare',
  params: {
    vector: { type: 'vector', doc: 'The task vector to sparsify.' },
    p: { type: 'number', default: 0.9, min: 0, below: 1, doc: 'Drop probability; survivors are rescaled by 1/(1-p).' },
    seed: { type: 'number', default: 0, min: 0, integer: true, doc: 'Random seed, a whole number from 0 to 2^53 - 1; masks are identical on every backend and machine.' },
  },
  returns: 'Vector',
  summary: 'DARE: drop elements at random and rescale the rest.',
  doc: 'Drops each element with probability `p` and rescales the survivors by 1/(1-p), so the expected vector is unchanged. Usually followed by addition or TIES.',
  example: 'sparse = dare(t1, p=0.9, seed=1)',
  reference: 'DARE (Yu et al., 2024)',
  tag: 'dare',
  statistics: false,
  gain: (node) => 1 / (1 - node.p),
  seed: (node) => node.seed,
  check({ vector, p, seed }, rules) {
    return rules.derive<DareNode>({ op: 'dare', input: vector.value.node, p, seed }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'dare', p: node.p, seed: node.seed, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    requireFraction(b, node, 'drop probability', node.p);
    const arg = b.value(node.input);
    if (arg === null || node.p === 1) return null;
    if (node.p === 0) return arg;
    return b.dropAndRescale(arg, node.p, node.seed);
  },
});
