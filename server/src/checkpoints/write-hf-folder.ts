// A Hugging Face model folder as an output: besides the weights (model.safetensors, or
// shards with model.safetensors.index.json, written by the safetensors writers), what
// makes the folder load with transformers: config.json from the anchor model's folder
// with the output's dtype, vocabulary size and tied head; its tokenizer files and
// generation_config.json copied; a README.md model card. Everything is written into the
// output's temporary folder and appears with the weights on commit (atomic-output.ts).
//
// Files copied from a model folder may end up published with the output, so only regular
// files inside that folder are copied (a symlink elsewhere could copy a private file),
// and each is bounded in size.
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, realpath, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { checkpointError, readFailure, writeFailure } from './errors.ts';
import { MAX_CONFIG_BYTES } from './hf-config.ts';
import { openRegularFile } from './open-input.ts';
import { isJsonObject, JsonNumber, parseStrictJson, StrictJsonError } from './strict-json.ts';
import type { JsonObject, JsonValue } from './strict-json.ts';
import type { CheckpointHeader, Dtype } from './types.ts';
import type { OutputTensor } from './write-stream.ts';
import { tensorByteLength } from './write-stream.ts';

/** Copied unchanged from the anchor's folder, those that exist: tokenizers of the common families, and generation settings. */
const HF_COPIED_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json',
  'vocab.json', 'merges.txt', 'vocab.txt', 'tokenizer.model', 'generation_config.json',
] as const;
const HF_CONFIG_FILE = 'config.json';
const HF_CARD_FILE = 'README.md';
/** Every file a folder output writes besides the weights: an earlier output holding only these (and weights) may be replaced. */
export const HF_FOLDER_FILES: readonly string[] = [HF_CONFIG_FILE, HF_CARD_FILE, ...HF_COPIED_FILES];
/** Each copied file: tokenizer.json of the largest vocabularies is about 35 MB. */
export const MAX_COPIED_BYTES = 128 << 20;
/** Nesting of config.json (a few levels in practice). */
const MAX_CONFIG_DEPTH = 64;

/** The Hugging Face model folder a checkpoint was loaded from (the reader found config.json there), or undefined. */
export function hfModelFolder(header: CheckpointHeader): string | undefined {
  return header.hfConfig ? dirname(header.hfConfig.path) : undefined;
}

/** What a folder output takes from the anchor's folder, read and checked before anything is computed. */
export interface HfAnchor {
  readonly folder: string;
  /** config.json, parsed strictly (numbers keep their source text). */
  readonly config: JsonObject;
  /** Names of the files to copy (of HF_COPIED_FILES, those it has), as found when the output was planned. */
  readonly copied: readonly string[];
}

/** Why a path in the model folder cannot be copied, if it cannot: a symlink that leads outside the folder. */
async function outsideLink(folder: string, path: string): Promise<string | undefined> {
  const stats = await lstat(path);
  if (!stats.isSymbolicLink()) return undefined;
  const [target, root] = await Promise.all([realpath(path), realpath(folder)]);
  if (isInside(target, root)) return undefined;
  // The Hugging Face hub cache links snapshots/<revision>/<file> to ../../blobs/<hash>.
  if (basename(dirname(root)) === 'snapshots' && isInside(target, join(dirname(dirname(root)), 'blobs'))) return undefined;
  return `is a symlink to ${target}, outside the model folder ${folder}; tvr copies only files inside the anchor model's folder into an output: replace the link with the file itself, or remove it`;
}

/** `path` is strictly inside `folder`, by their strings. */
export function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Opens a file of the model folder for copying: a regular file inside it, at most `limit` bytes. Undefined when absent. */
async function openFolderFile(folder: string, name: string, limit: number): Promise<{ handle: FileHandle; size: number } | undefined> {
  const path = join(folder, name);
  try {
    const refused = await outsideLink(folder, path);
    if (refused) throw checkpointError('unreadable', path, refused);
    const { handle, stats } = await openRegularFile(path, `a file of a model folder (${name})`);
    if (stats.size > limit) {
      await handle.close();
      throw checkpointError('unreadable', path, `is ${stats.size} bytes, more than the ${limit} bytes tvr copies into an output for ${name}; remove it from the model folder or shorten it`);
    }
    return { handle, size: stats.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw readFailure(error, path, `read ${name} of the anchor model's folder`);
  }
}

/** Reads the anchor's config.json and finds the files to copy, refusing what cannot be copied. Throws CheckpointError. */
export async function readHfAnchor(folder: string): Promise<HfAnchor> {
  const configPath = join(folder, HF_CONFIG_FILE);
  const opened = await openFolderFile(folder, HF_CONFIG_FILE, MAX_CONFIG_BYTES);
  if (!opened) throw checkpointError('not-found', configPath, 'the anchor model folder has no config.json any more; it is needed to write a model folder');
  let text: string;
  try {
    text = await opened.handle.readFile('utf8');
  } catch (error) {
    throw readFailure(error, configPath, 'read config.json');
  } finally {
    await opened.handle.close().catch(() => undefined);
  }
  let config: JsonValue;
  try {
    config = parseStrictJson(text, MAX_CONFIG_DEPTH);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw checkpointError('bad-config', configPath, `is not valid JSON (${error.message}); fix config.json, or save to a .safetensors path`);
  }
  if (!isJsonObject(config)) throw checkpointError('bad-config', configPath, 'holds no JSON object; fix config.json, or save to a .safetensors path');
  const copied: string[] = [];
  for (const name of HF_COPIED_FILES) {
    const file = await openFolderFile(folder, name, MAX_COPIED_BYTES);
    if (!file) continue;
    await file.handle.close();
    copied.push(name);
  }
  return { folder, config, copied };
}

/** A Hub repository id (`gpt2`, `meta-llama/Llama-3.2-1B`): what `base_model` names on the Hub. */
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

/**
 * The anchor's name for a card's `base_model`: `_name_or_path` from its config when that
 * is a Hub id (transformers records the id a model was downloaded as), else the folder's
 * name (a local path there would name a folder on someone else's disk).
 */
export function hfBaseModel(anchor: HfAnchor): string {
  const recorded = anchor.config.get('_name_or_path');
  return typeof recorded === 'string' && HUB_ID.test(recorded) && !recorded.includes('..') ? recorded : basename(anchor.folder);
}

const TORCH_DTYPES: Partial<Record<Dtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

/** The output's dtype as transformers names it: that of most float elements (every float tensor has it unless a dtype was mixed). */
export function torchDtypeOf(tensors: readonly OutputTensor[]): string | undefined {
  const elements = new Map<string, number>();
  for (const t of tensors) {
    const name = TORCH_DTYPES[t.dtype];
    if (name) elements.set(name, (elements.get(name) ?? 0) + tensorByteLength(t));
  }
  return [...elements].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** Input embeddings as the transformers families name them (GPT-2, Llama and most decoders, BERT/RoBERTa, GPT-NeoX, T5). */
const EMBEDDING = /(^|\.)(wte|embed_tokens|word_embeddings|embed_in|shared)\.weight$/;
const LM_HEAD = 'lm_head.weight';

/** Rows of the output's input embedding (its vocabulary), or of its head when it has no embedding. */
function vocabularyRows(tensors: readonly OutputTensor[]): number | undefined {
  const embedding = tensors.find((t) => EMBEDDING.test(t.name) && t.shape.length === 2) ?? tensors.find((t) => t.name === LM_HEAD && t.shape.length === 2);
  return embedding?.shape[0];
}

/**
 * config.json of the output: the anchor's, with `torch_dtype` (and `dtype`, its newer name,
 * where present) set to the output's dtype, `vocab_size` to the output's embedding rows,
 * and `tie_word_embeddings` false when the output has its own `lm_head.weight` (a tied
 * model has none: its head is the embedding). Other keys are kept as written.
 */
export function outputConfig(anchor: JsonObject, tensors: readonly OutputTensor[]): JsonObject {
  const config: JsonObject = new Map(anchor);
  const dtype = torchDtypeOf(tensors);
  if (dtype !== undefined) {
    config.set('torch_dtype', dtype);
    if (config.has('dtype')) config.set('dtype', dtype);
  }
  const rows = vocabularyRows(tensors);
  // A composite config (a text_config inside) keeps its vocabulary where it is.
  if (rows !== undefined && (config.has('vocab_size') || !config.has('text_config'))) config.set('vocab_size', new JsonNumber(String(rows)));
  const untied = tensors.some((t) => t.name === LM_HEAD);
  // transformers ties unless told otherwise: the key is written when it must say false, or was there.
  if (untied || config.has('tie_word_embeddings')) config.set('tie_word_embeddings', !untied);
  return config;
}

/** JSON text of a strictly parsed value, indented by two spaces as transformers writes it; numbers keep their source text. */
export function jsonText(value: JsonValue, indent = ''): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[\n${value.map((v) => `${inner}${jsonText(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  if (value.size === 0) return '{}';
  return `{\n${[...value].map(([k, v]) => `${inner}${JSON.stringify(k)}: ${jsonText(v, inner)}`).join(',\n')}\n${indent}}`;
}

/** What a folder output adds to its weights, written into the temporary folder before commit. */
export interface FolderContents {
  /** Names of the files it writes, and of any an earlier output of this kind may hold. */
  readonly names: readonly string[];
  write(folder: string, options: { readonly sync: boolean }): Promise<void>;
}

/** The files of a Hugging Face folder output besides its weights: config.json, the anchor's copied files, and the card (when given). */
export function hfFolderContents(anchor: HfAnchor, tensors: readonly OutputTensor[], card: string | undefined): FolderContents {
  const config = `${jsonText(outputConfig(anchor.config, tensors))}\n`;
  return {
    names: HF_FOLDER_FILES,
    async write(folder, { sync }) {
      await writeNew(join(folder, HF_CONFIG_FILE), config, sync);
      if (card !== undefined) await writeNew(join(folder, HF_CARD_FILE), card, sync);
      for (const name of anchor.copied) await copyFolderFile(anchor.folder, name, join(folder, name), sync);
    },
  };
}

async function writeNew(path: string, text: string, sync: boolean): Promise<void> {
  try {
    await writeFile(path, text, { flag: 'wx', flush: sync });
  } catch (error) {
    throw writeFailure(error, path, `write ${basename(path)} (nothing was left behind)`);
  }
}

const COPY_BUFFER = 1 << 20;

/** Copies through the checked handle (so the file copied is the one checked), never more than the bound. */
async function copyFolderFile(folder: string, name: string, to: string, sync: boolean): Promise<void> {
  const source = await openFolderFile(folder, name, MAX_COPIED_BYTES);
  // Removed since the output was planned: the folder is written without it, as if it had never been there.
  if (!source) return;
  let target: FileHandle | undefined;
  try {
    target = await open(to, 'wx');
    const buffer = new Uint8Array(COPY_BUFFER);
    let copied = 0;
    for (;;) {
      const { bytesRead } = await source.handle.read(buffer, 0, buffer.length, copied);
      if (bytesRead === 0) break;
      copied += bytesRead;
      if (copied > MAX_COPIED_BYTES) throw checkpointError('unreadable', join(folder, name), `grew past ${MAX_COPIED_BYTES} bytes while it was copied; nothing was left behind`);
      await target.write(buffer, 0, bytesRead);
    }
    if (sync) await target.sync();
  } catch (error) {
    throw writeFailure(error, to, `copy ${name} from ${folder} (nothing was left behind)`);
  } finally {
    await Promise.allSettled([source.handle.close(), target?.close()]);
  }
}
