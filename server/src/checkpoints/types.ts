// Checkpoint headers: what every reader returns and everything downstream (the
// checker's shape tables, the engine's plan, statistics) is built from.

/** Safetensors dtype names; TensorFlow.js dtypes are mapped onto them. */
export type Dtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'I64' | 'U64' | 'F64';

export type CheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'tfjs-layers';

/** One tensor of a checkpoint and where its bytes live. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute path of the file that holds the bytes (a shard for sharded formats). */
  readonly file: string;
  /** Absolute byte offset of the first element inside `file`. */
  readonly offset: number;
  readonly byteLength: number;
  /**
   * Present only when the bytes are split over several files (a TensorFlow.js weight
   * straddling two shards): the pieces in order, their lengths summing to `byteLength`.
   * `file` and `offset` then name the first piece. Read through TensorReader, which handles both.
   */
  readonly segments?: readonly TensorSegment[];
}

/** A contiguous run of a tensor's bytes inside one file. */
export interface TensorSegment {
  readonly file: string;
  readonly offset: number;
  readonly byteLength: number;
}

/** Identity of a file for caching: a change of size or mtime invalidates. */
export interface FileIdentity {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface CheckpointHeader {
  /** Absolute path of the file the user named (model.safetensors, the index JSON, or model.json). */
  readonly path: string;
  readonly format: CheckpointFormat;
  /** In storage order. */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** safetensors `__metadata__`, or the tfjs manifest's user-defined metadata. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every file the checkpoint consists of, for cache keys and provenance. */
  readonly files: readonly FileIdentity[];
  /** Sum of tensor byte lengths. */
  readonly totalBytes: number;
  /** For TensorFlow.js LayersModels: the parsed model.json, so a writer can reuse the topology. */
  readonly tfjsModel?: unknown;
  /** For a Hugging Face model folder (one holding config.json): what its configuration says. */
  readonly hfConfig?: HfModelConfig;
  /** For a PEFT LoRA adapter folder (adapter_config.json beside adapter_model.safetensors, whose header this is): its configuration. */
  readonly loraAdapter?: LoraAdapterConfig;
}

/**
 * The facts of a PEFT LoRA adapter's adapter_config.json that turn its factors into
 * task-vector tensors (server/src/checkpoints/peft-adapter.ts reads it), with PEFT's
 * defaults for absent keys.
 */
export interface LoraAdapterConfig {
  /** Absolute path of adapter_config.json. */
  readonly path: string;
  /** `r`: the rank of every module without a rank_pattern entry. */
  readonly r: number;
  /** `lora_alpha`. */
  readonly alpha: number;
  /** `use_rslora`: scale by alpha / sqrt(r) instead of alpha / r. */
  readonly rsLora: boolean;
  /** `fan_in_fan_out`: the base stores weights as [in, out] (GPT-2's Conv1D), so ΔW is (B·A)^T. */
  readonly fanInFanOut: boolean;
  /** `target_modules`: module names (or suffixes), or one regular expression. */
  readonly targetModules?: string | readonly string[];
  /** `rank_pattern` and `alpha_pattern`, in the file's order (the first matching key wins). */
  readonly rankPattern: readonly (readonly [string, number])[];
  readonly alphaPattern: readonly (readonly [string, number])[];
  /** `base_model_name_or_path`, as written. */
  readonly baseModel?: string;
  /** Why tvr does not apply this adapter (DoRA and other variants), when it does not. */
  readonly refused?: string;
  /** adapter_config.json's identity, so an edit of it is seen. */
  readonly files: readonly FileIdentity[];
}

/**
 * The facts of a Hugging Face model folder's config.json that checks and hovers use
 * (server/src/checkpoints/hf-config.ts reads it; no code from the folder runs).
 */
export interface HfModelConfig {
  /** Absolute path of config.json. */
  readonly path: string;
  /** `model_type` (e.g. "gpt2", "llama"), when given. */
  readonly modelType?: string;
  /** `architectures` (e.g. ["GPT2LMHeadModel"]); empty when not given. */
  readonly architectures: readonly string[];
  /** Transformer blocks: `num_hidden_layers`, `n_layer` or `num_layers`. */
  readonly layers?: number;
  /** Model width: `hidden_size`, `n_embd` or `d_model`. */
  readonly hiddenSize?: number;
  /** `vocab_size`. */
  readonly vocabSize?: number;
  /** Whether the output head is the embedding matrix: `tie_word_embeddings`, or the family's default when not given. */
  readonly tieWordEmbeddings: boolean;
  /** True when config.json states `tie_word_embeddings` (false: the family's default applies). */
  readonly tieStated: boolean;
  /** `torch_dtype` (or `dtype`, its newer name), e.g. "float32". */
  readonly torchDtype?: string;
  /** Classes of a sequence-classification head: the size of `id2label`, else `num_labels`, else transformers' default 2. */
  readonly numLabels: number;
  /** The folder holds tokenizer.json. */
  readonly hasTokenizer: boolean;
  /** The folder holds generation_config.json. */
  readonly hasGenerationConfig: boolean;
  /**
   * tokenizer.json's `model.vocab` as tokens by id (an id no token has is undefined), when
   * the folder has one of a known kind (a map for BPE, WordPiece and WordLevel; a list for
   * Unigram) within the size limits; undefined otherwise.
   */
  readonly vocabulary?: readonly (string | undefined)[];
  /** Every file these facts were read from (config.json, tokenizer.json), for cache invalidation. */
  readonly files: readonly FileIdentity[];
}

/** Stable codes for everything that can be wrong with a checkpoint. */
export type CheckpointErrorCode =
  | 'not-found'
  | 'unreadable'
  | 'unknown-format'
  | 'header-length'
  | 'header-json'
  | 'header-schema'
  | 'duplicate-key'
  | 'unsupported-dtype'
  | 'bad-shape'
  | 'bad-offsets'
  | 'span-mismatch'
  | 'truncated'
  | 'trailing-bytes'
  | 'bad-index'
  | 'bad-manifest'
  | 'changed-on-disk'
  /** A model folder's config.json or tokenizer.json is malformed. */
  | 'bad-config'
  /** Two checkpoints that should share one tensor table do not. */
  | 'table-mismatch'
  /** An output path already exists and `overwrite` was not given. */
  | 'output-exists'
  /** Writing an output failed (no space, permission, ...); nothing was left behind. */
  | 'write-failed';

/** A precise, user-facing problem with a checkpoint file. Readers throw only this. */
export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  /** The file at fault (a shard or the named file). */
  readonly file: string;
  constructor(code: CheckpointErrorCode, file: string, message: string) {
    super(message);
    this.name = 'CheckpointError';
    this.code = code;
    this.file = file;
  }
}
