// GPT-2 (transformers' GPT2LMHeadModel) forward pass on TensorFlow.js, from the tensor
// names transformers writes: token and position embeddings, N blocks of pre-norm causal
// self-attention and a gelu_new MLP (Conv1D weights stored [in, out]), a final layer norm,
// and the head: the token embedding transposed (tied) unless lm_head.weight exists.
import type { MaterializedTensor } from '../materialize.ts';
import { EvaluationError } from './errors.ts';
import type { TfRuntime } from './tfjs-runtime.ts';

type Tf = TfRuntime['tf'];
type Tensor = ReturnType<Tf['tensor']>;

export interface Gpt2Config {
  readonly layers: number;
  readonly heads: number;
  readonly hidden: number;
  readonly positions: number;
  readonly vocab: number;
  /** The MLP's width (config n_inner; null means 4 x hidden). */
  readonly inner: number;
  readonly epsilon: number;
}

/** Reads the fields GPT-2 needs from a parsed config.json; `what` names the model in messages. */
export function gpt2Config(config: Readonly<Record<string, unknown>>, what: string): Gpt2Config {
  const integer = (...keys: string[]): number => {
    for (const key of keys) {
      const v = config[key];
      if (Number.isSafeInteger(v) && (v as number) > 0) return v as number;
    }
    throw new EvaluationError('model', `${what}: config.json has no positive integer ${keys.join(' or ')}`);
  };
  const epsilon = config['layer_norm_epsilon'] ?? 1e-5;
  if (typeof epsilon !== 'number' || !(epsilon > 0)) throw new EvaluationError('model', `${what}: config.json's layer_norm_epsilon is ${JSON.stringify(epsilon)}, not a positive number`);
  const activation = config['activation_function'] ?? 'gelu_new';
  if (activation !== 'gelu_new') throw new EvaluationError('model', `${what}: config.json's activation_function is ${JSON.stringify(activation)}; the built-in GPT-2 evaluator computes gelu_new (GPT-2's); evaluate it with task(..., command="...")`);
  const c = {
    layers: integer('n_layer', 'num_hidden_layers'),
    heads: integer('n_head', 'num_attention_heads'),
    hidden: integer('n_embd', 'hidden_size'),
    positions: integer('n_positions', 'n_ctx', 'max_position_embeddings'),
    vocab: integer('vocab_size'),
    inner: 0,
    epsilon,
  };
  const inner = config['n_inner'];
  c.inner = inner === undefined || inner === null ? 4 * c.hidden : integer('n_inner');
  if (c.hidden % c.heads !== 0) throw new EvaluationError('model', `${what}: config.json's n_embd ${c.hidden} is not a multiple of n_head ${c.heads}`);
  return c;
}

/** Every tensor a GPT-2 of this configuration reads, with its shape (lm_head only when untied). */
function gpt2TensorShapes(c: Gpt2Config, untied: boolean): Map<string, readonly number[]> {
  const h = c.hidden;
  const shapes = new Map<string, readonly number[]>([
    ['transformer.wte.weight', [c.vocab, h]],
    ['transformer.wpe.weight', [c.positions, h]],
  ]);
  for (let i = 0; i < c.layers; i++) {
    const p = `transformer.h.${i}`;
    for (const [name, shape] of [
      ['ln_1.weight', [h]], ['ln_1.bias', [h]],
      ['attn.c_attn.weight', [h, 3 * h]], ['attn.c_attn.bias', [3 * h]],
      ['attn.c_proj.weight', [h, h]], ['attn.c_proj.bias', [h]],
      ['ln_2.weight', [h]], ['ln_2.bias', [h]],
      ['mlp.c_fc.weight', [h, c.inner]], ['mlp.c_fc.bias', [c.inner]],
      ['mlp.c_proj.weight', [c.inner, h]], ['mlp.c_proj.bias', [h]],
    ] as const) shapes.set(`${p}.${name}`, shape);
  }
  shapes.set('transformer.ln_f.weight', [h]);
  shapes.set('transformer.ln_f.bias', [h]);
  if (untied) shapes.set('lm_head.weight', [c.vocab, h]);
  return shapes;
}

/** Buffers some GPT-2 checkpoints hold (the causal mask), which the forward pass rebuilds. */
const BUFFERS = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

/** transformers' GPT-2 base model prefix is optional in saved files (`wte.weight` for a GPT2Model). */
function canonicalName(name: string): string {
  return name.startsWith('transformer.') || name === 'lm_head.weight' ? name : `transformer.${name}`;
}

/** A GPT-2's weights on the tfjs backend; dispose() frees them. */
export class Gpt2Weights {
  readonly config: Gpt2Config;
  readonly #tensors: Map<string, Tensor>;
  readonly #tf: Tf;

  private constructor(tf: Tf, config: Gpt2Config, tensors: Map<string, Tensor>) {
    this.#tf = tf;
    this.config = config;
    this.#tensors = tensors;
  }

  /**
   * Uploads `weights` after checking that they are exactly a GPT-2 of `config`: every
   * tensor present with its shape, and none left unused (a tensor the forward pass would
   * ignore means the file is not the model the config describes).
   */
  static upload(tf: Tf, config: Gpt2Config, weights: ReadonlyMap<string, MaterializedTensor>, what: string): Gpt2Weights {
    const byName = new Map<string, MaterializedTensor>();
    for (const [name, tensor] of weights) if (!BUFFERS.test(name)) byName.set(canonicalName(name), tensor);
    const shapes = gpt2TensorShapes(config, byName.has('lm_head.weight'));
    const missing = [...shapes.keys()].filter((n) => !byName.has(n));
    if (missing.length > 0) throw new EvaluationError('model', `${what}: a GPT-2 of ${config.layers} layers needs ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}, which the model lacks`);
    const unused = [...byName.keys()].filter((n) => !shapes.has(n));
    if (unused.length > 0) throw new EvaluationError('model', `${what}: ${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ` and ${unused.length - 3} more` : ''} ${unused.length === 1 ? 'is' : 'are'} not part of a GPT-2 of ${config.layers} layers (config.json); the model does not match its configuration`);
    const tensors = new Map<string, Tensor>();
    try {
      for (const [name, shape] of shapes) {
        const t = byName.get(name)!;
        if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
          throw new EvaluationError('model', `${what}: ${name} is [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
        }
        if (!t.values) throw new EvaluationError('model', `${what}: ${name} is ${t.dtype}; GPT-2 weights are floating point`);
        tensors.set(name, tf.tensor(t.values, [...shape], 'float32'));
      }
    } catch (error) {
      for (const t of tensors.values()) t.dispose();
      throw error;
    }
    return new Gpt2Weights(tf, config, tensors);
  }

  dispose(): void {
    for (const t of this.#tensors.values()) t.dispose();
    this.#tensors.clear();
  }

  #w(name: string): Tensor {
    return this.#tensors.get(name)!;
  }

  /**
   * Logits [rows, vocab] for the given positions of a batch of equal-length sequences
   * `ids` [batch, length]: row r is sequence `rows[r][0]` at position `rows[r][1]`. Only
   * those positions go through the head (the vocabulary projection is the largest cost).
   */
  logits(ids: Int32Array, batch: number, length: number, rows?: Int32Array): Tensor {
    const tf = this.#tf;
    const c = this.config;
    return tf.tidy(() => {
      const hidden = this.hidden(ids, batch, length);
      const flat = tf.reshape(hidden, [batch * length, c.hidden]);
      const picked = rows ? tf.gather(flat, tf.tensor1d(rows, 'int32')) : flat;
      const head = this.#tensors.get('lm_head.weight') ?? this.#w('transformer.wte.weight');
      return tf.matMul(picked, head, false, true);
    });
  }

  /** The final hidden states [batch, length, hidden] (after ln_f). */
  hidden(ids: Int32Array, batch: number, length: number): Tensor {
    const tf = this.#tf;
    const c = this.config;
    if (length > c.positions) throw new RangeError(`a sequence of ${length} tokens exceeds the ${c.positions} positions of the model`);
    const headSize = c.hidden / c.heads;
    return tf.tidy(() => {
      const tokens = tf.tensor2d(ids, [batch, length], 'int32');
      const positions = tf.range(0, length, 1, 'int32');
      let x = tf.add(tf.gather(this.#w('transformer.wte.weight'), tokens), tf.gather(this.#w('transformer.wpe.weight'), positions));
      // Causal mask: 0 where a position may attend (itself and before), a large negative after.
      const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
      const mask = tf.mul(tf.sub(1, causal), -1e9);
      const scale = 1 / Math.sqrt(headSize);
      const dense = (input: Tensor, name: string, out: number): Tensor => {
        const flat = tf.reshape(input, [-1, input.shape[input.shape.length - 1]!]);
        const y = tf.add(tf.matMul(flat, this.#w(`${name}.weight`)), this.#w(`${name}.bias`));
        return tf.reshape(y, [batch, length, out]);
      };
      const heads = (t: Tensor): Tensor => tf.transpose(tf.reshape(t, [batch, length, c.heads, headSize]), [0, 2, 1, 3]);
      for (let i = 0; i < c.layers; i++) {
        const p = `transformer.h.${i}`;
        const a = this.#layerNorm(x, `${p}.ln_1`);
        const qkv = dense(a, `${p}.attn.c_attn`, 3 * c.hidden);
        const [q, k, v] = tf.split(qkv, 3, 2);
        const scores = tf.add(tf.mul(tf.matMul(heads(q!), heads(k!), false, true), scale), mask);
        const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), heads(v!)), [0, 2, 1, 3]), [batch, length, c.hidden]);
        x = tf.add(x, dense(attended, `${p}.attn.c_proj`, c.hidden));
        const m = this.#layerNorm(x, `${p}.ln_2`);
        x = tf.add(x, dense(geluNew(tf, dense(m, `${p}.mlp.c_fc`, c.inner)), `${p}.mlp.c_proj`, c.hidden));
      }
      return this.#layerNorm(x, 'transformer.ln_f');
    });
  }

  #layerNorm(x: Tensor, name: string): Tensor {
    const tf = this.#tf;
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.config.epsilon)));
    return tf.add(tf.mul(normed, this.#w(`${name}.weight`)), this.#w(`${name}.bias`));
  }
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluNew(tf: Tf, x: Tensor): Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}
