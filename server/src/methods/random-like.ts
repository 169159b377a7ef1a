// The random-vector baseline of task arithmetic (Ilharco et al. 2023): a random direction
// with each tensor's L2 norm matched to the given vector's.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { defineMethod, type Method } from './method.ts';

export interface RandomLikeNode extends NodeBase {
  readonly op: 'random_like';
  readonly kind: 'vector';
  readonly input: WeightNode;
  readonly seed: number;
}

export const randomLike: Method<RandomLikeNode> = defineMethod<RandomLikeNode>()({
  name: 'random_like',
  params: {
    vector: { type: 'vector', doc: 'The vector whose per-tensor norms are matched.' },
    seed: { type: 'number', default: 0, min: 0, integer: true, doc: 'Random seed, a whole number from 0 to 2^53 - 1; directions are identical on every backend.' },
  },
  returns: 'Vector',
  summary: 'A random direction with the same per-tensor norms: the control baseline.',
  doc: 'The random-vector baseline of task arithmetic: if negating a task vector hurts the target but the same-norm random vector does not, the effect is the direction, not the step size.',
  example: 'control = base - random_like(toxic, seed=0)',
  reference: 'Editing Models with Task Arithmetic (Ilharco et al., 2023), Table 1',
  tag: 'random-direction',
  statistics: true,
  seed: (node) => node.seed,
  check({ vector, seed }, rules) {
    return rules.derive<RandomLikeNode>({ op: 'random_like', input: vector.value.node, seed }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'random_like', seed: node.seed, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    const source = b.value(node.input);
    return source === null ? null : b.randomLike(source, node.seed);
  },
});
