// Tokenization with a model folder's tokenizer.json, offline, by Hugging Face's pure
// JavaScript tokenizers library (@huggingface/tokenizers: 0.65 MB, no native code; see
// docs/evaluation.md for the measurements behind the choice). Causal LMs are scored on
// the text alone: no special tokens are added.
import { basename, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { checkpointError } from '../../checkpoints/errors.ts';
import { MAX_TOKENIZER_BYTES } from '../../checkpoints/hf-config.ts';
import { readBoundedFile } from '../../checkpoints/open-input.ts';
import type { CheckpointError } from '../../checkpoints/types.ts';
import { EvaluationError } from './errors.ts';

export interface TextTokenizer {
  /** Token ids of `text`, without added special tokens. */
  encode(text: string): Int32Array;
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
  return { encode: (text) => Int32Array.from(tokenizer.encode(text, { add_special_tokens: false }).ids) };
}

/** A model folder's config.json, parsed (an object), or undefined when the folder has none. */
export async function readModelConfig(folder: string, what: string): Promise<Record<string, unknown> | undefined> {
  const config = await readJsonFile(join(folder, 'config.json'), what, false);
  if (config === undefined) return undefined;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new EvaluationError('model', `${what}: ${join(folder, 'config.json')} is not a JSON object`);
  return config as Record<string, unknown>;
}
