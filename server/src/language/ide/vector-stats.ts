// Norms and cosine similarities of task vectors, from Gram matrices of checkpoint
// differences (computed elsewhere by streaming the files). A vector that is a linear
// combination of loaded checkpoints, sum c_i M_i with sum c_i = 0, equals
// sum c_i (M_i - R) for any reference R in its group, so its norm and its inner
// products with other vectors follow from <M_i - R, M_j - R> by algebra alone. A LoRA
// adapter's norm comes from its factors (checkpoints/lora-norm.ts), computed elsewhere too.
import type { GramResult, LoraNorms } from '../../checkpoints/statistics.ts';
import type { LoraNode } from '../../methods/lora.ts';
import type { Analysis } from '../analysis.ts';
import { baseModel } from '../base-model.ts';
import * as P from '../poly.ts';
import type { LoadNode, TensorTable, WeightNode } from '../program.ts';
import type { Binding } from '../names.ts';
import type { WeightsValue } from '../values.ts';

/** A background computation not (yet) giving its result. */
export type PendingLookup =
  | { readonly status: 'computing'; readonly fraction: number }
  | { readonly status: 'failed'; readonly message: string };

export type GramLookup = { readonly status: 'ready'; readonly gram: GramResult } | PendingLookup;

export type LoraNormLookup = { readonly status: 'ready'; readonly norms: LoraNorms } | PendingLookup;

/** Where the IDE finds Gram results and LoRA norms; the language server backs it with workers and caches. */
export interface StatsSource {
  /** `paths` as returned by `statsGroups` (reference first). Undefined when never requested. */
  lookup(paths: readonly string[]): GramLookup | undefined;
  /** The norms of the LoRA adapter folder `path` (a LoraNode's), as `loraAdapters` lists them. Undefined when never requested; absent where LoRA norms are not computed. */
  loraNorms?(path: string): LoraNormLookup | undefined;
}

export interface StatsGroup {
  /** Absolute checkpoint paths, the reference first: the group's base (base-model.ts) when it has one, else in path order. */
  readonly paths: readonly string[];
}

export interface VectorBinding {
  readonly binding: Binding;
  readonly value: WeightsValue;
  /** Constant coefficient per load; undefined when the vector depends on a sweep or is not linear. */
  readonly coefficients: ReadonlyMap<LoadNode, number> | undefined;
}

const vectorBindingCache = new WeakMap<Analysis, VectorBinding[]>();

/** The task vectors of a recipe (bindings whose value is a Vector), with their linear expansions; computed once per analysis. */
export function vectorBindings(analysis: Analysis): VectorBinding[] {
  const cached = vectorBindingCache.get(analysis);
  if (cached) return cached;
  const out: VectorBinding[] = [];
  for (const binding of analysis.resolution.bindings) {
    const value = analysis.checked.values.get(binding);
    if (!value || value.type !== 'vector') continue;
    out.push({ binding, value, coefficients: constantCoefficients(value) });
  }
  vectorBindingCache.set(analysis, out);
  return out;
}

function constantCoefficients(value: WeightsValue): Map<LoadNode, number> | undefined {
  if (!value.linear) return undefined;
  const out = new Map<LoadNode, number>();
  for (const [node, coef] of value.linear) {
    const c = P.asConstant(coef);
    if (c === undefined || node.op !== 'load') return undefined;
    out.set(node, c);
  }
  return out;
}

/**
 * Groups of checkpoints whose Gram matrices answer every norm and similarity of the
 * recipe's linear task vectors: loads that appear in one vector, or in vectors with
 * the same tensor table, share a group.
 */
export function statsGroups(analysis: Analysis): StatsGroup[] {
  const parent = new Map<LoadNode, LoadNode>();
  const find = (x: LoadNode): LoadNode => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const union = (a: LoadNode, b: LoadNode): void => {
    parent.set(find(a), find(b));
  };
  // Vectors over the same tensors (after select/exclude) can be compared, so their
  // checkpoints share a group: the Gram pass then covers the tensors all of them share.
  const bySignature = new Map<string, LoadNode>();
  for (const v of vectorBindings(analysis)) {
    if (!v.coefficients) continue;
    const loads = [...v.coefficients.keys()].filter((l) => l.header);
    if (loads.length === 0) continue;
    for (const l of loads) if (!parent.has(l)) parent.set(l, l);
    for (let i = 1; i < loads.length; i++) union(loads[0]!, loads[i]!);
    const signature = tableSignature(v.value.node.table);
    const other = bySignature.get(signature);
    if (other) union(loads[0]!, other);
    else bySignature.set(signature, loads[0]!);
  }
  const groups = new Map<LoadNode, LoadNode[]>();
  for (const l of parent.keys()) {
    const root = find(l);
    groups.set(root, [...(groups.get(root) ?? []), l]);
  }
  const result: StatsGroup[] = [];
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    // Differences from the base are the task vectors themselves: small, so their Gram matrices lose the least precision.
    const inGroup = new Set<WeightNode>(members);
    const base = baseModel(analysis.checked.taskVectors, (model) => inGroup.has(model))?.node;
    members.sort((a, b) => Number(b === base) - Number(a === base) || a.path.localeCompare(b.path));
    result.push({ paths: members.map((m) => m.path) });
  }
  return result;
}

/** The LoRA adapters whose norms the recipe's hovers show: those bound to a name as they are, one per folder. */
export function loraAdapters(analysis: Analysis): LoraNode[] {
  const byPath = new Map<string, LoraNode>();
  for (const v of vectorBindings(analysis)) if (v.value.node.op === 'lora' && v.value.node.header) byPath.set(v.value.node.path, v.value.node);
  return [...byPath.values()];
}

function tableSignature(table: TensorTable | undefined): string {
  return [...(table ?? [])].map(([name, spec]) => `${name}:${spec.shape.join('x')}`).join(',');
}

export interface TensorNormEntry {
  readonly name: string;
  readonly norm: number;
  readonly elements: number;
}

export interface VectorStats {
  readonly norm: number;
  /** Largest first. */
  readonly tensors: readonly TensorNormEntry[];
  readonly parameters: number;
}

export type StatsState<T> =
  | { readonly status: 'ready'; readonly value: T }
  | { readonly status: 'computing'; readonly fraction: number }
  | { readonly status: 'unavailable'; readonly reason: string };

interface Located {
  readonly gram: GramResult;
  readonly coefficients: Float64Array;
  readonly tensorNames: ReadonlySet<string> | undefined;
}

function locate(vector: VectorBinding, groups: readonly StatsGroup[], source: StatsSource): StatsState<Located> {
  if (!vector.coefficients) {
    return { status: 'unavailable', reason: vector.value.linear ? 'its coefficients depend on a sweep' : 'it is not a linear combination of checkpoints (norms of merged vectors are known after a run)' };
  }
  const paths = [...vector.coefficients.keys()].map((l) => l.path);
  const group = groups.find((g) => paths.every((p) => g.paths.includes(p)));
  if (!group) return { status: 'unavailable', reason: 'its checkpoints could not be read' };
  const lookup = source.lookup(group.paths);
  if (!lookup) return { status: 'computing', fraction: 0 };
  if (lookup.status === 'computing') return lookup;
  if (lookup.status === 'failed') return { status: 'unavailable', reason: lookup.message };
  // Row i of the matrices is M_i - R: path index i, shifted by one when R's own row is absent.
  const coefficients = new Float64Array(lookup.gram.size);
  const shift = lookup.gram.includesReference ? 0 : 1;
  for (const [load, c] of vector.coefficients) {
    // By the group's own paths: the Gram's are resolved (a model folder's is its model.safetensors).
    const index = group.paths.indexOf(load.path);
    if (index > 0) coefficients[index - shift] = c;
  }

  const table = vector.value.node.table;
  return { status: 'ready', value: { gram: lookup.gram, coefficients, tensorNames: table ? new Set(table.keys()) : undefined } };
}

/** a^T G b; R's own row (if present) has coefficient 0, so it drops out. */
function quadratic(gram: Float64Array, m: number, a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < m; i++) {
    if (a[i] === 0) continue;
    // Zero coefficients are skipped on both sides: 0 * Infinity would make every vector of a
    // Gram group NaN once one checkpoint in it holds an infinite value.
    for (let j = 0; j < m; j++) if (b[j] !== 0) sum += a[i]! * b[j]! * gram[i * m + j]!;
  }
  return sum;
}

export function vectorStats(vector: VectorBinding, groups: readonly StatsGroup[], source: StatsSource): StatsState<VectorStats> {
  if (vector.value.node.op === 'lora') return loraStats(vector.value.node, source);
  const located = locate(vector, groups, source);
  if (located.status !== 'ready') return located;
  const { gram, coefficients, tensorNames } = located.value;
  return {
    status: 'ready',
    value: summarize(gram.tensors.filter((t) => !tensorNames || tensorNames.has(t.name)).map((t) => ({
      name: t.name,
      squared: Math.max(0, quadratic(t.gram, gram.size, coefficients, coefficients)),
      elements: t.elements,
    }))),
  };
}

/** A LoRA adapter's ΔW per module, from the norms computed from its factors. */
function loraStats(node: LoraNode, source: StatsSource): StatsState<VectorStats> {
  if (!source.loraNorms) return { status: 'unavailable', reason: 'norms of LoRA adapters are computed by the language server' };
  const lookup = source.loraNorms(node.path);
  if (!lookup) return { status: 'computing', fraction: 0 };
  if (lookup.status === 'computing') return lookup;
  if (lookup.status === 'failed') return { status: 'unavailable', reason: lookup.message };
  return {
    status: 'ready',
    value: summarize(lookup.norms.modules.map((m) => ({ name: m.tensor, squared: m.squaredNorm, elements: m.elements }))),
  };
}

/** The norm of a vector from its tensors' squared norms, the tensors largest first. */
function summarize(squares: readonly { readonly name: string; readonly squared: number; readonly elements: number }[]): VectorStats {
  const tensors = squares.map((t): TensorNormEntry => ({ name: t.name, norm: Math.sqrt(t.squared), elements: t.elements }));
  tensors.sort((a, b) => b.norm - a.norm);
  return {
    norm: Math.sqrt(squares.reduce((sum, t) => sum + t.squared, 0)),
    tensors,
    parameters: squares.reduce((sum, t) => sum + t.elements, 0),
  };
}

/** Cosine similarity over the tensors both vectors keep. */
export function cosineSimilarity(a: VectorBinding, b: VectorBinding, groups: readonly StatsGroup[], source: StatsSource): StatsState<number> {
  const la = locate(a, groups, source);
  const lb = locate(b, groups, source);
  if (la.status !== 'ready') return la;
  if (lb.status !== 'ready') return lb;
  if (la.value.gram !== lb.value.gram) return { status: 'unavailable', reason: 'the vectors come from checkpoints of different shapes' };
  const { gram } = la.value;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const t of gram.tensors) {
    if (la.value.tensorNames && !la.value.tensorNames.has(t.name)) continue;
    if (lb.value.tensorNames && !lb.value.tensorNames.has(t.name)) continue;
    dot += quadratic(t.gram, gram.size, la.value.coefficients, lb.value.coefficients);
    na += quadratic(t.gram, gram.size, la.value.coefficients, la.value.coefficients);
    nb += quadratic(t.gram, gram.size, lb.value.coefficients, lb.value.coefficients);
  }
  if (na <= 0 || nb <= 0) return { status: 'unavailable', reason: 'one of the vectors is zero' };
  return { status: 'ready', value: dot / Math.sqrt(na * nb) };
}

/** The vector binding a name or definition denotes, if any. */
export function vectorBindingFor(analysis: Analysis, binding: Binding): VectorBinding | undefined {
  return vectorBindings(analysis).find((v) => v.binding === binding);
}

