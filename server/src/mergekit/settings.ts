// mergekit's parameter settings (a number, a gradient list, or a list of {filter, value})
// and tvr's per-tensor numbers are the same thing written two ways (language/tensor-numbers.ts
// evaluates both with mergekit's rules): these convert between them and write tvr's form.
import { isVarying, type TensorNumber, type TensorRule } from '../language/tensor-numbers.ts';

/** A mergekit setting as YAML-ready data: a number, a gradient, or filter entries (the unfiltered one without `filter`). */
export type MergekitSetting = number | number[] | { filter?: string; value: number | number[] }[];

export function toMergekit(v: TensorNumber): MergekitSetting {
  if (!isVarying(v)) return v;
  const [only] = v.rules;
  if (v.rules.length === 1 && only!.filter === null) return gradient(only!.values);
  return v.rules.map((rule) => (rule.filter === null ? { value: gradient(rule.values) } : { filter: rule.filter, value: gradient(rule.values) }));
}

const gradient = (values: readonly number[]): number | number[] => (values.length === 1 ? values[0]! : [...values]);

/** A setting as tvr writes it: `0.5`, `[0.2, 0.8]`, or `by_tensor("self_attn", [0, 1], default=0.5)`. */
export function tvrText(v: TensorNumber, format: (x: number) => string = String): string {
  if (!isVarying(v)) return format(v);
  const values = (rule: TensorRule) => (rule.values.length === 1 ? format(rule.values[0]!) : `[${rule.values.map(format).join(', ')}]`);
  const [only] = v.rules;
  if (v.rules.length === 1 && only!.filter === null) return values(only!);
  const filtered = v.rules.filter((rule) => rule.filter !== null).flatMap((rule) => [JSON.stringify(rule.filter), values(rule)]);
  const fallback = v.rules.find((rule) => rule.filter === null);
  return `by_tensor(${[...filtered, ...(fallback ? [`default=${values(fallback)}`] : [])].join(', ')})`;
}

/** The same setting with every number mapped (dare's p = 1 - density). */
export function mapSetting(v: TensorNumber, f: (x: number) => number): TensorNumber {
  return isVarying(v) ? { rules: v.rules.map((rule) => ({ filter: rule.filter, values: rule.values.map(f) })) } : f(v);
}
