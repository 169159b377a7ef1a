// SLERP (Shoemake 1985), as mergekit merges with it: per tensor, along the great circle
// between two Models or two Vectors.
import type { Poly } from '../language/poly.ts';
import { isVarying, type TensorVarying } from '../language/tensor-numbers.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { typeName } from '../language/values.ts';
import { defineMethod, type Method } from './method.ts';

export interface SlerpNode extends NodeBase {
  readonly op: 'slerp';
  readonly a: WeightNode;
  readonly b: WeightNode;
  /** Interpolation position: possibly a sweep, or varying by tensor. */
  readonly t: Poly | TensorVarying;
  /** A zero tensor is at a right angle to the other, as mergekit computes it; absent: interpolated linearly. */
  readonly zero?: 'angle';
}

export const slerp: Method<SlerpNode> = defineMethod<SlerpNode>()({
  name: 'slerp',
  params: {
    a: { type: 'weights', doc: 'Start point (t = 0).' },
    b: { type: 'weights', doc: 'End point (t = 1), of the same kind as `a`.' },
    t: { type: 'scalar', default: 0.5, perTensor: true, min: 0, max: 1, doc: 'Interpolation position in [0, 1]; may be a sweep, or vary by tensor (a gradient over layers, or by_tensor(...)).' },
    zero: { type: 'choice', choices: ['linear', 'angle'], default: 'linear', doc: 'Where a tensor is zero (it has no direction): `"linear"` interpolates linearly, (1 - t) a + t b; `"angle"` does as mergekit, which leaves a tensor of norm <= 1e-8 unnormalised, so a zero tensor sits at a right angle: cos(t π/2) a + sin(t π/2) b.' },
  },
  returns: 'the kind of a and b',
  summary: 'Spherical linear interpolation, per tensor.',
  doc: 'Interpolates along the great circle between the two tensors (scaled by their norms); falls back to linear interpolation when they are nearly colinear.',
  example: 'mid = slerp(a, b, t=0.5)',
  reference: 'Shoemake (1985); as used for model merging by mergekit',
  tag: 'slerp',
  statistics: true,
  coefficients: (node) => (isVarying(node.t) ? [] : [node.t]),
  check({ a, b, t, zero }, rules) {
    if (a.value.type !== b.value.type) {
      rules.report(b.expr, 'error', 'type-mismatch', `slerp() interpolates two values of one kind: a is a ${typeName(a.value)} but b is a ${typeName(b.value)}`);
      return { type: 'error' };
    }
    const aligned = rules.align([a, b]);
    if (!aligned) return { type: 'error' };
    const [va, vb] = aligned as [typeof a.value, typeof b.value];
    return rules.derive<SlerpNode>({ op: 'slerp', a: va.node, b: vb.node, t, ...(zero === 'angle' ? { zero: 'angle' as const } : {}) }, [va, vb], { kind: va.type, coefficients: isVarying(t) ? [] : [t] });
  },
  children: (node) => [node.a, node.b],
  structure: (node, key) => ({ op: 'slerp', t: isVarying(node.t) ? node.t : key.at(node.t), a: key.ref(node.a), b: key.ref(node.b), ...(node.zero ? { zero: node.zero } : {}) }),
  anchors: (node, at) => [at(node.t, node.range) <= 0.5 ? node.a : node.b],
  lower(node, b) {
    const t = b.at(node.t, node.range);
    const a = b.value(node.a);
    const c = b.value(node.b);
    if (t === 0 || t === 1) return b.linear([{ coef: 1 - t, arg: a }, { coef: t, arg: c }]);
    // A side that is all zero has no direction: linear, as for colinear inputs, or at a right angle as mergekit.
    if (a === null || c === null) {
      const [s0, s1] = node.zero === 'angle' ? [Math.cos((t * Math.PI) / 2), Math.sin((t * Math.PI) / 2)] : [1 - t, t];
      return b.linear([{ coef: s0, arg: a }, { coef: s1, arg: c }]);
    }
    return b.slerp(a, c, t, { zeroAngle: node.zero === 'angle' });
  },
});
