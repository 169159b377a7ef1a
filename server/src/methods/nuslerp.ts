// NuSLERP, as mergekit's `nuslerp` merges with nuslerp_flatten: true (its default): SLERP
// of two flattened tensors with mergekit's own guards, which are not those of its `slerp`
// (slerp.ts): norms floored at 1e-7 instead of a zero tensor falling back to linear, and
// linear interpolation only where sin(angle) < 1e-8 instead of |cos| > 0.9995. The
// coefficients come from the Gram matrix of the two (one pass); the output is one linear node.
import type { Poly } from '../language/poly.ts';
import type { NodeBase, WeightNode } from '../language/program.ts';
import { typeName } from '../language/values.ts';
import { norms, type Gram } from './gram.ts';
import { defineMethod, type Method } from './method.ts';

export interface NuslerpNode extends NodeBase {
  readonly op: 'nuslerp';
  readonly a: WeightNode;
  readonly b: WeightNode;
  /** Interpolation position, possibly a sweep. */
  readonly t: Poly;
}

/** mergekit's floor under each norm when normalising. */
const NORM_FLOOR = 1e-7;
/** Below this |sin(angle)| the two are colinear and interpolated linearly (mergekit's eps). */
const COLINEAR_SIN = 1e-8;

/** The coefficients of a and b at t from their 2 x 2 Gram matrix. */
export function nuslerpCoefficients(gram: Gram, t: number): [number, number] {
  const [na, nb] = norms(gram).map((x) => Math.max(NORM_FLOOR, x)) as [number, number];
  const theta = Math.acos(Math.min(1, Math.max(-1, gram[0]![1]! / (na * nb))));
  const sin = Math.sin(theta);
  if (Math.abs(sin) < COLINEAR_SIN) return [1 - t, t];
  return [Math.sin((1 - t) * theta) / sin, Math.sin(t * theta) / sin];
}

export const nuslerp: Method<NuslerpNode> = defineMethod<NuslerpNode>()({
  name: 'nuslerp',
  params: {
    a: { type: 'weights', doc: 'Start point (t = 0).' },
    b: { type: 'weights', doc: 'End point (t = 1), of the same kind as `a`.' },
    t: { type: 'scalar', default: 0.5, min: 0, max: 1, doc: 'Interpolation position in [0, 1]; may be a sweep. mergekit\'s per-model weights w_a, w_b give t = w_b / (w_a + w_b) (0.5 where |w_a + w_b| < 1e-6).' },
  },
  returns: 'the kind of a and b',
  summary: 'NuSLERP: spherical interpolation of two flattened tensors, with mergekit\'s nuslerp guards.',
  doc: 'Per tensor, flattened, as mergekit\'s `nuslerp` (nuslerp_flatten: true): with cos = a.b / (max(|a|, 1e-7) max(|b|, 1e-7)) clamped to [-1, 1] and angle = acos(cos), the result is (sin((1 - t) angle) a + sin(t angle) b) / sin(angle), or (1 - t) a + t b where |sin(angle)| < 1e-8. Unlike `slerp` (mergekit\'s `slerp`), a zero tensor is not interpolated linearly (its cosine is 0: the other is scaled by sin(t pi/2)), and only exactly colinear tensors are (slerp: |cos| > 0.9995). The test runs in float64 on the Gram matrix, where mergekit\'s float32 cosine of equal tensors rarely reaches 1. mergekit\'s base_model is `base + nuslerp(a - base, b - base, t)`; nuslerp_row_wise (and flatten: false) is not offered.',
  example: 'mid = nuslerp(a, b, t=0.3)',
  reference: 'NuSLERP, as mergekit merges with it',
  tag: 'nuslerp',
  statistics: true,
  coefficients: (node) => [node.t],
  check({ a, b, t }, rules) {
    if (a.value.type !== b.value.type) {
      rules.report(b.expr, 'error', 'type-mismatch', `nuslerp() interpolates two values of one kind: a is a ${typeName(a.value)} but b is a ${typeName(b.value)}`);
      return { type: 'error' };
    }
    const aligned = rules.align([a, b]);
    if (!aligned) return { type: 'error' };
    const [va, vb] = aligned as [typeof a.value, typeof b.value];
    return rules.derive<NuslerpNode>({ op: 'nuslerp', a: va.node, b: vb.node, t }, [va, vb], { kind: va.type, coefficients: [t] });
  },
  children: (node) => [node.a, node.b],
  structure: (node, key) => ({ op: 'nuslerp', t: key.at(node.t), a: key.ref(node.a), b: key.ref(node.b) }),
  anchors: (node, at) => [at(node.t, node.range) <= 0.5 ? node.a : node.b],
  lower(node, b) {
    const t = b.at(node.t, node.range);
    const values = [b.value(node.a), b.value(node.b)];
    return b.gramCombination(node, values, values, (gram) => nuslerpCoefficients(gram, t));
  },
});
