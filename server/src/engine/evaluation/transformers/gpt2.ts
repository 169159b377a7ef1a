// GPT-2 (transformers' GPT2LMHeadModel) forward pass on TensorFlow.js, from the tensor
// names transformers writes: token and position embeddings, N blocks of pre-norm causal
// self-attention and a gelu_new MLP (Conv1D weights stored [in, out]), a final layer norm,
// and the head: the token embedding transposed (tied) unless lm_head.weight exists.
import type { MaterializedTensor } from '../../materialize.ts';
import { DecoderWeights } from './decoder.ts';
import { ConfigReader, uploadExact } from './family.ts';
import type { CausalLmFamily, FamilyConfig, Tensor, Tf } from './family.ts';
import { causalMask, geluNew, layerNorm, splitHeads } from './layers.ts';

export interface Gpt2Config extends FamilyConfig {
  readonly layers: number;
  readonly heads: number;
  readonly hidden: number;
  /** The MLP's width (config n_inner; null means 4 x hidden). */
  readonly inner: number;
  readonly epsilon: number;
}

/** Reads the fields GPT-2 needs from a parsed config.json; `what` names the model in messages. */
export function gpt2Config(raw: Readonly<Record<string, unknown>>, what: string): Gpt2Config {
  const r = new ConfigReader(raw, what);
  r.choice('activation_function', 'gelu_new', ['gelu_new'], 'GPT-2');
  const hidden = r.integer('n_embd', 'hidden_size');
  const heads = r.integer('n_head', 'num_attention_heads');
  if (hidden % heads !== 0) r.fail(`config.json's n_embd ${hidden} is not a multiple of n_head ${heads}`);
  return {
    layers: r.integer('n_layer', 'num_hidden_layers'),
    heads,
    hidden,
    positions: r.integer('n_positions', 'n_ctx', 'max_position_embeddings'),
    vocab: r.integer('vocab_size'),
    inner: r.optionalInteger('n_inner') ?? 4 * hidden,
    epsilon: r.positive('layer_norm_epsilon', 1e-5),
  };
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
const BUFFERS = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;

/** transformers' GPT-2 base model prefix is optional in saved files (`wte.weight` for a GPT2Model). */
function canonicalName(name: string): string {
  return name.startsWith('transformer.') || name === 'lm_head.weight' ? name : `transformer.${name}`;
}

/** A GPT-2's weights on the tfjs backend; dispose() frees them. */
export class Gpt2Weights extends DecoderWeights<Gpt2Config> {
  /** Uploads `weights` after checking that they are exactly a GPT-2 of `config`. */
  static upload(tf: Tf, config: Gpt2Config, weights: ReadonlyMap<string, MaterializedTensor>, what: string): Gpt2Weights {
    const untied = weights.has('lm_head.weight');
    const tensors = uploadExact(tf, gpt2TensorShapes(config, untied), weights, what, `a GPT-2 of ${config.layers} layers`, { canonical: canonicalName, buffers: BUFFERS });
    return new Gpt2Weights(tf, config, tensors, 'transformer.wte.weight', false);
  }

  /** The final hidden states [batch, length, hidden] (after ln_f). */
  hidden(ids: Int32Array, batch: number, length: number): Tensor {
    const tf = this.tf;
    const c = this.config;
    this.checkLength(length);
    const headSize = c.hidden / c.heads;
    return tf.tidy(() => {
      const tokens = tf.tensor2d(ids, [batch, length], 'int32');
      const positions = tf.range(0, length, 1, 'int32');
      let x = tf.add(tf.gather(this.w('transformer.wte.weight'), tokens), tf.gather(this.w('transformer.wpe.weight'), positions));
      const mask = causalMask(tf, length);
      const scale = 1 / Math.sqrt(headSize);
      const dense = (input: Tensor, name: string, out: number): Tensor => {
        const flat = tf.reshape(input, [-1, input.shape[input.shape.length - 1]!]);
        const y = tf.add(tf.matMul(flat, this.w(`${name}.weight`)), this.w(`${name}.bias`));
        return tf.reshape(y, [batch, length, out]);
      };
      const norm = (t: Tensor, name: string): Tensor => layerNorm(tf, t, this.w(`${name}.weight`), this.w(`${name}.bias`), c.epsilon);
      for (let i = 0; i < c.layers; i++) {
        const p = `transformer.h.${i}`;
        const a = norm(x, `${p}.ln_1`);
        const qkv = dense(a, `${p}.attn.c_attn`, 3 * c.hidden);
        const [q, k, v] = tf.split(qkv, 3, 2).map((t) => splitHeads(tf, t, c.heads, headSize));
        const scores = tf.add(tf.mul(tf.matMul(q!, tf.transpose(k!, [0, 1, 3, 2])), scale), mask);
        const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), v!), [0, 2, 1, 3]), [batch, length, c.hidden]);
        x = tf.add(x, dense(attended, `${p}.attn.c_proj`, c.hidden));
        const m = norm(x, `${p}.ln_2`);
        x = tf.add(x, dense(geluNew(tf, dense(m, `${p}.mlp.c_fc`, c.inner)), `${p}.mlp.c_proj`, c.hidden));
      }
      return norm(x, 'transformer.ln_f');
    });
  }
}

export const gpt2: CausalLmFamily<Gpt2Config> = {
  name: 'GPT-2',
  task: 'causal-lm',
  modelTypes: ['gpt2'],
  architectures: ['GPT2LMHeadModel'],
  config: gpt2Config,
  upload: (tf, config, weights, what) => Gpt2Weights.upload(tf, config, weights, what),
};
