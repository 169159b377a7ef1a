// Tokenization with a model folder's tokenizer.json, offline, by Hugging Face's pure
// JavaScript tokenizers library (@huggingface/tokenizers: 0.65 MB, no native code; see
// docs/evaluation.md for the measurements behind the choice). Causal LMs are scored on
// the text alone: no special tokens are added.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { EvaluationError } from './errors.ts';

/** The largest tokenizer.json read (GPT-2's is 1.4 MB; large multilingual ones about 30 MB). */
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024;

export interface TextTokenizer {
  /** Token ids of `text`, without added special tokens. */
  encode(text: string): Int32Array;
}

async function readJsonFile(path: string, what: string, required: boolean): Promise<unknown> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new EvaluationError('model', `${what}: ${path} is not a regular file`, { file: path });
    size = s.size;
  } catch (error) {
    if (error instanceof EvaluationError) throw error;
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EvaluationError('model', `${what}: cannot read ${path}: ${(error as Error).message}`, { file: path, cause: error });
  }
  if (size > MAX_TOKENIZER_BYTES) throw new EvaluationError('model', `${what}: ${path} is ${size} bytes, more than the ${MAX_TOKENIZER_BYTES} read`, { file: path });
  try {
    return JSON.parse(await readFile(path, 'utf8'));
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
