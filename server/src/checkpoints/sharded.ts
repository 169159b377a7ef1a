// Sharded safetensors: `model.safetensors.index.json` maps each tensor to a shard file
// beside it. Every shard header is read and validated, and the map must agree with
// the shards exactly: each tensor in the shard the index names, nothing unlisted,
// nothing in two shards, and no shard path outside the index's directory.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { checkpointError } from './errors.ts';
import { readBoundedFile } from './open-input.ts';
import { readSafetensorsHeader } from './safetensors.ts';
import { describeJson, isJsonObject, JsonNumber, parseStrictJson, StrictJsonError } from './strict-json.ts';
import type { JsonObject, JsonValue } from './strict-json.ts';
import type { CheckpointHeader, FileIdentity, TensorEntry } from './types.ts';

/** Index files of real models are kilobytes; this only stops a hostile one. */
const MAX_INDEX_BYTES = 100_000_000;
const PARALLEL_HEADER_READS = 8;

interface IndexFile {
  readonly identity: FileIdentity;
  readonly root: JsonObject;
}

async function readIndexJson(file: string): Promise<IndexFile> {
  const { bytes, identity } = await readBoundedFile(file, 'an index file', MAX_INDEX_BYTES, 'read the index', (size) => checkpointError('bad-index', file, `index is ${size} bytes, more than the ${MAX_INDEX_BYTES}-byte limit`));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw checkpointError('bad-index', file, 'index is not valid UTF-8');
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text, 64);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    if (error.kind === 'duplicate-key') {
      throw checkpointError('duplicate-key', file, `index lists ${JSON.stringify(error.key)} twice (at offset ${error.offset})`);
    }
    throw checkpointError('bad-index', file, `index is not valid JSON: ${error.message}`);
  }
  if (!isJsonObject(root)) throw checkpointError('bad-index', file, 'index must be a JSON object with "weight_map"');
  return { identity, root };
}

/** tensor -> shard path (absolute), after checking every shard name stays inside `dir`. */
function weightMapOf(file: string, root: JsonObject): Map<string, string> {
  const weightMap = root.get('weight_map');
  if (!isJsonObject(weightMap)) {
    throw checkpointError('bad-index', file, `"weight_map" must be an object mapping tensor names to shard files, found ${describeJson(weightMap)}`);
  }
  const dir = dirname(file);
  const map = new Map<string, string>();
  for (const [tensor, shard] of weightMap) {
    if (typeof shard !== 'string' || shard === '') {
      throw checkpointError('bad-index', file, `weight_map ${JSON.stringify(tensor)}: expected a shard file name, found ${describeJson(shard)}`);
    }
    const shardPath = resolve(dir, shard);
    const inside = relative(dir, shardPath);
    if (isAbsolute(shard) || inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw checkpointError('bad-index', file, `weight_map ${JSON.stringify(tensor)}: shard ${JSON.stringify(shard)} is outside the index's directory`);
    }
    map.set(tensor, shardPath);
  }
  return map;
}

function indexMetadataOf(file: string, root: JsonObject): Record<string, string> {
  const metadata = root.get('metadata');
  if (metadata === undefined || metadata === null) return {};
  if (!isJsonObject(metadata)) throw checkpointError('bad-index', file, `"metadata" must be an object, found ${describeJson(metadata)}`);
  const totalSize = metadata.get('total_size');
  if (totalSize !== undefined && !(totalSize instanceof JsonNumber && totalSize.isSafeNonNegativeInteger())) {
    throw checkpointError('bad-index', file, `"metadata.total_size" must be a non-negative integer, found ${describeJson(totalSize)}`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of metadata) {
    out[key] = typeof value === 'string' ? value : value instanceof JsonNumber ? value.text : JSON.stringify(toPlain(value));
  }
  return out;
}

function toPlain(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return value.value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (isJsonObject(value)) return Object.fromEntries([...value].map(([k, v]) => [k, toPlain(v)]));
  return value;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

/** Reads a sharded checkpoint through its index; tensors are in shard order, then offset order. */
export async function readShardedSafetensorsHeader(indexPath: string): Promise<CheckpointHeader> {
  const file = resolve(indexPath);
  const { identity, root } = await readIndexJson(file);
  const weightMap = weightMapOf(file, root);
  const indexMetadata = indexMetadataOf(file, root);
  const shardPaths = [...new Set(weightMap.values())].sort();
  const shards = await mapLimited(shardPaths, PARALLEL_HEADER_READS, readSafetensorsHeader);

  const dir = dirname(file);
  const name = (shard: string) => JSON.stringify(relative(dir, shard));
  const owner = new Map<string, string>();
  for (const shard of shards) {
    for (const tensor of shard.tensors.keys()) {
      const first = owner.get(tensor);
      if (first !== undefined) {
        throw checkpointError('bad-index', file, `tensor ${JSON.stringify(tensor)} is stored in two shards: ${name(first)} and ${name(shard.path)}`);
      }
      owner.set(tensor, shard.path);
      if (!weightMap.has(tensor)) {
        throw checkpointError('bad-index', file, `shard ${name(shard.path)} holds tensor ${JSON.stringify(tensor)}, which the index does not list`);
      }
    }
  }
  for (const [tensor, shard] of weightMap) {
    const holder = owner.get(tensor);
    if (holder === undefined) {
      throw checkpointError('bad-index', file, `index maps tensor ${JSON.stringify(tensor)} to shard ${name(shard)}, which does not contain it`);
    }
    if (holder !== shard) {
      throw checkpointError('bad-index', file, `index maps tensor ${JSON.stringify(tensor)} to shard ${name(shard)}, but it is stored in ${name(holder)}`);
    }
  }

  const tensors = new Map<string, TensorEntry>();
  for (const shard of shards) for (const [tensorName, entry] of shard.tensors) tensors.set(tensorName, entry);
  return {
    path: file,
    format: 'safetensors-sharded',
    tensors,
    metadata: { ...shards[0]?.metadata, ...indexMetadata },
    files: [identity, ...shards.flatMap((s) => s.files)],
    totalBytes: shards.reduce((sum, s) => sum + s.totalBytes, 0),
  };
}
