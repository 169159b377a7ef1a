// TensorFlow.js LayersModels: `model.json` holds the topology and a weightsManifest of
// groups; each group's bytes are its shard files concatenated in order, and its
// weights are laid out back to back in that byte stream, so a weight may straddle two
// shard files (it then gets `segments`).
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { DTYPE_BYTES } from './dtypes.ts';
import { checkpointError, readFailure } from './errors.ts';
import { readBoundedFile } from './open-input.ts';
import { checkTfjsTopology, isRecord } from './tfjs-topology.ts';
import type { CheckpointHeader, Dtype, FileIdentity, TensorEntry, TensorSegment } from './types.ts';

const MAX_MODEL_JSON_BYTES = 100_000_000;

/** TensorFlow.js dtypes that hold weights, and the safetensors dtype with the same bytes. */
export const TFJS_DTYPES: Readonly<Record<string, Dtype>> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };

interface ManifestWeight {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: Dtype;
  readonly byteLength: number;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function insideDir(dir: string, name: string): string | undefined {
  const path = resolve(dir, name);
  const rel = relative(dir, path);
  if (isAbsolute(name) || rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return path;
}

function weightOf(file: string, where: string, weight: unknown): ManifestWeight {
  if (!isRecord(weight) || typeof weight.name !== 'string') {
    throw checkpointError('bad-manifest', file, `${where}: expected {name, shape, dtype}, found ${show(weight)}`);
  }
  const what = `weight ${JSON.stringify(weight.name)}`;
  if (weight.quantization !== undefined) {
    const q = isRecord(weight.quantization) ? weight.quantization.dtype : undefined;
    throw checkpointError('unsupported-dtype', file, `${what} is quantized (${typeof q === 'string' ? q : 'unknown'}): quantized TensorFlow.js weights are not supported; save the model without quantization`);
  }
  if (typeof weight.dtype !== 'string' || !Object.hasOwn(TFJS_DTYPES, weight.dtype)) {
    throw checkpointError('unsupported-dtype', file, `${what}: dtype ${show(weight.dtype)} is not supported (supported: ${Object.keys(TFJS_DTYPES).join(', ')})`);
  }
  const dtype = TFJS_DTYPES[weight.dtype]!;
  if (!Array.isArray(weight.shape) || !weight.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw checkpointError('bad-shape', file, `${what}: shape must be an array of non-negative integers, found ${show(weight.shape)}`);
  }
  const shape = weight.shape as number[];
  const elements = shape.reduce((a, b) => a * b, 1);
  const byteLength = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(byteLength)) throw checkpointError('bad-shape', file, `${what}: shape [${shape.join(', ')}] is too large`);
  return { name: weight.name, shape: [...shape], dtype, byteLength };
}

async function shardIdentity(path: string): Promise<FileIdentity> {
  try {
    const stats = await stat(path);
    if (!stats.isFile()) throw checkpointError('unreadable', path, 'weight shard is not a regular file');
    return { path, size: stats.size, mtimeMs: stats.mtimeMs };
  } catch (error) {
    throw readFailure(error, path, 'read the weight shard');
  }
}

/** Places a group's weights in its shards' concatenated bytes, splitting any that straddle a boundary. */
function layOut(weights: readonly ManifestWeight[], shards: readonly FileIdentity[], file: string): TensorEntry[] {
  const entries: TensorEntry[] = [];
  let shard = 0;
  let shardStart = 0; // position of shards[shard] in the group's byte stream
  let position = 0;
  for (const weight of weights) {
    const segments: TensorSegment[] = [];
    let remaining = weight.byteLength;
    while (remaining > 0) {
      while (position >= shardStart + shards[shard]!.size) { shardStart += shards[shard]!.size; shard++; }
      const current = shards[shard]!;
      const take = Math.min(remaining, shardStart + current.size - position);
      segments.push({ file: current.path, offset: position - shardStart, byteLength: take });
      position += take;
      remaining -= take;
    }
    const first = segments[0] ?? { file: shards[Math.min(shard, shards.length - 1)]?.path ?? file, offset: position - shardStart };
    const entry: TensorEntry = { name: weight.name, dtype: weight.dtype, shape: weight.shape, file: first.file, offset: first.offset, byteLength: weight.byteLength };
    entries.push(segments.length > 1 ? { ...entry, segments } : entry);
  }
  return entries;
}

function metadataOf(userDefined: unknown): Record<string, string> {
  if (!isRecord(userDefined)) return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(userDefined)) out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  return out;
}

/** Reads `model.json` of a TensorFlow.js LayersModel and locates every weight in its shards. */
export async function readTfjsHeader(modelJsonPath: string): Promise<CheckpointHeader> {
  const file = resolve(modelJsonPath);
  const { bytes, identity } = await readBoundedFile(file, 'a TensorFlow.js model.json', MAX_MODEL_JSON_BYTES, 'read the model JSON', (size) => checkpointError('bad-manifest', file, `file is ${size} bytes, more than the ${MAX_MODEL_JSON_BYTES}-byte limit`));
  const text = bytes.toString('utf8');
  let model: unknown;
  try {
    model = JSON.parse(text);
  } catch (error) {
    throw checkpointError('bad-manifest', file, `not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isRecord(model)) throw checkpointError('bad-manifest', file, 'a TensorFlow.js model.json must be a JSON object');
  if (model.format !== undefined && model.format !== 'layers-model') {
    throw checkpointError('unknown-format', file, `format is ${show(model.format)}; only TensorFlow.js LayersModels ("layers-model") are read`);
  }
  if (!isRecord(model.modelTopology)) throw checkpointError('bad-manifest', file, 'no "modelTopology" object: not a TensorFlow.js LayersModel');
  if (!Array.isArray(model.weightsManifest)) throw checkpointError('bad-manifest', file, 'no "weightsManifest" array: not a TensorFlow.js LayersModel');

  const dir = dirname(file);
  const tensors = new Map<string, TensorEntry>();
  const files: FileIdentity[] = [identity];
  let totalBytes = 0;
  for (const [g, group] of model.weightsManifest.entries()) {
    const where = `weightsManifest group ${g + 1}`;
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw checkpointError('bad-manifest', file, `${where}: expected {paths: [...], weights: [...]}, found ${show(group)}`);
    }
    const weights = group.weights.map((w, i) => weightOf(file, `${where} weight ${i + 1}`, w));
    const shardPaths = group.paths.map((p) => {
      const path = typeof p === 'string' && p !== '' ? insideDir(dir, p) : undefined;
      if (!path) throw checkpointError('bad-manifest', file, `${where}: shard path ${show(p)} is not a file name inside the model's directory`);
      return path;
    });
    const shards = await Promise.all(shardPaths.map(shardIdentity));
    const needed = weights.reduce((sum, w) => sum + w.byteLength, 0);
    const held = shards.reduce((sum, s) => sum + s.size, 0);
    if (held !== needed) {
      const names = group.paths.join(' + ');
      throw checkpointError(held < needed ? 'truncated' : 'trailing-bytes', file, `${where}: the weights need ${needed} bytes but its shards (${names}) hold ${held}`);
    }
    for (const entry of layOut(weights, shards, file)) {
      if (tensors.has(entry.name)) throw checkpointError('bad-manifest', file, `weight ${JSON.stringify(entry.name)} is listed twice in the weightsManifest`);
      tensors.set(entry.name, entry);
    }
    files.push(...shards);
    totalBytes += needed;
  }
  checkTfjsTopology(file, model, tensors.values());
  return {
    path: file,
    format: 'tfjs-layers',
    tensors,
    metadata: metadataOf(model.userDefinedMetadata),
    files,
    totalBytes,
    tfjsModel: model,
  };
}
