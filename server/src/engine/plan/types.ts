// The plan: per output tensor, an elementwise program in SSA form over input tensor
// chunks, the per-tensor statistics it needs first, and the passes that compute them.
// Plain data, so a program can be compiled to a JS loop, posted to a worker, or
// evaluated with tfjs ops, and the result is the same. Statistics are resolved on the
// main thread and never posted: a Gram statistic holds its method's rule, a function.
import type { Dtype, TensorEntry } from '../../checkpoints/types.ts';
import type { LoadNode, Range } from '../../language/program.ts';
import type { Matrix } from '../../methods/svd.ts';
import type { RngStream } from '../rng.ts';

/** Index of a node in `TensorProgram.nodes`; a node only refers to earlier nodes. */
export type NodeRef = number;
/** Index into the per-tensor parameter vector (a Float64Array at run time). */
export type ParamRef = number;

export interface LinTerm { readonly coef: ParamRef; readonly arg: NodeRef }

/**
 * Elementwise operations. Every node's value is a float32 (backends round after each node).
 * - `input`: element of input slot `slot`.
 * - `lin`: sum of coef * arg (zero when there are no terms).
 * - `trim`: arg where |arg| >= threshold, else 0.
 * - `ties`: elect the sign of sum(args); mean of the args that are non-zero with that sign (0 if none).
 * - `dare`: arg * scale where the element's draw keeps it, else 0. Params key, key+1 are the RNG key words.
 * - `noise`: a standard normal draw. Params key..key+3 are the radius and angle RNG keys.
 * - `vote`: arg where at least `min` of the pairs have |a| > fround(scale * |b|) (b absent: |a| > 0), else 0.
 * - `variance`: the population variance of the args and `count` - args.length zeros (param `count`).
 * - `elect`: sign + where sum(args) >= 0 (else -); sum of weights[i] * arg[i] over the args of that
 *   sign, divided by max(the sum of their divisors (default: their weights), floor) (mergekit's sign
 *   consensus and weighted mean). `strict`: no sign is elected where the sum is 0 or NaN (tvr's ties).
 */
export type Op =
  | { readonly op: 'input'; readonly slot: number }
  | { readonly op: 'lin'; readonly terms: readonly LinTerm[] }
  | { readonly op: 'trim'; readonly arg: NodeRef; readonly threshold: ParamRef }
  | { readonly op: 'ties'; readonly args: readonly NodeRef[] }
  | { readonly op: 'dare'; readonly arg: NodeRef; readonly keep: ParamRef; readonly scale: ParamRef; readonly key: ParamRef }
  | { readonly op: 'noise'; readonly key: ParamRef }
  | { readonly op: 'vote'; readonly arg: NodeRef; readonly pairs: readonly VotePair[]; readonly scale: ParamRef; readonly min: ParamRef }
  | { readonly op: 'variance'; readonly args: readonly NodeRef[]; readonly count: ParamRef }
  | { readonly op: 'elect'; readonly args: readonly NodeRef[]; readonly weights: readonly ParamRef[]; readonly floor: ParamRef; readonly divisors?: readonly ParamRef[]; readonly strict?: true };

/** One vote of a `vote` node: |a| against scale * |b|, or against 0 without b. */
export interface VotePair { readonly a: NodeRef; readonly b?: NodeRef }

/**
 * Coefficients from a k x k Gram matrix (gram[i][j] = nodes[i] . nodes[j], float64 sums):
 * a pure function of the matrix; it throws (an EngineError) where the matrix gives none.
 */
export type GramRule = (gram: readonly (readonly number[])[]) => readonly number[];

/**
 * Chunk reductions. Sums accumulate in float64; histograms count the float32 bit
 * patterns of |value|: `hist-hi` by the high 16 bits, `hist-lo` by the low 16 bits of
 * the values whose high 16 bits equal param `bucket`, `hist-top` by the top 11 bits
 * (NaN in the last bin); `values` keeps the node's values (of a tensor that fits in one
 * chunk, for selection in memory).
 */
export type Reduction =
  | { readonly kind: 'sumsq'; readonly node: NodeRef }
  | { readonly kind: 'dot'; readonly a: NodeRef; readonly b: NodeRef }
  | { readonly kind: 'hist-hi'; readonly node: NodeRef }
  | { readonly kind: 'hist-lo'; readonly node: NodeRef; readonly bucket: ParamRef }
  | { readonly kind: 'hist-top'; readonly node: NodeRef }
  | { readonly kind: 'values'; readonly node: NodeRef };

/** What a backend evaluates over a chunk: optional output values plus reductions. */
export interface Kernel {
  readonly nodes: readonly Op[];
  readonly output: NodeRef | null;
  readonly reductions: readonly Reduction[];
}

/** Per-tensor statistics, resolved into params between passes. */
export type Stat =
  /**
   * k-th largest |node| into `threshold`, exactly: selected in memory from the values of a
   * tensor that fits in one chunk (one pass), else by radix selection over streamed
   * histograms (two passes, `bucket` and `rank` in between).
   */
  | { readonly kind: 'topk'; readonly node: NodeRef; readonly k: number; readonly threshold: ParamRef; readonly bucket: ParamRef; readonly rank: ParamRef }
  /** SLERP coefficients of a and b at t from |a|^2, |b|^2 and a.b. */
  | { readonly kind: 'slerp'; readonly a: NodeRef; readonly b: NodeRef; readonly t: number; readonly s0: ParamRef; readonly s1: ParamRef; readonly zeroAngle?: true }
  /** |source| / |noise| into `scale`. */
  | { readonly kind: 'norm-match'; readonly source: NodeRef; readonly noise: NodeRef; readonly scale: ParamRef }
  /** `rule` of the Gram matrix of `nodes` into `coefficients` (one pass of dot products). */
  | { readonly kind: 'gram'; readonly nodes: readonly NodeRef[]; readonly rule: GramRule; readonly coefficients: readonly ParamRef[] };

/** Which step of which statistic a reduction of a pass feeds. */
export interface StatStep { readonly stat: number; readonly step: 'hist-hi' | 'hist-lo' | 'values' | 'sums' }

export interface Pass {
  readonly kernel: Kernel;
  /** Input slots this pass reads. */
  readonly slots: readonly number[];
  /** For each statistic step finished by this pass, the indices of its reductions in `kernel.reductions`. */
  readonly steps: readonly { readonly step: StatStep; readonly reductions: readonly number[] }[];
}

/** An input tensor read from a checkpoint. */
export interface TensorSlot {
  readonly kind: 'tensor';
  readonly load: LoadNode;
  readonly entry: TensorEntry;
}

/**
 * A LoRA adapter's ΔW for one tensor, scale · B·A (transposed where the base stores the weight
 * as [in, out]), computed chunk by chunk from its two small factors: the product of a
 * whole model is never held.
 */
export interface LoraProductSlot {
  readonly kind: 'lora-product';
  /** lora_A [r, in] and lora_B [out, r] in the adapter's safetensors file. */
  readonly a: TensorEntry;
  readonly b: TensorEntry;
  readonly scale: number;
  readonly transposed: boolean;
  /** The adapter folder and its lora(...) call, for messages. */
  readonly adapter: { readonly path: string; readonly range: Range };
}

/** What the engine lends a matrix rule. */
export interface MatrixTools {
  /** The 24-bit uniform draws (integers below 2^24) of elements start .. start + count - 1 (row-major), keyed by (the slot's seed, its tensor, `stream`). */
  draws(stream: RngStream, start: number, count: number): Uint32Array;
}

/** A method's matrix computed whole from its arguments (a decomposition, a ranking), then read chunk by chunk. */
export type MatrixRule = (vectors: readonly Matrix[], tools: MatrixTools) => Matrix;

/**
 * A matrix computed whole (Iso-C, Iso-CTS, TSV-M, DELLA's pruning): each argument is a linear combination of
 * input tensors read whole in float64, the rule gives the result, rounded once to float32
 * and kept while the tensor's chunks are read.
 */
export interface MatrixSlot {
  readonly kind: 'matrix';
  readonly rows: number;
  readonly cols: number;
  readonly vectors: readonly (readonly { readonly slot: TensorSlot | LoraProductSlot; readonly coef: number }[])[];
  readonly rule: MatrixRule;
  /** The tensor computed and the seed of the rule's draws (0 for rules that draw nothing). */
  readonly tensor: string;
  readonly seed: number;
  /** Equal for two slots exactly when they give the same matrix: the method node, the tensor, the seed and the arguments' terms. */
  readonly key: string;
  /** The method's call, for messages. */
  readonly method: { readonly op: string; readonly range: Range };
}

/** One input of a program: each chunk of it is read, or computed from what is read. */
export type InputSlot = TensorSlot | LoraProductSlot | MatrixSlot;

/** Bytes read for a whole slot: the tensor, or the two factors of a product. */
export function slotBytes(slot: InputSlot): number {
  if (slot.kind === 'matrix') return slot.vectors.flat().reduce((sum, term) => sum + slotBytes(term.slot), 0);
  return slot.kind === 'tensor' ? slot.entry.byteLength : slot.a.byteLength + slot.b.byteLength;
}

/** Elements of a slot's tensor: the stored tensor's, or out x in of a product. */
export function slotElements(slot: InputSlot): number {
  if (slot.kind === 'matrix') return slot.rows * slot.cols;
  return slot.kind === 'tensor' ? slot.entry.shape.reduce((a, b) => a * b, 1) : slot.b.shape[0]! * slot.a.shape[1]!;
}

/** A key equal for two slots exactly when they give the same values. */
export function slotKey(slot: InputSlot): string {
  if (slot.kind === 'tensor') return `${slot.entry.file}\0${slot.entry.offset}\0${slot.entry.name}`;
  if (slot.kind === 'matrix') return slot.key;
  return `lora\0${slot.a.file}\0${slot.a.offset}\0${slot.b.offset}\0${slot.scale}\0${slot.transposed}`;
}

export interface ComputedTensor {
  readonly kind: 'computed';
  readonly name: string;
  readonly shape: readonly number[];
  readonly elements: number;
  /** The dtype written. */
  readonly dtype: Dtype;
  readonly inputs: readonly InputSlot[];
  readonly nodes: readonly Op[];
  readonly output: NodeRef;
  /** Initial params; statistics overwrite theirs (NaN until then). */
  readonly params: readonly number[];
  readonly stats: readonly Stat[];
  /** The tensor fits in one chunk: its inputs are read once for every pass. */
  readonly resident: boolean;
  /** Statistics passes in dependency order, then the pass that computes the output. */
  readonly passes: readonly Pass[];
}

/** An integer or bool tensor copied byte for byte from the anchor model. */
export interface CopiedTensor {
  readonly kind: 'copied';
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  readonly input: TensorSlot;
}

export type TensorPlan = ComputedTensor | CopiedTensor;

export interface SavePlan {
  readonly path: string;
  readonly range: Range;
  readonly tensors: readonly TensorPlan[];
  /** Integer/bool tensors a Vector output leaves out. */
  readonly droppedIntegers: readonly string[];
  /** The anchor model (first tensor's), whose format and topology a tfjs output reuses. */
  readonly anchor: LoadNode;
  readonly shardBytes?: number;
  /** The recipe asked to replace an existing output. */
  readonly overwrite: boolean;
  /** Seeds of the randomised methods' nodes (DARE, random_like), for provenance. */
  readonly seeds: readonly { readonly op: string; readonly seed: number; readonly range: Range }[];
}
