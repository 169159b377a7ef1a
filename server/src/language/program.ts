// The typed program: the language core's output and the engine's only input.
// Everything here is plain data; the engine never sees syntax trees or source text
// beyond the ranges it needs to say where an error comes from.
import type { CheckpointHeader, Dtype } from '../checkpoints/types.ts';
import { methodOf, type MethodNode } from '../methods/registry.ts';
import type { Poly } from './poly.ts';

/** Zero-based, LSP-compatible positions (UTF-16 code units). */
export interface Position { readonly line: number; readonly character: number }
export interface Range { readonly start: Position; readonly end: Position }

export interface TensorSpec { readonly dtype: Dtype; readonly shape: readonly number[] }
/** Tensor name -> spec, in storage order of the checkpoint it came from. */
export type TensorTable = ReadonlyMap<string, TensorSpec>;

/** A scalar coefficient sweep (`lam = sweep(0, 1, 0.05)`); the run evaluates each point. */
export interface SweepVar {
  readonly id: number;
  readonly name: string;
  readonly values: readonly number[];
  readonly range: Range;
  /**
   * Set when this coordinate is a posterior's weight (PosteriorValue.variables), not a
   * sweep: its one value is the uniform weight until the run estimates it.
   */
  readonly posterior?: number;
}

/** A point in sweep space: sweep id -> value. Empty when the program has no sweeps. */
export type SweepPoint = ReadonlyMap<number, number>;

export type WeightKind = 'model' | 'vector';

/** What every weight node has; a method's node adds its `op`, `kind` and fields. */
export interface NodeBase {
  /** Unique within a program; nodes are shared (a DAG), so the engine reads a shared input once. */
  readonly id: number;
  readonly kind: WeightKind;
  /** Undefined when an input could not be read; the checker has already reported why. */
  readonly table: TensorTable | undefined;
  /** Where the value is written in the recipe (for error messages naming the recipe line). */
  readonly range: Range;
  /** Binding name when the node is exactly a named binding's value, for messages and hovers. */
  readonly name?: string;
}

/** `load("path")`: a Model (a point in weight space). */
export interface LoadNode extends NodeBase {
  readonly op: 'load';
  readonly kind: 'model';
  /** Absolute path. */
  readonly path: string;
  readonly header: CheckpointHeader | undefined;
}

/** sum_i coef_i * node_i, flattened; the checker guarantees the model weights sum to 1 (Model) or 0 (Vector). */
export interface CombineNode extends NodeBase {
  readonly op: 'combine';
  readonly terms: readonly { readonly coef: Poly; readonly node: WeightNode }[];
}

/** A tied model's output head made explicit: its `head` tensor is its `embedding` tensor. */
export interface TiedHead {
  readonly head: string;
  readonly embedding: string;
}

/**
 * Keep only tensors matching `include` (all when null) and not matching `exclude`. Glob
 * patterns: `*` any run, `?` one char. With `untie` (made by the checker where a tied model
 * meets an untied one, never written by hand), the input's table gains the head, read from
 * its embedding.
 */
export interface SelectNode extends NodeBase {
  readonly op: 'select';
  readonly input: WeightNode;
  readonly include: readonly string[] | null;
  readonly exclude: readonly string[];
  readonly untie?: TiedHead;
}

/** Load, combine and select are the language's own; every other node is a merge method's (server/src/methods/). */
export type WeightNode = LoadNode | CombineNode | SelectNode | MethodNode;

/** The nodes a node's value is computed from. */
export function nodeInputs(node: WeightNode): readonly WeightNode[] {
  switch (node.op) {
    case 'load': return [];
    case 'combine': return node.terms.map((t) => t.node);
    case 'select': return [node.input];
    default: return methodOf(node).children(node);
  }
}

/** `save(value, "path", dtype=..., shard_size=...)`. */
export interface SaveStatement {
  readonly node: WeightNode;
  /** Absolute path; the format follows the extension (.safetensors, a directory with model.json for tfjs). */
  readonly path: string;
  /** Output dtype when the recipe asks; otherwise each tensor follows the anchor model. */
  readonly dtype?: Dtype;
  /** Maximum bytes per shard; unset means one file. */
  readonly shardBytes?: number;
  /** Replace an existing output; without it a run refuses to touch an existing path. */
  readonly overwrite: boolean;
  readonly range: Range;
}

/** `task("data.safetensors", head=finetuned, metric="accuracy")`: an evaluation task. */
export interface TaskValue {
  readonly name: string;
  /** Absolute path of the data file. */
  readonly data: string;
  /** The model whose topology and non-shared tensors (the head) complete an edited encoder. */
  readonly head: WeightNode;
  /** The fine-tuned reference for normalized accuracy; defaults to `head`. */
  readonly finetuned: WeightNode;
  readonly metric: string;
  /** External evaluator command template, when the task is not evaluated by the built-in evaluator. */
  readonly command?: string;
  readonly range: Range;
}

/**
 * `posterior(a, b, c, task=t, n=100, topk=2)`: mixture weights over models, the domain
 * posterior of Branch-Train-Merge, estimated when the recipe runs on the first `documents`
 * validation documents of `task` (a causal LM text task).
 */
export interface PosteriorValue {
  readonly id: number;
  readonly name: string;
  readonly members: readonly WeightNode[];
  readonly task: TaskValue;
  readonly documents: number;
  readonly topk: number | undefined;
  /**
   * The coordinates (SweepVar ids) of the first k-1 weights; the last weight is one minus
   * their sum, so that a mean weighted by the posterior is a Model for every estimate.
   */
  readonly variables: readonly number[];
  readonly range: Range;
}

/** `ensemble(a, b, c, weights=...)`: the models' next-token distributions mixed; evaluated, never saved or combined. */
export interface EnsembleValue {
  readonly name: string;
  readonly members: readonly WeightNode[];
  /** Normalised fixed weights, or a posterior over the same members. */
  readonly weights: readonly number[] | PosteriorValue;
  readonly range: Range;
}

/** A model evaluate(...) evaluates; an ensemble's `node` is its first member (whose folder gives architecture and tokenizer). */
export interface EvaluatedModel {
  readonly name: string;
  readonly node: WeightNode;
  readonly ensemble?: EnsembleValue;
}

/** The nodes an evaluated model is computed from: itself, or an ensemble's members. */
export function evaluatedNodes(model: EvaluatedModel): readonly WeightNode[] {
  return model.ensemble ? model.ensemble.members : [model.node];
}

/** `evaluate(edited, targets=[...], controls=[...], objective="forget")`. */
export interface EvaluateStatement {
  readonly models: readonly EvaluatedModel[];
  readonly targets: readonly TaskValue[];
  readonly controls: readonly TaskValue[];
  readonly objective: 'forget' | 'add' | 'max';
  readonly range: Range;
}

/** Files a merge method reads besides load()'s checkpoints (a LoRA adapter's): for input checks, the reader and provenance. */
export interface MethodInput {
  /** Absolute path, as the recipe names it. */
  readonly path: string;
  readonly header: CheckpointHeader | undefined;
  /** The call that reads it. */
  readonly range: Range;
}

export interface TypedProgram {
  /** Absolute path of the recipe. */
  readonly file: string;
  readonly sweeps: readonly SweepVar[];
  readonly saves: readonly SaveStatement[];
  readonly evaluations: readonly EvaluateStatement[];
  /** Every load in the program, deduplicated by path. */
  readonly loads: readonly LoadNode[];
  /** Every file merge methods read (LoRA adapters), deduplicated by path. */
  readonly methodInputs: readonly MethodInput[];
  /** Posteriors the run estimates before the evaluations that use them. */
  readonly posteriors: readonly PosteriorValue[];
}

/** The headers of every file a run of the program may read. */
export function inputHeaders(program: TypedProgram): CheckpointHeader[] {
  return [...program.loads, ...program.methodInputs].flatMap((input) => (input.header ? [input.header] : []));
}
