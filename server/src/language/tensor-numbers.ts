// Numbers that vary by tensor: a method argument given as a gradient over layers
// (`density=[0.2, 0.5]`) or by tensor-name filters (`by_tensor("self_attn", [0, 1], default=0.5)`),
// with mergekit's meaning so that its configurations import unchanged. Pure: the checker
// builds these values, the planner evaluates them per tensor, hover lists them.

/** One filter of a per-tensor number: tensors whose name contains `filter` (every tensor when null) take `values`. */
export type TensorRule = {
  readonly filter: string | null;
  /** One number, or a gradient: the numbers spread evenly over the layers, interpolated linearly between them. */
  readonly values: readonly number[];
};

/** A number given per tensor: the first rule whose filter a tensor name contains gives its value. */
export type TensorVarying = {
  readonly rules: readonly TensorRule[];
};

export type TensorNumber = number | TensorVarying;

export function isVarying(v: unknown): v is TensorVarying {
  return typeof v === 'object' && v !== null && 'rules' in v;
}

/**
 * A path segment `layers`, `layer`, `blocks` or `h`, then a whole-number segment, then more
 * of the path; segments separated by `.` or `/`. The first such pair in the name wins.
 */
const LAYER_INDEX = /(?:^|[./])(?:layers|layer|blocks|h)[./](\d+)[./]/;

/** The layer index a tensor name gives (`model.layers.3.mlp.up_proj.weight` -> 3), if any. */
export function layerIndex(name: string): number | undefined {
  const match = LAYER_INDEX.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** 1 + the deepest layer index among `names`; 0 when no name gives one. */
export function layersInNames(names: Iterable<string>): number {
  let deepest = -1;
  for (const name of names) deepest = Math.max(deepest, layerIndex(name) ?? -1);
  return deepest + 1;
}

/**
 * Where a tensor sits along a gradient, from 0 to 1: l / (L - 1) for layer l of L; 1 when
 * there is one layer; 0 for a tensor whose name gives no layer index (embeddings, final
 * norm, head). These are mergekit's positions, so its gradients give the same numbers.
 */
export function gradientPosition(name: string, layers: number): number {
  const layer = layerIndex(name);
  if (layer === undefined) return 0;
  return layers > 1 ? Math.min(1, layer / (layers - 1)) : 1;
}

/** The value of a gradient at position t in [0, 1]. */
export function gradientAt(values: readonly number[], t: number): number {
  if (values.length === 1) return values[0]!;
  const scaled = t * (values.length - 1);
  const i0 = Math.floor(scaled);
  const i1 = Math.min(values.length - 1, i0 + 1);
  const frac = scaled - i0;
  return (1 - frac) * values[i0]! + frac * values[i1]!;
}

/** The rule that gives a tensor its value: the first whose filter its name contains. */
export function ruleFor(v: TensorVarying, name: string): TensorRule | undefined {
  return v.rules.find((rule) => rule.filter === null || rule.filter === '*' || name.includes(rule.filter));
}

/**
 * The number for tensor `name` of a value whose model has `layers` layers. The checker ends
 * every rule list with an unfiltered rule (the method's default when none was given), so
 * some rule always matches.
 */
export function valueFor(v: TensorNumber, name: string, layers: number): number {
  if (!isVarying(v)) return v;
  const rule = ruleFor(v, name);
  return rule ? gradientAt(rule.values, gradientPosition(name, layers)) : Number.NaN;
}

/** Every number a value can take (a gradient stays within its numbers). */
export function numbersOf(v: TensorNumber): readonly number[] {
  return isVarying(v) ? v.rules.flatMap((rule) => rule.values) : [v];
}

/** A per-tensor number whose every rule gives one constant everywhere is that number (so a plain list of one behaves as the number). */
export function simplified(v: TensorVarying): TensorNumber {
  const [first] = v.rules;
  return v.rules.length === 1 && first!.filter === null && first!.values.length === 1 ? first!.values[0]! : v;
}

/** Tensors that take one value, for hover: the rule, the layer (if any) and how many tensors. */
export interface ValueGroup {
  /** The rule's filter; null for the unfiltered rule that ends the list. */
  readonly filter: string | null;
  readonly layer: number | undefined;
  readonly value: number;
  readonly tensors: number;
}

/** The values a per-tensor number gives the tensors `names`, one group per rule and layer, in rule then layer order. */
export function valueGroups(v: TensorVarying, names: Iterable<string>, layers: number): readonly ValueGroup[] {
  const groups = new Map<string, { filter: string | null; layer: number | undefined; value: number; tensors: number; order: number }>();
  for (const name of names) {
    const rule = ruleFor(v, name);
    const ruleIndex = rule ? v.rules.indexOf(rule) : v.rules.length;
    const layer = layerIndex(name);
    const key = `${ruleIndex}:${layer ?? -1}`;
    const group = groups.get(key);
    if (group) {
      group.tensors++;
      continue;
    }
    groups.set(key, { filter: rule?.filter ?? null, layer, value: valueFor(v, name, layers), tensors: 1, order: ruleIndex * 1e6 + (layer ?? -1) });
  }
  return [...groups.values()].sort((a, b) => a.order - b.order).map(({ filter, layer, value, tensors }) => ({ filter, layer, value, tensors }));
}

