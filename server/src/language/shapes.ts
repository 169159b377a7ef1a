// Tensor tables: comparison for shape checking, and narrowing by name patterns.
import type { Dtype } from '../checkpoints/types.ts';
import type { TensorSpec, TensorTable } from './program.ts';

const floatDtypes: ReadonlySet<Dtype> = new Set(['F16', 'BF16', 'F32', 'F64']);

export function isFloat(dtype: Dtype): boolean {
  return floatDtypes.has(dtype);
}

export interface TensorDifference {
  readonly name: string;
  /** Undefined when the tensor is missing on that side. */
  readonly left?: TensorSpec;
  readonly right?: TensorSpec;
}

export interface TableComparison {
  readonly count: number;
  /** The first few differences, in the left table's order then the right's. */
  readonly first: readonly TensorDifference[];
}

/** Tables match when they have the same names and shapes, and each tensor is float on both sides or neither. */
export function compareTables(left: TensorTable, right: TensorTable, keep = 3): TableComparison | undefined {
  if (left === right || signature(left) === signature(right)) return undefined;
  const first: TensorDifference[] = [];
  let count = 0;
  const note = (d: TensorDifference): void => {
    count++;
    if (first.length < keep) first.push(d);
  };
  for (const [name, l] of left) {
    const r = right.get(name);
    if (!r) note({ name, left: l });
    else if (!sameShape(l.shape, r.shape) || isFloat(l.dtype) !== isFloat(r.dtype)) note({ name, left: l, right: r });
  }
  for (const [name, r] of right) if (!left.has(name)) note({ name, right: r });
  return count === 0 ? undefined : { count, first };
}

/**
 * Where a partial table (a Vector of some tensors only, zero elsewhere) does not fit `full`:
 * its tensors that `full` lacks or holds in another shape. In each difference `right` is the
 * partial side's spec, `left` the full side's.
 */
export function compareCovered(partial: TensorTable, full: TensorTable, keep = 3): TableComparison | undefined {
  return collect(partial, keep, (name) => full.get(name), true);
}

/** Where two partial tables disagree on a tensor both hold (`right` is `here`'s spec). */
export function compareShared(here: TensorTable, there: TensorTable, keep = 3): TableComparison | undefined {
  return collect(here, keep, (name) => there.get(name), false);
}

function collect(here: TensorTable, keep: number, there: (name: string) => TensorSpec | undefined, missingDiffers: boolean): TableComparison | undefined {
  const first: TensorDifference[] = [];
  let count = 0;
  for (const [name, spec] of here) {
    const other = there(name);
    const differs = other ? !sameShape(spec.shape, other.shape) || isFloat(spec.dtype) !== isFloat(other.dtype) : missingDiffers;
    if (!differs) continue;
    count++;
    if (first.length < keep) first.push(other ? { name, left: other, right: spec } : { name, right: spec });
  }
  return count === 0 ? undefined : { count, first };
}

/** The tensors of both partial tables (which compareShared accepts), `a`'s first. */
export function unionTables(a: TensorTable, b: TensorTable): TensorTable {
  if (a === b) return a;
  const union = new Map(a);
  for (const [name, spec] of b) if (!union.has(name)) union.set(name, spec);
  return union;
}

const signatures = new WeakMap<TensorTable, string>();

/** A string equal for two tables exactly when they match (names, shapes, float or not). */
function signature(table: TensorTable): string {
  let s = signatures.get(table);
  if (s === undefined) {
    s = [...table].map(([name, spec]) => `${name}:${spec.shape.join('x')}:${isFloat(spec.dtype) ? 'f' : 'i'}`).join('\n');
    signatures.set(table, s);
  }
  return s;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function formatSpec(spec: TensorSpec): string {
  return `[${spec.shape.join(', ')}] ${spec.dtype}`;
}

/** `"encoder/kernel" is [784, 256] F32 here but [784, 128] F32 in base` style text for one difference. */
export function describeDifference(d: TensorDifference, here: string, there: string): string {
  if (!d.right) return `"${d.name}" is missing ${here}`;
  if (!d.left) return `"${d.name}" is missing ${there}`;
  return `"${d.name}" is ${formatSpec(d.right)} ${here} but ${formatSpec(d.left)} ${there}`;
}

/** Compiles a glob (`*` any run, `?` one character) into an anchored regular expression. */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const c of pattern) {
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export interface Narrowed {
  readonly table: TensorTable;
  /** Patterns that matched no tensor (likely typos). */
  readonly unmatched: readonly string[];
}

export function narrowTable(table: TensorTable, include: readonly string[] | null, exclude: readonly string[]): Narrowed {
  const includeRes = include?.map(globToRegExp) ?? null;
  const excludeRes = exclude.map(globToRegExp);
  const used = new Set<number>();
  const usedExclude = new Set<number>();
  const out = new Map<string, TensorSpec>();
  for (const [name, spec] of table) {
    let kept = includeRes === null;
    includeRes?.forEach((re, i) => {
      if (re.test(name)) {
        kept = true;
        used.add(i);
      }
    });
    excludeRes.forEach((re, i) => {
      if (re.test(name)) {
        usedExclude.add(i);
        kept = false;
      }
    });
    if (kept) out.set(name, spec);
  }
  const unmatched = [
    ...(include ?? []).filter((_, i) => !used.has(i)),
    ...exclude.filter((_, i) => !usedExclude.has(i)),
  ];
  return { table: out, unmatched };
}
