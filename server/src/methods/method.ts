// A merge method as one module: its built-in (signature, documentation, typed defaults),
// its type rule, its children, its step in the results-cache key, where its output's
// anchor is looked for, and its lowering to plan operations. registry.ts collects them in
// one table typed over the node union; the checker, the planner and the run reach a
// method only through that table, so a method cannot be half added.
// A method module imports the engine's types only: the engine's operations reach it
// through the Lowering it is handed, so the language core still never loads engine code.
import type { CheckpointHeader } from '../checkpoints/types.ts';
import type { LoraProductSlot, MatrixRule, NodeRef } from '../engine/plan/types.ts';
import type { Builtin, Param } from '../language/builtins.ts';
import type { DiagnosticCode, Severity } from '../language/diagnostics.ts';
import * as P from '../language/poly.ts';
import type { MethodInput, NodeBase, Range, TensorTable, WeightKind, WeightNode } from '../language/program.ts';
import type { Expression, Span } from '../language/syntax-tree.ts';
import { simplified, type TensorNumber, type TensorVarying } from '../language/tensor-numbers.ts';
import { typeName, type Value, type WeightsValue } from '../language/values.ts';

/**
 * What a results-cache key is made of: JSON without `undefined`, which JSON.stringify
 * would write as null (in arrays) or drop (in objects), so two different values could
 * share a key.
 */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

interface ParamFacts {
  readonly doc: string;
  /** Only by keyword (every parameter after a variadic one is). */
  readonly keywordOnly?: boolean;
}

interface NumberBounds {
  readonly min?: number;
  readonly max?: number;
  /** Smallest excluded bound, e.g. p < 1. */
  readonly below?: number;
  readonly above?: number;
  /** A whole number that a 64-bit float holds exactly. */
  readonly integer?: boolean;
}

/** A method's parameter, with its default as the value the method computes with. */
export type MethodParam =
  | ParamFacts & { readonly type: 'model' | 'vector' | 'weights'; readonly variadic?: boolean }
  /**
   * A number known at check time; with `perTensor`, it may vary by tensor (a gradient over
   * layers or by_tensor(...)), and the node keeps it under the parameter's name (hover lists
   * its values per tensor group from there).
   */
  | ParamFacts & NumberBounds & { readonly type: 'number'; readonly default: number; readonly perTensor?: true }
  /** A number that may be a sweep; with `perTensor`, it may instead vary by tensor. */
  | ParamFacts & NumberBounds & { readonly type: 'scalar'; readonly default: number; readonly perTensor?: true }
  | ParamFacts & { readonly type: 'string' }
  /** A list of fixed numbers (no sweeps); omitted, it is undefined. */
  | ParamFacts & { readonly type: 'numbers' }
  | ParamFacts & { readonly type: 'bool'; readonly default: boolean }
  /** One of a few strings, such as a semantics to follow. */
  | ParamFacts & { readonly type: 'choice'; readonly choices: readonly string[]; readonly default: string };

export type MethodParams = Readonly<Record<string, MethodParam>>;

/** A bound Model or Vector argument and where it is written (diagnostics point at it). */
export interface WeightsArg {
  readonly expr: Expression;
  readonly value: WeightsValue;
}

export interface NumbersArg {
  readonly expr: Expression;
  readonly value: readonly number[];
}

export interface StringArg {
  readonly expr: Expression;
  readonly value: string;
}

type ArgValue<Q extends MethodParam> =
  Q extends { readonly type: 'model' | 'vector' | 'weights' } ? (Q extends { readonly variadic: true } ? readonly WeightsArg[] : WeightsArg)
  : Q extends { readonly type: 'number'; readonly perTensor: true } ? TensorNumber
  : Q extends { readonly type: 'number' } ? number
  : Q extends { readonly type: 'scalar'; readonly perTensor: true } ? P.Poly | TensorVarying
  : Q extends { readonly type: 'scalar' } ? P.Poly
  : Q extends { readonly type: 'string' } ? StringArg
  : Q extends { readonly type: 'numbers' } ? NumbersArg | undefined
  : Q extends { readonly type: 'bool' } ? boolean
  : Q extends { readonly type: 'choice'; readonly choices: readonly (infer C)[] } ? C
  : never;

/** A call's arguments by parameter name, typed, defaults applied. */
export type MethodArgs<Q extends MethodParams> = { readonly [K in keyof Q]: ArgValue<Q[K]> };

/** Arguments as the checker binds them for any built-in (already checked against the parameters). */
export interface BoundArguments {
  readonly values: ReadonlyMap<string, { readonly expr: Expression; readonly value: Value }>;
  readonly variadic: readonly { readonly expr: Expression; readonly value: Value }[];
}

/** The fields a method sets on its node; the checker adds id, kind, table and range. */
export type NodeFields<N extends NodeBase> = Omit<N, keyof NodeBase>;

/** What a method's type rule may ask of the checker. */
export interface TypeRules {
  /** The values with one tensor table (a tied model meeting untied ones is untied), or undefined after reporting why they cannot have one. */
  align(items: readonly WeightsArg[]): readonly WeightsValue[] | undefined;
  /**
   * The value of a new node computed from `inputs`: a Vector unless `kind` says otherwise,
   * over the first input's tensor table, depending on the inputs' sweeps and those of
   * `coefficients`; an error value after reporting a chain too deep or a scale that overflows.
   */
  derive<N extends NodeBase>(fields: NodeFields<N>, inputs: readonly WeightsValue[], options?: { readonly kind?: WeightKind; readonly coefficients?: readonly P.Poly[] }): Value;
  report(span: Span, severity: Severity, code: DiagnosticCode, message: string): void;
  /**
   * The header of what a path argument names (relative to the recipe), read elsewhere: a
   * missing or broken file is reported at the argument. The header is undefined while it is
   * being read (the recipe is checked again then) or when it could not be read.
   */
  input(path: StringArg): { readonly path: string; readonly header: CheckpointHeader | undefined };
  /**
   * The value of a new node that reads the file at `path` (one node per path): a partial
   * Vector over `table`, zero outside it, which adds to any value holding those tensors.
   */
  source<N extends NodeBase & MethodInput>(fields: NodeFields<N>, table: TensorTable | undefined): Value;
}

/** A LoRA module's factors and scale, as the plan reads them. */
export type LoraFactorsOf = Pick<LoraProductSlot, 'a' | 'b' | 'scale' | 'transposed'>;

/** How a method's step of a results-cache key names the rest of the key. */
export interface StructureKey {
  /** The index of a child's step. */
  ref(child: WeightNode): number;
  /** A coefficient at the point being keyed. */
  at(coefficient: P.Poly): number;
}

/**
 * The plan operations a method's lowering builds one output tensor's program from (the
 * engine's TensorBuilder). `null` stands for an all-zero value.
 */
export interface Lowering {
  /** The tensor being built: its name keys random draws, its size turns densities into counts. */
  readonly tensor: string;
  readonly elements: number;
  readonly shape: readonly number[];
  /** A child's value for this tensor. */
  value(child: WeightNode): NodeRef | null;
  /** A coefficient at the run's sweep point, or a per-tensor argument's number for this tensor. */
  at(coefficient: P.Poly | TensorNumber, range: Range): number;
  /** sum coef * arg, with zero terms dropped and a single unit term returned as it is. */
  linear(terms: readonly { readonly coef: number; readonly arg: NodeRef | null }[]): NodeRef | null;
  /**
   * arg where |arg| >= the exact k-th largest |arg| of the tensor, else 0: every element tied
   * with the k-th is kept too; NaN is never kept. k = 0 gives null, k >= elements arg itself.
   */
  keepLargest(arg: NodeRef, k: number): NodeRef | null;
  /** Each element's sign elected by the sign of the sum of `args`; the mean of the args non-zero with that sign (0 where none). */
  disjointMean(args: readonly NodeRef[]): NodeRef;
  /** Each element kept with probability 1 - p by a counter-based draw keyed by (seed, tensor, element), survivors times 1/(1-p). */
  dropAndRescale(arg: NodeRef, p: number, seed: number): NodeRef;
  /** mergekit's SLERP of two tensors at t, from their norms and dot product (a zero tensor: linear, or at a right angle with `zeroAngle`). */
  slerp(a: NodeRef, b: NodeRef, t: number, options?: { readonly zeroAngle?: boolean }): NodeRef;
  /** A standard normal direction (keyed by seed and tensor) scaled to the L2 norm of `norm`. */
  randomLike(norm: NodeRef, seed: number): NodeRef;
  /**
   * sum c_i * terms[i], where c = rule(G) is computed after a pass from the Gram matrix G of
   * `args` (G[i][j] = args[i] . args[j], float64 sums over the tensor; a null arg's row is
   * 0): c holds a coefficient per term. An `error` from the rule stops the run with it,
   * naming the node's line and the tensor. Null terms are dropped; all null gives null.
   */
  gramCombination(node: WeightNode, args: readonly (NodeRef | null)[], terms: readonly (NodeRef | null)[], rule: (gram: number[][]) => GramCoefficients): NodeRef | null;
  /**
   * arg where at least `min` of the pairs vote for the element, else 0: a pair votes where
   * |a| > scale * |b| (the product rounded to float32, as torch computes it); null is 0.
   */
  voteMask(arg: NodeRef | null, pairs: readonly { readonly a: NodeRef | null; readonly b: NodeRef | null }[], scale: number, min: number): NodeRef | null;
  /**
   * mergekit's sign consensus and weighted mean: each element's sign is + where the sum of
   * `args` is >= 0 (else -), and the result is sum w_i arg_i over the args of that sign divided
   * by max(the sum of their w_i, floor), with w = weigh(G), G the Gram matrix of `args` (as in
   * gramCombination, a weight per arg). Null args (zero) never have the sign; all null gives null.
   */
  electedMean(node: WeightNode, args: readonly (NodeRef | null)[], weigh: (gram: number[][]) => GramCoefficients, floor: number): NodeRef | null;
  /**
   * mergekit's generalized task arithmetic consensus over `args` weighted by `weights` (> 0):
   * each element's sign is that of sum w_i arg_i (+ where it is 0 unless `strict`, which elects
   * none there), and the result is the sum of the w_i arg_i of that sign, divided by their summed
   * w_i when `normalize`. Null args (zero) never have the sign; all null gives null.
   */
  signConsensus(args: readonly (NodeRef | null)[], weights: readonly number[], options: { readonly normalize: boolean; readonly strict: boolean }): NodeRef | null;
  /** Each element's population variance over `args` (null args are zeros, counted); null when all are. */
  variance(args: readonly (NodeRef | null)[]): NodeRef | null;
  /** A LoRA module's ΔW = scale · B·A for this tensor (transposed where the base stores [in, out]), computed chunk by chunk from the factors. */
  loraProduct(factors: LoraFactorsOf, adapter: { readonly path: string; readonly range: Range }): NodeRef;
  /**
   * A 2-D tensor (or the tensor as `options.shape`) computed whole by `rule` from the values
   * of `args` (null: zero), for methods that decompose matrices or rank within rows. Each
   * argument must be a linear combination of the inputs (task vectors such as ft - base, LoRA
   * adapters), which are read whole in float64; null when every argument is zero. The rule's
   * random draws are keyed by `options.seed` and the tensor.
   */
  wholeMatrix(node: WeightNode, args: readonly (NodeRef | null)[], rule: MatrixRule, options?: WholeMatrixOptions): NodeRef | null;
  /** Ends planning with an error at the node's line. */
  fail(node: WeightNode, message: string): never;
}

/** The rows and columns a whole-matrix rule sees (a 1-D tensor as one row), and the seed of its draws (0 unless given). */
export interface WholeMatrixOptions {
  readonly shape?: readonly [number, number];
  readonly seed?: number;
}

/** What a Gram rule gives: a coefficient per term, or why the tensor has no value. */
export type GramCoefficients = readonly number[] | { readonly error: string };

/** Everything about one method, as its module writes it. */
export interface MethodSpec<N extends NodeBase & { readonly op: string }, Q extends MethodParams> {
  /** The built-in's name and its node's `op`. */
  readonly name: N['op'];
  /** In signature order (positional parameters first). */
  readonly params: Q;
  /** Display form of the result type. */
  readonly returns: string;
  readonly summary: string;
  /** Markdown, a paragraph or two. */
  readonly doc: string;
  readonly example: string;
  readonly reference?: string;
  /** The Hugging Face Hub tag a model card gives a model made with it. */
  readonly tag: string;
  /** Its lowering needs a statistic of its input (a top-k threshold, norms): the engine reads the inputs once more. */
  readonly statistics: boolean;
  /** How far it can scale its inputs' values (the checker bounds overflow with it); 1 when it cannot enlarge them. */
  readonly gain?: (node: N) => number;
  /** The seed of its random draws, recorded in every output's provenance. */
  readonly seed?: (node: N) => number;
  /** Coefficients of the node that may depend on sweeps. */
  readonly coefficients?: (node: N) => readonly P.Poly[];
  /** Files it reads itself (not through its children), for provenance. */
  readonly inputs?: (node: N) => readonly MethodInput[];
  /** What hover says about a value it made, beyond its tensor table (plain text lines). */
  readonly facts?: (node: N) => readonly string[];
  /** A note on one of its tensors for a shape diagnostic (where the tensor's shape comes from). */
  readonly explain?: (node: N, tensor: string) => string | undefined;
  /** The type rule: the value of a call with these arguments, or an error value after reporting why. */
  check(args: MethodArgs<Q>, rules: TypeRules): Value;
  /** The nodes its value is computed from. */
  children(node: N): readonly WeightNode[];
  /** Its step of a results-cache key: everything its value depends on besides its children's steps. */
  structure(node: N, key: StructureKey): Json;
  /** Where the anchor of an output tensor is looked for below it, best first. */
  anchors(node: N, at: (coefficient: P.Poly | TensorNumber, range: Range) => number): readonly WeightNode[];
  lower(node: N, b: Lowering): NodeRef | null;
}

/** A method as the table holds it: its arguments bound by the checker, its built-in for completion, hover and docs. */
export interface Method<N extends NodeBase & { readonly op: string }> extends Omit<MethodSpec<N, MethodParams>, 'check' | 'params'> {
  readonly builtin: Builtin;
  check(args: BoundArguments, rules: TypeRules): Value;
}

/**
 * A method from its module's description: `defineMethod<TiesNode>()({...})` (the node type
 * is named, the parameters' types are read from the description).
 */
export function defineMethod<N extends NodeBase & { readonly op: string }>() {
  return <const Q extends MethodParams>(spec: MethodSpec<N, Q>): Method<N> => {
    const { check, params, ...rest } = spec;
    return {
      ...rest,
      builtin: builtinOf(spec),
      check: (args, rules) => check(typedArguments(params, args), rules),
    };
  };
}

function builtinOf(spec: Pick<MethodSpec<NodeBase & { readonly op: string }, MethodParams>, 'name' | 'params' | 'returns' | 'summary' | 'doc' | 'example' | 'reference'>): Builtin {
  const params = Object.entries(spec.params).map(([name, p]): Param => ({
    name,
    type: p.type === 'choice' ? 'string' : p.type,
    ...(p.type === 'choice' ? { choices: p.choices, default: JSON.stringify(p.default), keywordOnly: true } : {}),
    doc: p.doc,
    ...(p.keywordOnly ? { keywordOnly: true } : {}),
    ...('variadic' in p && p.variadic ? { variadic: true } : {}),
    ...(p.type === 'number' || p.type === 'scalar' ? { default: String(p.default), ...numberBounds(p) } : {}),
    ...(p.type === 'bool' ? { default: String(p.default) } : {}),
    ...('perTensor' in p && p.perTensor ? { perTensor: true } : {}),
    ...(p.type === 'numbers' ? { optional: true } : {}),
  }));
  return {
    name: spec.name,
    params,
    returns: spec.returns,
    summary: spec.summary,
    doc: spec.doc,
    example: spec.example,
    ...(spec.reference !== undefined ? { reference: spec.reference } : {}),
  };
}

function numberBounds(p: NumberBounds): NumberBounds {
  const bounds: { -readonly [K in keyof NumberBounds]: NumberBounds[K] } = {};
  if (p.min !== undefined) bounds.min = p.min;
  if (p.max !== undefined) bounds.max = p.max;
  if (p.below !== undefined) bounds.below = p.below;
  if (p.above !== undefined) bounds.above = p.above;
  if (p.integer) bounds.integer = true;
  return bounds;
}

/** The checker's bound arguments as the method's typed arguments, defaults applied (types and ranges are checked already). */
function typedArguments<Q extends MethodParams>(params: Q, bound: BoundArguments): MethodArgs<Q> {
  const typed: Record<string, unknown> = {};
  for (const [name, param] of Object.entries(params)) {
    const given = bound.values.get(name);
    switch (param.type) {
      case 'model': case 'vector': case 'weights':
        typed[name] = param.variadic ? bound.variadic : given;
        break;
      case 'number':
        typed[name] = given?.value.type === 'scalar' ? (P.asConstant(given.value.poly) ?? param.default) : perTensorValue(given?.value, param.default) ?? param.default;
        break;
      case 'scalar':
        typed[name] = given?.value.type === 'scalar' ? given.value.poly : perTensorValue(given?.value, param.default) ?? P.constant(param.default);
        break;
      case 'string':
        typed[name] = given?.value.type === 'string' ? { expr: given.expr, value: given.value.value } : undefined;
        break;
      case 'bool':
        typed[name] = given?.value.type === 'bool' ? given.value.value : param.default;
        break;
      case 'choice':
        typed[name] = given?.value.type === 'string' ? given.value.value : param.default;
        break;
      case 'numbers':
        typed[name] = given?.value.type === 'list'
          ? { expr: given.expr, value: given.value.items.map((item) => (item.type === 'scalar' ? (P.asConstant(item.poly) ?? Number.NaN) : Number.NaN)) }
          : undefined;
        break;
    }
  }
  return typed as MethodArgs<Q>;
}

/**
 * A per-tensor argument as a method computes with it: a gradient (a list) for every tensor,
 * or by_tensor's rules ending in an unfiltered rule (the parameter's default when none was given).
 */
function perTensorValue(value: Value | undefined, fallback: number): TensorNumber | undefined {
  const constant = (item: Value): number => (item.type === 'scalar' ? (P.asConstant(item.poly) ?? Number.NaN) : Number.NaN);
  if (value?.type === 'list') return simplified({ rules: [{ filter: null, values: value.items.map(constant) }] });
  if (value?.type !== 'per-tensor') return undefined;
  const last = value.rules.at(-1);
  return simplified({ rules: last?.filter === null ? value.rules : [...value.rules, { filter: null, values: [fallback] }] });
}

/** k of a density over n elements: floor(density * n), robust to decimal densities (0.29 * 100 is 28.999...). */
export function keepCount(density: number, n: number): number {
  const exact = density * n;
  return Math.min(n, Math.floor(exact + 1e-9 * Math.max(1, exact)));
}

/**
 * The kind all `inputs` share (Model or Vector), or undefined after reporting the first that
 * differs: "`doing` values of one kind" (e.g. `karcher() averages`).
 */
export function sharedKind(inputs: readonly WeightsArg[], rules: TypeRules, doing: string): WeightsValue['type'] | undefined {
  const kind = inputs[0]!.value.type;
  const other = inputs.find((input) => input.value.type !== kind);
  if (!other) return kind;
  rules.report(other.expr, 'error', 'type-mismatch', `${doing} values of one kind: the first is a ${typeName(inputs[0]!.value)} but this is a ${typeName(other.value)}`);
  return undefined;
}

/** Lowers only fractions in [0, 1]: a program built without the checker may hold anything. */
export function requireFraction(b: Lowering, node: WeightNode, what: string, value: number): void {
  if (!(value >= 0 && value <= 1)) b.fail(node, `${what} must be between 0 and 1, got ${value}`);
}
