// SLERP (Shoemake 1985), as mergekit merges with it: per tensor, along the great circle
// between two Models or two Vectors.
import type { Poly } from '../language/poly.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { typeName } from '../language/values.ts';
import { defineMethod, type Method } from './method.ts';

export interface SlerpNode extends NodeBase {
  readonly op: 'slerp';
  readonly a: WeightNode;
  readonly b: WeightNode;
  /** Interpolation position, possibly a sweep. */
  readonly t: Poly;
}

export const slerp: Method<SlerpNode> = defineMethod<SlerpNode>()({
  name: 'slerp',
  params: {
    a: { type: 'weights', doc: 'Start point (t = 0).' },
    b: { type: 'weights', doc: 'End point (t = 1), of the same kind as `a`.' },
    t: { type: 'scalar', default: 0.5, min: 0, max: 1, doc: 'Interpolation position in [0, 1]; may be a sweep.' },
  },
  returns: 'the kind of a and b',
  summary: 'Spherical linear interpolation, per tensor.',
  doc: 'Interpolates along the great circle between the two tensors (scaled by their norms); falls back to linear interpolation when they are nearly colinear.',
  example: 'mid = slerp(a, b, t=0.5)',
  reference: 'Shoemake (1985); as used for model merging by mergekit',
  tag: 'slerp',
  statistics: true,
  coefficients: (node) => [node.t],
  check({ a, b, t }, rules) {
    if (a.value.type !== b.value.type) {
      rules.report(b.expr, 'error', 'type-mismatch', `slerp() interpolates two values of one kind: a is a ${typeName(a.value)} but b is a ${typeName(b.value)}`);
      return { type: 'error' };
    }
    const aligned = rules.align([a, b]);
    if (!aligned) return { type: 'error' };
    const [va, vb] = aligned as [typeof a.value, typeof b.value];
    return rules.derive<SlerpNode>({ op: 'slerp', a: va.node, b: vb.node, t }, [va, vb], { kind: va.type, coefficients: [t] });
  },
  children: (node) => [node.a, node.b],
  structure: (node, key) => ({ op: 'slerp', t: key.at(node.t), a: key.ref(node.a), b: key.ref(node.b) }),
  anchors: (node, at) => [at(node.t, node.range) <= 0.5 ? node.a : node.b],
  lower(node, b) {
    const t = b.at(node.t, node.range);
    const a = b.value(node.a);
    const c = b.value(node.b);
    // With a zero side there is no angle: interpolate linearly, as for colinear inputs.
    if (a === null || c === null || t === 0 || t === 1) return b.linear([{ coef: 1 - t, arg: a }, { coef: t, arg: c }]);
    return b.slerp(a, c, t);
  },
});
