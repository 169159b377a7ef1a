// What a built-in transformer evaluator is: one family (GPT-2, Llama, BERT, ...) per file,
// registered in registry.ts. A family says which config.json it runs (model_type,
// architectures), reads the configuration it needs, and uploads weights named as the
// Hugging Face libraries write them into a model that computes logits on TensorFlow.js.
// The upload checks the weights are exactly the configured model: every tensor present
// with its shape, none left over (a tensor the forward pass ignores means the file is
// not the model its config describes).
import type { MaterializedTensor } from '../../materialize.ts';
import { EvaluationError } from '../errors.ts';
import type { TfRuntime } from '../tfjs-runtime.ts';

export type Tf = TfRuntime['tf'];
export type Tensor = ReturnType<Tf['tensor']>;

/** What every family's configuration gives the evaluators. */
export interface FamilyConfig {
  /** Positions the model can attend over (the context). */
  readonly positions: number;
  readonly vocab: number;
}

/** A causal language model's weights on the backend. */
export interface CausalLmWeights {
  /**
   * Logits [rows, vocab] for positions of a batch of equal-length sequences `ids`
   * [batch, length]: row r is the flat position `rows[r]` (all positions when absent).
   */
  logits(ids: Int32Array, batch: number, length: number, rows?: Int32Array): Tensor;
  dispose(): void;
}

/** One batch of encoded sequences for an encoder, padded to `length`. */
export interface EncodedBatch {
  readonly ids: Int32Array;
  /** Segment ids (0 for the first text, 1 for the pair), [batch, length]. */
  readonly typeIds: Int32Array;
  /** 1 for a real token, 0 for padding, [batch, length]. */
  readonly mask: Int32Array;
  readonly batch: number;
  readonly length: number;
}

/** A sequence classifier's weights on the backend. */
export interface ClassifierWeights {
  /** Logits [batch, labels]. */
  logits(input: EncodedBatch): Tensor;
  dispose(): void;
}

interface FamilyBase<C extends FamilyConfig> {
  /** How messages name the family: "GPT-2". */
  readonly name: string;
  /** config.json model_type values and architectures this family runs. */
  readonly modelTypes: readonly string[];
  readonly architectures: readonly string[];
  /** Reads the configuration from a parsed config.json; `what` names the model in messages. Throws EvaluationError. */
  config(raw: Readonly<Record<string, unknown>>, what: string): C;
}

export interface CausalLmFamily<C extends FamilyConfig = FamilyConfig> extends FamilyBase<C> {
  readonly task: 'causal-lm';
  upload(tf: Tf, config: C, weights: ReadonlyMap<string, MaterializedTensor>, what: string): CausalLmWeights;
}

export interface ClassifierConfig extends FamilyConfig {
  /** Classes of the sequence-classification head (num_labels, or the size of id2label). */
  readonly labels: number;
}

export interface ClassifierFamily<C extends ClassifierConfig = ClassifierConfig> extends FamilyBase<C> {
  readonly task: 'sequence-classification';
  upload(tf: Tf, config: C, weights: ReadonlyMap<string, MaterializedTensor>, what: string): ClassifierWeights;
}

export type TransformerFamily = CausalLmFamily<any> | ClassifierFamily<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Reads positive integers, floats and choices from a parsed config.json, with messages naming the key. */
export class ConfigReader {
  readonly #raw: Readonly<Record<string, unknown>>;
  readonly #what: string;

  constructor(raw: Readonly<Record<string, unknown>>, what: string) {
    this.#raw = raw;
    this.#what = what;
  }

  fail(message: string): never {
    throw new EvaluationError('model', `${this.#what}: ${message}`);
  }

  /** The first of `keys` given; a present value that is not a positive safe integer is an error. */
  integer(...keys: string[]): number {
    const found = this.optionalInteger(...keys);
    if (found === undefined) this.fail(`config.json has no positive integer ${keys.join(' or ')}`);
    return found;
  }

  optionalInteger(...keys: string[]): number | undefined {
    for (const key of keys) {
      const v = this.#raw[key];
      if (v === undefined || v === null) continue;
      if (Number.isSafeInteger(v) && (v as number) > 0) return v as number;
      this.fail(`config.json's ${key} is ${JSON.stringify(v)}, not a positive integer`);
    }
    return undefined;
  }

  positive(key: string, fallback: number): number {
    const v = this.#raw[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(`config.json's ${key} is ${JSON.stringify(v)}, not a positive number`);
    return v;
  }

  /** A string setting that must be one of `supported` (the value the family computes). */
  choice(key: string, fallback: string, supported: readonly string[], family: string): string {
    const v = this.#raw[key] ?? fallback;
    if (typeof v !== 'string' || !supported.includes(v)) {
      this.fail(`config.json's ${key} is ${JSON.stringify(v)}; the built-in ${family} evaluator computes ${supported.map((s) => JSON.stringify(s)).join(' or ')}; evaluate it with task(..., command="...")`);
    }
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.#raw[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(`config.json's ${key} is ${JSON.stringify(v)}, not true or false`);
    return v;
  }

  get(key: string): unknown {
    return this.#raw[key];
  }
}

function listed(names: readonly string[]): string {
  return `${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
}

/**
 * Uploads `weights` as float32 tensors after checking they are exactly `shapes`: every
 * tensor present with its shape, and none left unused. `canonical` maps a saved name to
 * the family's (an optional base-model prefix); names matching `buffers` are ignored
 * (buffers some checkpoints hold that the forward pass rebuilds). `model` describes the
 * configured model in messages ("a GPT-2 of 2 layers"). Names `transpose` accepts are
 * stored transposed: Linear weights kept [out, in] would be multiplied with matMul's
 * transposeB, which tfjs-wasm runs about ten times slower than a plain product.
 */
export function uploadExact(
  tf: Tf,
  shapes: ReadonlyMap<string, readonly number[]>,
  weights: ReadonlyMap<string, MaterializedTensor>,
  what: string,
  model: string,
  options: { readonly canonical?: (name: string) => string; readonly buffers?: RegExp; readonly transpose?: (name: string) => boolean } = {},
): Map<string, Tensor> {
  const byName = new Map<string, MaterializedTensor>();
  for (const [name, tensor] of weights) {
    if (options.buffers?.test(name)) continue;
    byName.set(options.canonical ? options.canonical(name) : name, tensor);
  }
  const missing = [...shapes.keys()].filter((n) => !byName.has(n));
  if (missing.length > 0) throw new EvaluationError('model', `${what}: ${model} needs ${listed(missing)}, which the model lacks`);
  const unused = [...byName.keys()].filter((n) => !shapes.has(n));
  if (unused.length > 0) throw new EvaluationError('model', `${what}: ${listed(unused)} ${unused.length === 1 ? 'is' : 'are'} not part of ${model} (config.json); the model does not match its configuration`);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, shape] of shapes) {
      const t = byName.get(name)!;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new EvaluationError('model', `${what}: ${name} is [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
      }
      if (!t.values) throw new EvaluationError('model', `${what}: ${name} is ${t.dtype}; transformer weights are floating point`);
      tensors.set(name, options.transpose?.(name) ? transposed(tf, tf.tensor(t.values, [...shape], 'float32')) : tf.tensor(t.values, [...shape], 'float32'));
    }
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return tensors;
}

/** A 2-D tensor transposed into a new one; the original is freed. */
export function transposed(tf: Tf, t: Tensor): Tensor {
  const out = tf.transpose(t);
  t.dispose();
  return out;
}

/** Frees every tensor of an upload. */
export function disposeAll(tensors: Map<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
  tensors.clear();
}
