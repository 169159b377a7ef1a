// Llama (transformers' LlamaForCausalLM) forward pass on TensorFlow.js, from the tensor
// names transformers writes: a token embedding, N blocks of RMSNorm, causal self-attention
// with rotary position embeddings (rope_theta; rope_scaling "llama3", other scalings
// refused) and grouped-query key/value heads, RMSNorm and a SwiGLU MLP (Linear weights
// stored [out, in], biases only when config.json asks for them), a final RMSNorm, and the
// head: lm_head.weight, or the token embedding transposed (tied) when the weights have none.
import type { MaterializedTensor } from '../../materialize.ts';
import { DecoderWeights } from './decoder.ts';
import { ConfigReader, uploadExact } from './family.ts';
import type { CausalLmFamily, FamilyConfig, Tensor, Tf } from './family.ts';
import { applyRotary, causalMask, rmsNorm, rotaryTables, silu, splitHeads } from './layers.ts';

export interface LlamaConfig extends FamilyConfig {
  readonly layers: number;
  readonly heads: number;
  /** Key/value heads (num_key_value_heads); each serves heads / kvHeads query heads. */
  readonly kvHeads: number;
  readonly hidden: number;
  /** Width of one attention head (config head_dim, else hidden / heads). */
  readonly headDim: number;
  /** The MLP's width (intermediate_size). */
  readonly inner: number;
  readonly epsilon: number;
  /** q/k/v/o projections have biases (attention_bias). */
  readonly attentionBias: boolean;
  /** gate/up/down projections have biases (mlp_bias). */
  readonly mlpBias: boolean;
  /** Rotary inverse frequencies, headDim / 2 of them, scaling already applied. */
  readonly inverseFrequencies: readonly number[];
}

type RopeSettings = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is RopeSettings {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The rotary inverse frequencies transformers computes for this config.json:
 * theta^(-2i / headDim), rescaled by rope_scaling "llama3" (Llama 3.1 and later). transformers 4
 * writes rope_theta and rope_scaling; transformers 5 writes both inside rope_parameters.
 */
function rotaryFrequencies(r: ConfigReader, headDim: number): number[] {
  const scaling = r.get('rope_scaling');
  const key = isObject(scaling) && Object.keys(scaling).length > 0 ? 'rope_scaling' : 'rope_parameters';
  const settings = r.get(key) ?? {};
  if (!isObject(settings)) r.fail(`config.json's ${key} is ${JSON.stringify(settings)}, not an object`);
  const number = (name: string): number => {
    const v = settings[name];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) r.fail(`config.json's ${key}.${name} is ${JSON.stringify(v)}, not a positive number`);
    return v;
  };
  const theta = settings['rope_theta'] !== undefined ? number('rope_theta') : r.positive('rope_theta', 10000);
  const frequencies = Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  const type = settings['rope_type'] ?? settings['type'] ?? 'default';
  if (type === 'default') return frequencies;
  if (type === 'llama3') {
    const factor = number('factor');
    const low = number('low_freq_factor');
    const high = number('high_freq_factor');
    const original = number('original_max_position_embeddings');
    if (high <= low) r.fail(`config.json's ${key}.high_freq_factor ${high} is not above its low_freq_factor ${low}`);
    // Wavelengths shorter than original/high keep their frequency, longer than original/low are
    // slowed by `factor`, and those between are interpolated linearly in original/wavelength.
    return frequencies.map((f) => {
      const wavelength = (2 * Math.PI) / f;
      if (wavelength < original / high) return f;
      if (wavelength > original / low) return f / factor;
      const smooth = (original / wavelength - low) / (high - low);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  return r.fail(`config.json's ${key} has rope_type ${JSON.stringify(type)}; the built-in Llama evaluator computes rotary embeddings without scaling or with rope_type "llama3"; evaluate it with task(..., command="...")`);
}

/** Reads the fields Llama needs from a parsed config.json; `what` names the model in messages. */
export function llamaConfig(raw: Readonly<Record<string, unknown>>, what: string): LlamaConfig {
  const r = new ConfigReader(raw, what);
  r.choice('hidden_act', 'silu', ['silu'], 'Llama');
  const hidden = r.integer('hidden_size');
  const heads = r.integer('num_attention_heads');
  const kvHeads = r.optionalInteger('num_key_value_heads') ?? heads;
  if (heads % kvHeads !== 0) r.fail(`config.json's num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const stated = r.optionalInteger('head_dim');
  if (stated === undefined && hidden % heads !== 0) r.fail(`config.json's hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} and it gives no head_dim`);
  const headDim = stated ?? hidden / heads;
  // Rotary embeddings turn pairs of a head's dimensions (i, i + headDim / 2).
  if (headDim % 2 !== 0) r.fail(`the attention heads are ${headDim} wide; rotary position embeddings need an even width`);
  return {
    layers: r.integer('num_hidden_layers'),
    heads,
    kvHeads,
    hidden,
    headDim,
    inner: r.integer('intermediate_size'),
    positions: r.integer('max_position_embeddings'),
    vocab: r.integer('vocab_size'),
    epsilon: r.positive('rms_norm_eps', 1e-6),
    attentionBias: r.boolean('attention_bias', false),
    mlpBias: r.boolean('mlp_bias', false),
    inverseFrequencies: rotaryFrequencies(r, headDim),
  };
}

/** Every tensor a Llama of this configuration reads, with its shape (lm_head only when untied). */
function llamaTensorShapes(c: LlamaConfig, untied: boolean): Map<string, readonly number[]> {
  const h = c.hidden;
  const shapes = new Map<string, readonly number[]>([['model.embed_tokens.weight', [c.vocab, h]]]);
  const linear = (name: string, out: number, input: number, bias: boolean): void => {
    shapes.set(`${name}.weight`, [out, input]);
    if (bias) shapes.set(`${name}.bias`, [out]);
  };
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    linear(`${p}.self_attn.q_proj`, c.heads * c.headDim, h, c.attentionBias);
    linear(`${p}.self_attn.k_proj`, c.kvHeads * c.headDim, h, c.attentionBias);
    linear(`${p}.self_attn.v_proj`, c.kvHeads * c.headDim, h, c.attentionBias);
    linear(`${p}.self_attn.o_proj`, h, c.heads * c.headDim, c.attentionBias);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    linear(`${p}.mlp.gate_proj`, c.inner, h, c.mlpBias);
    linear(`${p}.mlp.up_proj`, c.inner, h, c.mlpBias);
    linear(`${p}.mlp.down_proj`, h, c.inner, c.mlpBias);
  }
  shapes.set('model.norm.weight', [h]);
  if (untied) shapes.set('lm_head.weight', [c.vocab, h]);
  return shapes;
}

/** The rotary inverse frequencies older checkpoints saved per layer; they come from config.json instead. */
const BUFFERS = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/** A Llama's weights on the tfjs backend; dispose() frees them. */
export class LlamaWeights extends DecoderWeights<LlamaConfig> {
  /** Uploads `weights` after checking that they are exactly a Llama of `config`; Linear weights (and an untied head) are stored transposed, [in, out]: see uploadExact. */
  static upload(tf: Tf, config: LlamaConfig, weights: ReadonlyMap<string, MaterializedTensor>, what: string): LlamaWeights {
    const untied = weights.has('lm_head.weight');
    const tensors = uploadExact(tf, llamaTensorShapes(config, untied), weights, what, `a Llama of ${config.layers} layers`, { buffers: BUFFERS, transpose: (name) => name.endsWith('_proj.weight') || name === 'lm_head.weight' });
    return new LlamaWeights(tf, config, tensors, 'model.embed_tokens.weight', true);
  }

  /** The final hidden states [batch, length, hidden] (after model.norm). */
  hidden(ids: Int32Array, batch: number, length: number): Tensor {
    const tf = this.tf;
    const c = this.config;
    this.checkLength(length);
    return tf.tidy(() => {
      let x = tf.gather(this.w('model.embed_tokens.weight'), tf.tensor2d(ids, [batch, length], 'int32'));
      const mask = causalMask(tf, length);
      const { cos, sin } = rotaryTables(tf, c.inverseFrequencies, length);
      const scale = 1 / Math.sqrt(c.headDim);
      // Query head q reads key/value head floor(q / group), as transformers' repeat_kv lays them out.
      const group = c.heads / c.kvHeads;
      const kvOfHead = tf.tensor1d(Array.from({ length: c.heads }, (_, q) => Math.floor(q / group)), 'int32');
      const linear = (input: Tensor, name: string, out: number): Tensor => {
        const flat = tf.reshape(input, [-1, input.shape[input.shape.length - 1]!]);
        const product = tf.matMul(flat, this.w(`${name}.weight`));
        const bias = this.optional(`${name}.bias`);
        return tf.reshape(bias ? tf.add(product, bias) : product, [batch, length, out]);
      };
      const heads = (input: Tensor, name: string, count: number): Tensor => splitHeads(tf, linear(input, name, count * c.headDim), count, c.headDim);
      const norm = (t: Tensor, name: string): Tensor => rmsNorm(tf, t, this.w(`${name}.weight`), c.epsilon);
      for (let i = 0; i < c.layers; i++) {
        const p = `model.layers.${i}`;
        const a = norm(x, `${p}.input_layernorm`);
        const q = applyRotary(tf, heads(a, `${p}.self_attn.q_proj`, c.heads), cos, sin);
        const k = tf.gather(applyRotary(tf, heads(a, `${p}.self_attn.k_proj`, c.kvHeads), cos, sin), kvOfHead, 1);
        const v = tf.gather(heads(a, `${p}.self_attn.v_proj`, c.kvHeads), kvOfHead, 1);
        const scores = tf.add(tf.mul(tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])), scale), mask);
        const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), v), [0, 2, 1, 3]), [batch, length, c.heads * c.headDim]);
        x = tf.add(x, linear(attended, `${p}.self_attn.o_proj`, c.hidden));
        const m = norm(x, `${p}.post_attention_layernorm`);
        const gated = tf.mul(silu(tf, linear(m, `${p}.mlp.gate_proj`, c.inner)), linear(m, `${p}.mlp.up_proj`, c.inner));
        x = tf.add(x, linear(gated, `${p}.mlp.down_proj`, c.hidden));
      }
      return norm(x, 'model.norm');
    });
  }
}

export const llama: CausalLmFamily<LlamaConfig> = {
  name: 'Llama',
  task: 'causal-lm',
  modelTypes: ['llama'],
  architectures: ['LlamaForCausalLM'],
  config: llamaConfig,
  upload: (tf, config, weights, what) => LlamaWeights.upload(tf, config, weights, what),
};
