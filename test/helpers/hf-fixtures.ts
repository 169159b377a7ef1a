// Tiny random-weight Hugging Face model folders for tests: the files `save_pretrained`
// writes (config.json, model.safetensors or a sharded index, tokenizer.json,
// generation_config.json), with the tensor names and shapes of GPT2LMHeadModel and
// LlamaForCausalLM. Weights come from a seed (checkpoint-fixtures.ts), so every value is
// known to the test; nothing is downloaded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom, storedValue, writeSafetensors, writeShardedSafetensors } from './checkpoint-fixtures.ts';
import type { FixtureDtype, FixtureModel, FixtureTensor, FixtureTensorSpec } from './checkpoint-fixtures.ts';

/** The architectures these fixtures can write. */
export type HfFamily = 'gpt2' | 'llama';

/** Sizes of a tiny transformer; every field has a small default. */
export interface HfSizes {
  /** Embedding rows (config `vocab_size`). Default 1000. */
  readonly vocabSize?: number;
  /** Transformer blocks (`n_layer` / `num_hidden_layers`). Default 2. */
  readonly layers?: number;
  /** Model width (`n_embd` / `hidden_size`). Default 16. */
  readonly hiddenSize?: number;
  /** Attention heads. Default 4. */
  readonly heads?: number;
  /** Llama only: key/value heads for grouped-query attention. Default `heads / 2` (at least 1). */
  readonly kvHeads?: number;
  /** MLP width (GPT-2 `n_inner`, Llama `intermediate_size`). Default 4 x hidden (GPT-2), 3 x hidden (Llama). */
  readonly intermediateSize?: number;
  /** Context length (`n_positions` / `max_position_embeddings`). Default 64. */
  readonly contextLength?: number;
}

export interface HfFolderOptions extends HfSizes {
  readonly family: HfFamily;
  /**
   * Whether the output head is the embedding matrix (`tie_word_embeddings`). Default: the
   * family's default (GPT-2 ties, Llama does not). A tied folder has no `lm_head.weight`.
   */
  readonly tied?: boolean;
  /** Seed of the random weights (ignored when `model` is given). Default 1. */
  readonly seed?: number;
  /** Stored dtype of every tensor; sets `torch_dtype`. Default F32. */
  readonly dtype?: Extract<FixtureDtype, 'F32' | 'F16' | 'BF16'>;
  /**
   * The weights to write instead of fresh random ones, e.g. `perturbModel(base.model, ...)`
   * for a fine-tuned copy of a base folder. Must have the family's names and shapes.
   */
  readonly model?: FixtureModel;
  /** Keys merged into config.json after the family's defaults; `undefined` removes a key (e.g. `model_type`). */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * The tokenizer's vocabulary, token i having id i; default `hfVocabulary(vocabSize)`.
   * `false` writes no tokenizer.json.
   */
  readonly vocab?: readonly string[] | false;
  /** Write generation_config.json. Default true. */
  readonly generationConfig?: boolean;
  /** Split the weights into this many shards with model.safetensors.index.json. Default 1 (model.safetensors). */
  readonly shards?: number;
}

/** What was written: the folder and everything in it, for reference computations. */
export interface HfFolder {
  readonly dir: string;
  readonly family: HfFamily;
  /** config.json as written. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The weights as stored (values already rounded into the dtype). */
  readonly model: FixtureModel;
  /** The tokenizer's vocabulary (id -> token), or undefined when no tokenizer.json was written. */
  readonly vocab: readonly string[] | undefined;
  /** Path of model.safetensors or model.safetensors.index.json. */
  readonly weightsPath: string;
}

const TRANSFORMERS_VERSION = '4.44.0';
const TORCH_DTYPES: Record<string, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

interface ResolvedSizes {
  readonly vocabSize: number;
  readonly layers: number;
  readonly hiddenSize: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly intermediateSize: number;
  readonly contextLength: number;
}

function resolveSizes(family: HfFamily, sizes: HfSizes): ResolvedSizes {
  const hiddenSize = sizes.hiddenSize ?? 16;
  const heads = sizes.heads ?? 4;
  return {
    vocabSize: sizes.vocabSize ?? 1000,
    layers: sizes.layers ?? 2,
    hiddenSize,
    heads,
    kvHeads: sizes.kvHeads ?? Math.max(1, Math.floor(heads / 2)),
    intermediateSize: sizes.intermediateSize ?? (family === 'gpt2' ? 4 : 3) * hiddenSize,
    contextLength: sizes.contextLength ?? 64,
  };
}

/** The family's default for `tie_word_embeddings` in transformers (GPT-2 ties, Llama does not). */
export function hfTiesByDefault(family: HfFamily): boolean {
  return family === 'gpt2';
}

/**
 * Tensor names and shapes of GPT2LMHeadModel as `save_pretrained` writes them: Conv1D
 * weights stored `[in, out]`; `lm_head.weight` [vocab, n_embd] only when untied.
 */
export function gpt2Specs(sizes: HfSizes = {}, tied = true): FixtureTensorSpec[] {
  const s = resolveSizes('gpt2', sizes);
  const n = s.hiddenSize;
  const specs: FixtureTensorSpec[] = [
    { name: 'transformer.wte.weight', shape: [s.vocabSize, n] },
    { name: 'transformer.wpe.weight', shape: [s.contextLength, n] },
  ];
  for (let i = 0; i < s.layers; i++) {
    const p = `transformer.h.${i}`;
    specs.push(
      { name: `${p}.ln_1.weight`, shape: [n] }, { name: `${p}.ln_1.bias`, shape: [n] },
      { name: `${p}.attn.c_attn.weight`, shape: [n, 3 * n] }, { name: `${p}.attn.c_attn.bias`, shape: [3 * n] },
      { name: `${p}.attn.c_proj.weight`, shape: [n, n] }, { name: `${p}.attn.c_proj.bias`, shape: [n] },
      { name: `${p}.ln_2.weight`, shape: [n] }, { name: `${p}.ln_2.bias`, shape: [n] },
      { name: `${p}.mlp.c_fc.weight`, shape: [n, s.intermediateSize] }, { name: `${p}.mlp.c_fc.bias`, shape: [s.intermediateSize] },
      { name: `${p}.mlp.c_proj.weight`, shape: [s.intermediateSize, n] }, { name: `${p}.mlp.c_proj.bias`, shape: [n] },
    );
  }
  specs.push({ name: 'transformer.ln_f.weight', shape: [n] }, { name: 'transformer.ln_f.bias', shape: [n] });
  if (!tied) specs.push({ name: 'lm_head.weight', shape: [s.vocabSize, n] });
  return specs;
}

/**
 * Tensor names and shapes of LlamaForCausalLM: linear weights stored `[out, in]`,
 * grouped-query k/v projections `[kvHeads * headDim, hidden]`; `lm_head.weight` only when untied.
 */
export function llamaSpecs(sizes: HfSizes = {}, tied = false): FixtureTensorSpec[] {
  const s = resolveSizes('llama', sizes);
  const n = s.hiddenSize;
  const kv = s.kvHeads * (n / s.heads);
  const specs: FixtureTensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocabSize, n] }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [n] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [n, n] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, n] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, n] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [n, n] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [n] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [s.intermediateSize, n] },
      { name: `${p}.mlp.up_proj.weight`, shape: [s.intermediateSize, n] },
      { name: `${p}.mlp.down_proj.weight`, shape: [n, s.intermediateSize] },
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [n] });
  if (!tied) specs.push({ name: 'lm_head.weight', shape: [s.vocabSize, n] });
  return specs;
}

/** config.json as transformers writes it for the family (before `options.config` overrides). */
export function hfConfig(family: HfFamily, sizes: HfSizes = {}, tied = hfTiesByDefault(family), dtype: string = 'F32'): Record<string, unknown> {
  const s = resolveSizes(family, sizes);
  const torchDtype = TORCH_DTYPES[dtype] ?? 'float32';
  if (family === 'gpt2') {
    return {
      activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], attn_pdrop: 0.1, bos_token_id: 1,
      embd_pdrop: 0.1, eos_token_id: 1, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2',
      n_ctx: s.contextLength, n_embd: s.hiddenSize, n_head: s.heads, n_inner: s.intermediateSize, n_layer: s.layers,
      n_positions: s.contextLength, reorder_and_upcast_attn: false, resid_pdrop: 0.1,
      scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true,
      // transformers writes only what differs from PretrainedConfig's defaults (which tie).
      ...(tied ? {} : { tie_word_embeddings: false }),
      torch_dtype: torchDtype, transformers_version: TRANSFORMERS_VERSION, use_cache: true, vocab_size: s.vocabSize,
    };
  }
  return {
    architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 2, eos_token_id: 1,
    head_dim: s.hiddenSize / s.heads, hidden_act: 'silu', hidden_size: s.hiddenSize, initializer_range: 0.02,
    intermediate_size: s.intermediateSize, max_position_embeddings: s.contextLength, mlp_bias: false, model_type: 'llama',
    num_attention_heads: s.heads, num_hidden_layers: s.layers, num_key_value_heads: s.kvHeads, pretraining_tp: 1,
    rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 10000.0, tie_word_embeddings: tied, torch_dtype: torchDtype,
    transformers_version: TRANSFORMERS_VERSION, use_cache: true, vocab_size: s.vocabSize,
  };
}

const WORDS = [
  'the', 'of', 'and', 'to', 'a', 'in', 'is', 'that', 'for', 'it', 'as', 'was', 'with', 'be', 'by', 'on', 'not', 'he',
  'this', 'are', 'or', 'his', 'from', 'at', 'which', 'but', 'have', 'an', 'had', 'they', 'you', 'were', 'their', 'one',
  'all', 'we', 'can', 'her', 'has', 'there', 'been', 'if', 'more', 'when', 'will', 'would', 'who', 'so', 'no', '.', ',',
];

/**
 * A vocabulary of `size` distinct tokens, token i having id i: `[UNK]` (0), `<|endoftext|>`
 * (1), `<s>` (2), then common English words and punctuation, then `tok<i>`. Prefixes agree:
 * `hfVocabulary(1000)` is the first 1000 tokens of `hfVocabulary(1003)`. With `differFrom`,
 * every id from there on gets another token (`alt<i>`), for tokenizers that disagree.
 */
export function hfVocabulary(size: number, options: { readonly differFrom?: number } = {}): string[] {
  const fixed = ['[UNK]', '<|endoftext|>', '<s>', ...WORDS];
  const vocab: string[] = [];
  for (let i = 0; i < size; i++) {
    vocab.push(options.differFrom !== undefined && i >= options.differFrom ? `alt${i}` : (fixed[i] ?? `tok${i}`));
  }
  return vocab;
}

/**
 * A minimal tokenizer.json (the `tokenizers` library's format): a WordLevel model over
 * `vocab` with a Whitespace pre-tokenizer, `[UNK]` for unknown words and
 * `<|endoftext|>` / `<s>` as added special tokens when present.
 */
export function hfTokenizerJson(vocab: readonly string[]): Record<string, unknown> {
  const map: Record<string, number> = {};
  vocab.forEach((token, id) => { map[token] = id; });
  const special = ['[UNK]', '<|endoftext|>', '<s>'].filter((t) => t in map);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content) => ({
      id: map[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: map, unk_token: '[UNK]' },
  };
}

function isNormWeight(name: string): boolean {
  return /(ln_\d|ln_f|layernorm|norm)\.weight$/.test(name);
}

/**
 * Random weights for `specs`: uniform in [-0.1, 0.1), norm scales in [0.9, 1.1) so that
 * forward passes stay well conditioned; values rounded into `dtype`.
 */
export function hfRandomModel(specs: readonly FixtureTensorSpec[], seed: number, dtype: FixtureDtype = 'F32'): FixtureModel {
  const random = seededRandom(seed);
  const tensors: FixtureTensor[] = specs.map((spec) => {
    const values = new Float64Array(spec.shape.reduce((a, b) => a * b, 1));
    const centre = isNormWeight(spec.name) ? 1 : 0;
    for (let i = 0; i < values.length; i++) values[i] = storedValue(centre + (2 * random() - 1) * 0.1, dtype);
    return { name: spec.name, dtype, shape: [...spec.shape], values };
  });
  return { tensors };
}

/** Tensor specs of a folder with these options (names and shapes only). */
export function hfSpecs(options: Pick<HfFolderOptions, 'family' | 'tied'> & HfSizes): FixtureTensorSpec[] {
  const tied = options.tied ?? hfTiesByDefault(options.family);
  return options.family === 'gpt2' ? gpt2Specs(options, tied) : llamaSpecs(options, tied);
}

/**
 * Writes a Hugging Face model folder at `dir` (created if needed): config.json,
 * model.safetensors (metadata `{"format": "pt"}`) or shards with
 * model.safetensors.index.json, tokenizer.json and generation_config.json.
 */
export function writeHfFolder(dir: string, options: HfFolderOptions): HfFolder {
  mkdirSync(dir, { recursive: true });
  const family = options.family;
  const tied = options.tied ?? hfTiesByDefault(family);
  const dtype = options.dtype ?? 'F32';
  const model = options.model ?? hfRandomModel(hfSpecs({ ...options, tied }), options.seed ?? 1, dtype);
  const config: Record<string, unknown> = { ...hfConfig(family, options, tied, dtype) };
  for (const [key, value] of Object.entries(options.config ?? {})) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const metadata = { format: 'pt' };
  const shards = options.shards ?? 1;
  const weightsPath = shards > 1
    ? writeShardedSafetensors(dir, model, { shards, metadata })
    : writeSafetensors(join(dir, 'model.safetensors'), model, { metadata });
  const vocab = options.vocab === false ? undefined : (options.vocab ?? hfVocabulary(resolveSizes(family, options).vocabSize));
  if (vocab) writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(hfTokenizerJson(vocab), null, 2));
  if (options.generationConfig ?? true) {
    const generation = { _from_model_config: true, bos_token_id: config['bos_token_id'], eos_token_id: config['eos_token_id'], transformers_version: TRANSFORMERS_VERSION };
    writeFileSync(join(dir, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
  }
  return { dir, family, config, model, vocab, weightsPath };
}
