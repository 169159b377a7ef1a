// Tokenization with a model folder's tokenizer.json, offline, by Hugging Face's pure
// JavaScript tokenizers library (@huggingface/tokenizers: 0.65 MB, no native code; see
// docs/evaluation.md for the measurements behind the choice). Causal LMs are scored on
// the text alone: no special tokens are added; classifiers get the tokenizer's own
// post-processing ([CLS] text [SEP] pair [SEP] for BERT, <s> text </s></s> pair </s> for RoBERTa).
import { basename, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { checkpointError } from '../../checkpoints/errors.ts';
import { MAX_TOKENIZER_BYTES } from '../../checkpoints/hf-config.ts';
import { readBoundedFile } from '../../checkpoints/open-input.ts';
import type { CheckpointError } from '../../checkpoints/types.ts';
import { EvaluationError } from './errors.ts';

export interface Encoded {
  readonly ids: Int32Array;
  /** Segment ids: 0 for the text, 1 for the pair (where the tokenizer's post-processor gives them). */
  readonly typeIds: Int32Array;
}

export interface EncodeOptions {
  /** A second text encoded with the first (a classifier's text_pair). */
  readonly pair?: string;
  /** Add the tokenizer's special tokens (its post-processor); causal LMs are scored without. */
  readonly specialTokens?: boolean;
}

export interface TextTokenizer {
  encode(text: string, options?: EncodeOptions): Encoded;
}

/** A JSON file of a model folder, parsed; undefined when it is absent and not `required`. */
async function readJsonFile(path: string, what: string, required: boolean): Promise<unknown> {
  const name = basename(path);
  let bytes: Buffer;
  try {
    ({ bytes } = await readBoundedFile(path, name, MAX_TOKENIZER_BYTES, `read ${name}`, (size) => checkpointError('unreadable', path, `is ${size} bytes, more than the ${MAX_TOKENIZER_BYTES} read`)));
  } catch (error) {
    const failure = error as CheckpointError;
    if (!required && failure.code === 'not-found') return undefined;
    throw new EvaluationError('model', `${what}: ${failure.message}`, { file: path, cause: error });
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new EvaluationError('model', `${what}: ${path} is not valid JSON: ${(error as Error).message}`, { file: path, cause: error });
  }
}

/** The tokenizer of a model folder (tokenizer.json, with tokenizer_config.json when present). */
export async function loadTokenizer(folder: string, what: string): Promise<TextTokenizer> {
  const json = await readJsonFile(join(folder, 'tokenizer.json'), what, true);
  const config = (await readJsonFile(join(folder, 'tokenizer_config.json'), what, false)) ?? {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, config as object);
  } catch (error) {
    throw new EvaluationError('model', `${what}: ${join(folder, 'tokenizer.json')} cannot be used: ${(error as Error).message}`, { file: join(folder, 'tokenizer.json'), cause: error });
  }
  return {
    encode: (text, options = {}) => {
      const encoding = tokenizer.encode(text, { text_pair: options.pair ?? null, add_special_tokens: options.specialTokens ?? false, return_token_type_ids: true });
      const ids = Int32Array.from(encoding.ids);
      // A post-processor without segments (byte-level) gives none: every token is segment 0.
      return { ids, typeIds: encoding.token_type_ids ? Int32Array.from(encoding.token_type_ids) : new Int32Array(ids.length) };
    },
  };
}

/** A model folder's config.json, parsed (an object), or undefined when the folder has none. */
export async function readModelConfig(folder: string, what: string): Promise<Record<string, unknown> | undefined> {
  const config = await readJsonFile(join(folder, 'config.json'), what, false);
  if (config === undefined) return undefined;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new EvaluationError('model', `${what}: ${join(folder, 'config.json')} is not a JSON object`);
  return config as Record<string, unknown>;
}
