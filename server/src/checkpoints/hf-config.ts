// Hugging Face model folders: the facts of config.json (and the presence and vocabulary
// of tokenizer.json) that the checker compares before anything runs. Both are read as
// data with the strict parser and size limits; nothing in the folder is executed, and
// `auto_map` / custom code references are ignored.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointError, readFailure } from './errors.ts';
import { readBoundedFile } from './open-input.ts';
import { describeJson, isJsonObject, JsonNumber, parseStrictJson, StrictJsonError, type JsonObject, type JsonValue } from './strict-json.ts';
import type { FileIdentity, HfModelConfig } from './types.ts';

/** config.json of real models is a few kB; anything near this is not a configuration. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** tokenizer.json of published models reaches about 35 MB (Gemma); larger ones are not compared. */
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024;
/** Vocabularies larger than this (published ones reach about 260,000) are not compared. */
const MAX_VOCABULARY = 1 << 20;

/**
 * Families whose transformers configuration class unties the output head by default;
 * every other family inherits PretrainedConfig's default, which ties it.
 */
const UNTIED_BY_DEFAULT: ReadonlySet<string> = new Set(['llama', 'mistral', 'mixtral', 'qwen2', 'qwen2_moe', 'qwen3', 'qwen3_moe', 'phi3']);

/** `tie_word_embeddings` when config.json does not state it. */
function tiesByDefault(modelType: string | undefined): boolean {
  return modelType === undefined || !UNTIED_BY_DEFAULT.has(modelType);
}

interface JsonFile {
  readonly identity: FileIdentity;
  readonly root: JsonValue;
}

/** Reads and strictly parses a JSON file of at most `maxBytes`; `undefined` when it is larger and `oversize` is 'skip'. */
export async function readJsonFile(file: string, what: string, maxBytes: number, oversize: 'error' | 'skip'): Promise<JsonFile | undefined> {
  const tooLarge = oversize === 'skip' ? 'skip' : (size: number) => checkpointError('bad-config', file, `${what} is ${size} bytes, more than the ${maxBytes}-byte limit`);
  const read = await readBoundedFile(file, what, maxBytes, `read ${what}`, tooLarge);
  if (!read) return undefined;
  const { bytes, identity } = read;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw checkpointError('bad-config', file, `${what} is not valid UTF-8`);
  }
  try {
    return { identity, root: parseStrictJson(text, 64) };
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    if (error.kind === 'duplicate-key') throw checkpointError('bad-config', file, `${what} has the key ${JSON.stringify(error.key)} twice (at offset ${error.offset})`);
    throw checkpointError('bad-config', file, `${what} is not valid JSON: ${error.message}`);
  }
}

type Read<T> = (value: JsonValue) => T | undefined;

const asString: Read<string> = (v) => (typeof v === 'string' ? v : undefined);
const asBool: Read<boolean> = (v) => (typeof v === 'boolean' ? v : undefined);
const asCount: Read<number> = (v) => (v instanceof JsonNumber && v.isSafeNonNegativeInteger() ? v.value : undefined);

/** The first of `keys` present (and not null) in `root`, read by `read`; a present value of another kind is an error naming it. */
function field<T>(file: string, root: JsonObject, keys: readonly string[], expected: string, read: Read<T>): T | undefined {
  for (const key of keys) {
    const value = root.get(key);
    if (value === undefined || value === null) continue;
    const result = read(value);
    if (result === undefined) throw checkpointError('bad-config', file, `config.json: "${key}" must be ${expected}, not ${describeJson(value)}`);
    return result;
  }
  return undefined;
}

/** The classes of a sequence-classification head as transformers reads them: id2label's size, else num_labels, else 2. */
function headClasses(file: string, root: JsonObject): number {
  const id2label = root.get('id2label');
  if (id2label === undefined || id2label === null) return field(file, root, ['num_labels'], 'a non-negative integer', asCount) ?? 2;
  if (!isJsonObject(id2label)) throw checkpointError('bad-config', file, `config.json: "id2label" must be an object of labels by class id, not ${describeJson(id2label)}`);
  return id2label.size;
}

/** The facts of a parsed config.json (pure: for tests and for `readHfFolderConfig`). */
export function hfConfigFacts(file: string, root: JsonValue): Omit<HfModelConfig, 'path' | 'hasTokenizer' | 'hasGenerationConfig' | 'vocabulary' | 'files'> {
  if (!isJsonObject(root)) throw checkpointError('bad-config', file, `config.json must be a JSON object, not ${describeJson(root)}`);
  const modelType = field(file, root, ['model_type'], 'a string', asString);
  const architecturesValue = root.get('architectures');
  let architectures: string[] = [];
  if (architecturesValue !== undefined && architecturesValue !== null) {
    if (!Array.isArray(architecturesValue) || !architecturesValue.every((a) => typeof a === 'string')) {
      throw checkpointError('bad-config', file, `config.json: "architectures" must be a list of strings, not ${describeJson(architecturesValue)}`);
    }
    architectures = architecturesValue as string[];
  }
  const count = 'a non-negative integer';
  const layers = field(file, root, ['num_hidden_layers', 'n_layer', 'num_layers'], count, asCount);
  const hiddenSize = field(file, root, ['hidden_size', 'n_embd', 'd_model'], count, asCount);
  const vocabSize = field(file, root, ['vocab_size'], count, asCount);
  const tie = field(file, root, ['tie_word_embeddings'], 'true or false', asBool);
  const torchDtype = field(file, root, ['torch_dtype', 'dtype'], 'a string', asString);
  return {
    ...(modelType !== undefined ? { modelType } : {}),
    architectures,
    ...(layers !== undefined ? { layers } : {}),
    ...(hiddenSize !== undefined ? { hiddenSize } : {}),
    ...(vocabSize !== undefined ? { vocabSize } : {}),
    tieWordEmbeddings: tie ?? tiesByDefault(modelType),
    tieStated: tie !== undefined,
    ...(torchDtype !== undefined ? { torchDtype } : {}),
    numLabels: headClasses(file, root),
  };
}

/**
 * tokenizer.json's `model.vocab` as tokens by id: a map token -> id (BPE, WordPiece,
 * WordLevel) or a list of [token, score] (Unigram). Undefined for any other shape or a
 * vocabulary past MAX_VOCABULARY: the vocabulary is then simply not compared.
 */
export function vocabularyOf(root: JsonValue): (string | undefined)[] | undefined {
  if (!isJsonObject(root)) return undefined;
  const model = root.get('model');
  if (!isJsonObject(model)) return undefined;
  const vocab = model.get('vocab');
  if (isJsonObject(vocab)) {
    if (vocab.size > MAX_VOCABULARY) return undefined;
    const tokens: (string | undefined)[] = [];
    for (const [token, id] of vocab) {
      if (!(id instanceof JsonNumber) || !id.isSafeNonNegativeInteger() || id.value >= MAX_VOCABULARY) return undefined;
      // Holes stay undefined; a sparse map's array grows only to its largest id.
      tokens[id.value] = token;
    }
    return Array.from(tokens);
  }
  if (Array.isArray(vocab)) {
    if (vocab.length > MAX_VOCABULARY) return undefined;
    const tokens: string[] = [];
    for (const entry of vocab) {
      const token = Array.isArray(entry) ? entry[0] : undefined;
      if (typeof token !== 'string') return undefined;
      tokens.push(token);
    }
    return tokens;
  }
  return undefined;
}

/**
 * Reads the configuration of the model folder `dir`, or returns undefined when it holds no
 * config.json (a plain folder of weights). `listed` is the folder's listing when the caller
 * has it already. A malformed config.json or tokenizer.json is a
 * CheckpointError ('bad-config') naming the key at fault.
 */
export async function readHfFolderConfig(dir: string, listed?: readonly string[]): Promise<HfModelConfig | undefined> {
  let names: readonly string[];
  try {
    names = listed ?? await readdir(dir);
  } catch (error) {
    throw readFailure(error, dir, 'list the model folder');
  }
  if (!names.includes('config.json')) return undefined;
  const path = join(dir, 'config.json');
  const config = (await readJsonFile(path, 'config.json', MAX_CONFIG_BYTES, 'error'))!;
  const facts = hfConfigFacts(path, config.root);
  const files = [config.identity];
  let vocabulary: (string | undefined)[] | undefined;
  const hasTokenizer = names.includes('tokenizer.json');
  if (hasTokenizer) {
    const tokenizer = await readJsonFile(join(dir, 'tokenizer.json'), 'tokenizer.json', MAX_TOKENIZER_BYTES, 'skip');
    if (tokenizer) {
      files.push(tokenizer.identity);
      vocabulary = vocabularyOf(tokenizer.root);
    }
  }
  return {
    path,
    ...facts,
    hasTokenizer,
    hasGenerationConfig: names.includes('generation_config.json'),
    ...(vocabulary ? { vocabulary } : {}),
    files,
  };
}
