// One entry point for every checkpoint format, chosen from the name, and a cache so
// that re-checking an unchanged recipe never re-reads a header.
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { checkpointError, readFailure } from './errors.ts';
import { readHfFolderConfig } from './hf-config.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readLoraAdapterConfig } from './peft-adapter.ts';
import { readSafetensorsHeader } from './safetensors.ts';
import { readShardedSafetensorsHeader } from './sharded.ts';
import { readTfjsHeader } from './tfjs.ts';
import { CheckpointError } from './types.ts';
import type { CheckpointFormat, CheckpointHeader, FileIdentity } from './types.ts';

/** File names looked for, in this order, when a recipe names a directory. */
export const DIRECTORY_CANDIDATES = ['model.safetensors', 'model.safetensors.index.json', 'model.json'] as const;

const PICKLE_EXTENSIONS = /\.(bin|pt|pth|ckpt|pkl)$/i;

/** Why pickles are refused and how to convert one, for every message that meets one. */
const PICKLE_ADVICE = 'PyTorch .bin/.pt/.ckpt files are pickles, which can run code when loaded, and tvr never reads them: convert them to safetensors first (in Python, with a transformers version you trust: AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, safe_serialization=True))';

/** The format a file name implies, or undefined when the name says nothing. */
export function formatFromName(path: string): CheckpointFormat | undefined {
  const name = basename(path).toLowerCase();
  if (name.endsWith('.safetensors.index.json')) return 'safetensors-sharded';
  if (name.endsWith('.safetensors')) return 'safetensors';
  if (name.endsWith('.json')) return 'tfjs-layers';
  return undefined;
}

interface ResolvedCheckpoint {
  readonly file: string;
  /** The folder the recipe named, when it named one, and the names it holds. */
  readonly folder?: { readonly path: string; readonly names: readonly string[] };
}

async function resolveCheckpointFile(path: string): Promise<ResolvedCheckpoint> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw readFailure(error, path, 'find the checkpoint');
  }
  if (!stats.isDirectory()) return { file: path };
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    throw readFailure(error, path, 'list the checkpoint directory');
  }
  const found = DIRECTORY_CANDIDATES.find((candidate) => names.includes(candidate));
  if (found) return { file: join(path, found), folder: { path, names } };
  if (names.includes(ADAPTER_CONFIG)) {
    if (names.includes(ADAPTER_WEIGHTS)) return { file: join(path, ADAPTER_WEIGHTS), folder: { path, names } };
    throw checkpointError('unknown-format', path, `a PEFT adapter folder (${ADAPTER_CONFIG}) without ${ADAPTER_WEIGHTS}${names.includes('adapter_model.bin') ? `; adapter_model.bin is a pickle: ${PICKLE_ADVICE}` : ''}`);
  }
  const pickles = names.filter((name) => PICKLE_EXTENSIONS.test(name)).sort();
  const held = pickles.length > 0 ? `; it holds ${pickles.slice(0, 3).join(', ')}${pickles.length > 3 ? ` and ${pickles.length - 3} more` : ''}: ${PICKLE_ADVICE}` : '';
  throw checkpointError('unknown-format', path, `directory contains none of ${DIRECTORY_CANDIDATES.join(', ')}${held}`);
}

/**
 * Reads the header of the checkpoint at `path`: a `.safetensors` file, a
 * `*.safetensors.index.json`, a TensorFlow.js `model.json`, or a directory holding one;
 * or a PEFT adapter folder (its factors' header, with its configuration). Throws only CheckpointError.
 */
export async function readCheckpointHeader(path: string): Promise<CheckpointHeader> {
  const { file, folder } = await resolveCheckpointFile(resolve(path));
  const header = await readHeaderOfFile(file);
  // A PEFT adapter folder: its adapter_config.json travels with the factors' header.
  if (folder !== undefined && basename(file) === ADAPTER_WEIGHTS) return { ...header, loraAdapter: await readLoraAdapterConfig(folder.path) };
  // A Hugging Face model folder: its config.json travels with the weights' header.
  const hfConfig = folder !== undefined && header.format !== 'tfjs-layers' ? await readHfFolderConfig(folder.path, folder.names) : undefined;
  return hfConfig ? { ...header, hfConfig } : header;
}

async function readHeaderOfFile(file: string): Promise<CheckpointHeader> {
  switch (formatFromName(file)) {
    case 'safetensors': return readSafetensorsHeader(file);
    case 'safetensors-sharded': return readShardedSafetensorsHeader(file);
    case 'tfjs-layers': return readTfjsHeader(file);
    default: {
      const pickle = PICKLE_EXTENSIONS.test(file) ? `; ${PICKLE_ADVICE}` : '';
      throw checkpointError('unknown-format', file, `cannot tell the checkpoint format from the name: expected .safetensors, .safetensors.index.json, model.json or a directory holding one${pickle}`);
    }
  }
}

async function identityOf(path: string): Promise<FileIdentity | undefined> {
  try {
    const stats = await stat(path);
    return { path, size: stats.size, mtimeMs: stats.mtimeMs };
  } catch {
    return undefined;
  }
}

async function unchanged(identities: readonly FileIdentity[]): Promise<boolean> {
  const now = await Promise.all(identities.map((id) => identityOf(id.path)));
  return now.every((id, i) => id !== undefined && id.size === identities[i]!.size && id.mtimeMs === identities[i]!.mtimeMs);
}

interface CacheEntry {
  /** Everything whose change invalidates the entry: the named path and every file read. */
  readonly identities: readonly FileIdentity[];
  readonly result: { readonly header: CheckpointHeader } | { readonly error: CheckpointError };
}

export interface HeaderCacheOptions {
  /** Most headers kept (least recently used go first). Default 64. */
  readonly maxEntries?: number;
}

/**
 * Headers keyed by absolute path and validated by file identity (size, mtime) of
 * everything they were read from. Errors are cached the same way, so a broken file
 * is not re-parsed on every keystroke either.
 */
export class HeaderCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #reading = new Map<string, Promise<CheckpointHeader>>();
  readonly #maxEntries: number;

  constructor(options: HeaderCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 64;
  }

  /** Stats the files behind `path`; reuses the cached header when none changed, else reads it. */
  async get(path: string): Promise<CheckpointHeader> {
    const key = resolve(path);
    const pending = this.#reading.get(key);
    if (pending) return pending;
    const entry = this.#entries.get(key);
    if (entry && (await unchanged(entry.identities))) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      if ('error' in entry.result) throw entry.result.error;
      return entry.result.header;
    }
    const reading = this.#read(key);
    this.#reading.set(key, reading);
    try {
      return await reading;
    } finally {
      this.#reading.delete(key);
    }
  }

  invalidate(path?: string): void {
    if (path === undefined) this.#entries.clear();
    else this.#entries.delete(resolve(path));
  }

  async #read(key: string): Promise<CheckpointHeader> {
    // The named path is stated before reading, so a change during the read invalidates.
    const named = await identityOf(key);
    try {
      const header = await readCheckpointHeader(key);
      this.#store(key, { identities: withNamed(named, [...header.files, ...(header.hfConfig?.files ?? []), ...(header.loraAdapter?.files ?? [])]), result: { header } });
      return header;
    } catch (error) {
      if (error instanceof CheckpointError && named && error.code !== 'not-found') {
        const atFault = error.file === key ? undefined : await identityOf(error.file);
        this.#store(key, { identities: withNamed(named, atFault ? [atFault] : []), result: { error } });
      }
      throw error;
    }
  }

  #store(key: string, entry: CacheEntry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

function withNamed(named: FileIdentity | undefined, files: readonly FileIdentity[]): FileIdentity[] {
  return named && !files.some((f) => f.path === named.path) ? [named, ...files] : [...files];
}
