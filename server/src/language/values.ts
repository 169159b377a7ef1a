// Check-time values: what each expression denotes once names are resolved and
// scalars folded. Weights (Models and Vectors) carry the typed-program node the engine
// will execute, plus what the IDE needs (linear expansion for norms, provenance).
import type { Poly } from './poly.ts';
import type { EnsembleValue, PosteriorValue, TaskValue, TensorTable, WeightKind, WeightNode } from './program.ts';
import type { Span } from './syntax-tree.ts';
import type { TensorRule } from './tensor-numbers.ts';

export interface WeightsValue {
  readonly type: WeightKind;
  readonly node: WeightNode;
  /** Models this value is a point near (a Model's starting points). */
  readonly origins: ReadonlySet<WeightNode>;
  /** Models the task vectors inside this value were computed from. */
  readonly bases: ReadonlySet<WeightNode>;
  /** sum coef * loaded checkpoint, when the value is linear in its inputs (norms come from this). */
  readonly linear: ReadonlyMap<WeightNode, Poly> | undefined;
  /** Sweep ids the value depends on. */
  readonly sweeps: ReadonlySet<number>;
  /**
   * A Vector of some tensors only, zero outside its table (a LoRA adapter's ΔW): it adds to
   * any value holding its tensors with the same shapes, and the sum has that value's table.
   */
  readonly partial?: true;
}

/** An arithmetic expression over weights before it is known to be a Model or a Vector. */
export interface ComboValue {
  readonly type: 'combo';
  readonly terms: readonly { readonly coef: Poly; readonly value: WeightsValue }[];
  readonly table: TensorTable | undefined;
  /** Every term is a partial Vector (see WeightsValue.partial). */
  readonly partial?: true;
}

export interface ScalarValue {
  readonly type: 'scalar';
  readonly poly: Poly;
}

export interface StringValue {
  readonly type: 'string';
  readonly value: string;
  readonly span: Span;
}

export interface BoolValue {
  readonly type: 'bool';
  readonly value: boolean;
}

export interface ListValue {
  readonly type: 'list';
  readonly items: readonly Value[];
}

export interface TaskVal {
  readonly type: 'task';
  readonly task: TaskValue;
}

/** An ensemble of models: evaluated, never saved or combined. */
export interface EnsembleVal {
  readonly type: 'ensemble';
  readonly ensemble: EnsembleValue;
}

/** A posterior over models: weights for ensemble(...) or mean(...) over the same models. */
export interface PosteriorVal {
  readonly type: 'posterior';
  readonly posterior: PosteriorValue;
}

export interface NothingValue {
  readonly type: 'nothing';
}

/** Something already reported; absorbs further checks so errors do not cascade. */
export interface ErrorValue {
  readonly type: 'error';
}

/** A number given per tensor by name filters: `by_tensor("self_attn", [0, 1], default=0.5)` (see tensor-numbers.ts). */
export interface PerTensorValue {
  readonly type: 'per-tensor';
  /** As written, in order; the default, when given, last with filter null. */
  readonly rules: readonly TensorRule[];
}

export type Value = WeightsValue | ComboValue | ScalarValue | StringValue | BoolValue | ListValue | TaskVal | EnsembleVal | PosteriorVal | PerTensorValue | NothingValue | ErrorValue;

export const errorValue: ErrorValue = { type: 'error' };
export const nothing: NothingValue = { type: 'nothing' };

export function typeName(v: Value): string {
  switch (v.type) {
    case 'model': return 'Model';
    case 'vector': return 'Vector';
    case 'combo': return 'combination of models';
    case 'scalar': return v.poly.size > 0 && [...v.poly.keys()].some((k) => k !== '') ? 'Sweep' : 'Scalar';
    case 'string': return 'String';
    case 'bool': return 'Bool';
    case 'list': return 'List';
    case 'task': return 'Task';
    case 'ensemble': return 'Ensemble';
    case 'posterior': return 'Posterior';
    case 'per-tensor': return 'PerTensor';
    case 'nothing': return 'nothing';
    case 'error': return 'unknown';
  }
}

export function isWeights(v: Value): v is WeightsValue {
  return v.type === 'model' || v.type === 'vector';
}
