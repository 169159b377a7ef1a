// Tiny Llama model folders for the text evaluator's tests: hf-fixtures.ts's Llama folders
// with larger random weights (attention far from uniform), GPT-2's byte-level BPE
// tokenizer.json (its size sets vocab_size), and the variants transformers' LlamaConfig
// allows: head_dim other than hidden / heads, and biases (attention_bias, mlp_bias).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel, FixtureTensorSpec } from '../../helpers/checkpoint-fixtures.ts';
import { writeHfFolder } from '../../helpers/hf-fixtures.ts';
import type { HfFolder, HfSizes } from '../../helpers/hf-fixtures.ts';
import { gpt2TokenizerJson } from './gpt2-fixtures.ts';

export interface LlamaFixtureOptions extends HfSizes {
  readonly seed: number;
  /** No lm_head.weight; tie_word_embeddings true. Default false (LlamaConfig's default). */
  readonly tied?: boolean;
  /** config head_dim; default hidden / heads. */
  readonly headDim?: number;
  readonly attentionBias?: boolean;
  readonly mlpBias?: boolean;
  /** The weights to write instead of fresh random ones. */
  readonly model?: FixtureModel;
  /** Keys merged into config.json; `undefined` removes a key. */
  readonly config?: Readonly<Record<string, unknown>>;
}

interface Shape {
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly inner: number;
  readonly layers: number;
  readonly vocab: number;
}

/** LlamaForCausalLM's tensors as save_pretrained writes them: Linear weights [out, in], biases when configured. */
function llamaFixtureSpecs(s: Shape, tied: boolean, attentionBias: boolean, mlpBias: boolean): FixtureTensorSpec[] {
  const specs: FixtureTensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, s.hidden] }];
  const linear = (name: string, out: number, input: number, bias: boolean): void => {
    specs.push({ name: `${name}.weight`, shape: [out, input] });
    if (bias) specs.push({ name: `${name}.bias`, shape: [out] });
  };
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [s.hidden] });
    linear(`${p}.self_attn.q_proj`, s.heads * s.headDim, s.hidden, attentionBias);
    linear(`${p}.self_attn.k_proj`, s.kvHeads * s.headDim, s.hidden, attentionBias);
    linear(`${p}.self_attn.v_proj`, s.kvHeads * s.headDim, s.hidden, attentionBias);
    linear(`${p}.self_attn.o_proj`, s.hidden, s.heads * s.headDim, attentionBias);
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [s.hidden] });
    linear(`${p}.mlp.gate_proj`, s.inner, s.hidden, mlpBias);
    linear(`${p}.mlp.up_proj`, s.inner, s.hidden, mlpBias);
    linear(`${p}.mlp.down_proj`, s.hidden, s.inner, mlpBias);
  }
  specs.push({ name: 'model.norm.weight', shape: [s.hidden] });
  if (!tied) specs.push({ name: 'lm_head.weight', shape: [s.vocab, s.hidden] });
  return specs;
}

/**
 * RMSNorm weights moved to 1 + noise, as trained models have them. With these and weights
 * uniform in [-1, 1) attention is far from uniform; norm weights near zero would shrink
 * queries and keys until it is nearly uniform, hiding position and mask errors.
 */
function normsNearOne(model: FixtureModel): FixtureModel {
  return { tensors: model.tensors.map((t) => (/norm\.weight$/.test(t.name) ? { ...t, values: t.values.map((v) => Math.fround(1 + v)) } : t)) };
}

/** A tiny Llama folder (2 layers, hidden 16, 4 heads, 2 key/value heads, 16 positions by default) with a byte-level BPE tokenizer.json. */
export function writeLlamaFolder(dir: string, options: LlamaFixtureOptions): HfFolder {
  const { json, vocabSize } = gpt2TokenizerJson();
  const sizes = { layers: 2, hiddenSize: 16, heads: 4, kvHeads: 2, intermediateSize: 24, contextLength: 16, ...options, vocabSize };
  const tied = options.tied ?? false;
  const headDim = options.headDim ?? sizes.hiddenSize / sizes.heads;
  const shape = { hidden: sizes.hiddenSize, heads: sizes.heads, kvHeads: sizes.kvHeads, headDim, inner: sizes.intermediateSize, layers: sizes.layers, vocab: vocabSize };
  const attentionBias = options.attentionBias ?? false;
  const mlpBias = options.mlpBias ?? false;
  const model = options.model ?? normsNearOne(makeModel(llamaFixtureSpecs(shape, tied, attentionBias, mlpBias), { seed: options.seed, scale: 1 }));
  const config = { head_dim: headDim, attention_bias: attentionBias, mlp_bias: mlpBias, ...options.config };
  const folder = writeHfFolder(dir, { family: 'llama', ...sizes, tied, model, vocab: false, config });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return folder;
}
