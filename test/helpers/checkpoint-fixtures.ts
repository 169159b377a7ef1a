// Real checkpoint files for tests, from a compact description and a seed. The bytes
// are written here directly (DataView, Math.f16round), independently of tvr's own
// dtype code and writers, so tests built on these files truly check the readers.
// Every tensor comes back with the exact float64 values stored, for independent
// reference computations.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../../scripts/examples/random.ts';

export type FixtureDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

export interface FixtureTensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Default F32. */
  readonly dtype?: FixtureDtype;
}

export interface FixtureTensor {
  readonly name: string;
  readonly dtype: FixtureDtype;
  readonly shape: readonly number[];
  /** Exactly the values stored (already rounded into the dtype). */
  readonly values: Float64Array;
}

export interface FixtureModel {
  readonly tensors: readonly FixtureTensor[];
}

const BYTES: Record<FixtureDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };

export function isFixtureFloat(dtype: FixtureDtype): boolean {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64';
}

/** A temporary directory (`tvr-*`) and its removal. */
export function fixtureDir(): { readonly dir: string; readonly cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Creates named pipes at `paths`; `release` opens each for writing, which frees a reader
 * left waiting on it (and lets the process exit) should the code under test block.
 */
export function namedPipes(paths: readonly string[]): { readonly release: () => void } {
  for (const path of paths) execFileSync('mkfifo', [path]);
  return {
    release: () => {
      for (const path of paths) {
        try {
          closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
        } catch { /* no reader waiting: nothing to release */ }
      }
    },
  };
}

/** mulberry32, the examples' generator: deterministic values in [0, 1). */
export const seededRandom = createRng;

const scratch = new DataView(new ArrayBuffer(8));

/** The value `dtype` stores for `value`: f32/f16 round to nearest (Math.fround/f16round), bf16 truncates f32 bits. */
export function storedValue(value: number, dtype: FixtureDtype): number {
  switch (dtype) {
    case 'F64': return value;
    case 'F32': return Math.fround(value);
    case 'F16': return Math.f16round(value);
    case 'BF16':
      scratch.setFloat32(0, value, true);
      scratch.setUint32(0, scratch.getUint32(0, true) & 0xffff0000, true);
      return scratch.getFloat32(0, true);
    case 'BOOL': return value ? 1 : 0;
    default: return Math.trunc(value);
  }
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A model with uniform values in [-scale, scale) (integers in [-1000, 1000], bools 0/1). */
export function makeModel(specs: readonly FixtureTensorSpec[], options: { readonly seed: number; readonly scale?: number }): FixtureModel {
  const random = seededRandom(options.seed);
  const scale = options.scale ?? 1;
  return {
    tensors: specs.map((spec) => {
      const dtype = spec.dtype ?? 'F32';
      const values = new Float64Array(count(spec.shape));
      for (let i = 0; i < values.length; i++) {
        const u = random();
        const raw = dtype === 'BOOL' ? (u < 0.5 ? 0 : 1)
          : dtype === 'U8' ? Math.floor(u * 256)
          : isFixtureFloat(dtype) ? (2 * u - 1) * scale
          : Math.floor(u * 2001) - 1000;
        values[i] = storedValue(raw, dtype);
      }
      return { name: spec.name, dtype, shape: [...spec.shape], values };
    }),
  };
}

/** `base` plus uniform noise in [-scale, scale) on float tensors (rounded into each dtype); other tensors unchanged. */
export function perturbModel(base: FixtureModel, options: { readonly seed: number; readonly scale: number }): FixtureModel {
  const random = seededRandom(options.seed);
  return {
    tensors: base.tensors.map((t) => {
      if (!isFixtureFloat(t.dtype)) return t;
      const values = t.values.map((v) => storedValue(v + (2 * random() - 1) * options.scale, t.dtype));
      return { ...t, values };
    }),
  };
}

/** Little-endian bytes of a tensor's values in its dtype. */
export function tensorBytes(tensor: FixtureTensor): Uint8Array {
  const n = tensor.values.length;
  const bytes = new Uint8Array(n * BYTES[tensor.dtype]);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const v = tensor.values[i]!;
    switch (tensor.dtype) {
      case 'F64': view.setFloat64(i * 8, v, true); break;
      case 'F32': view.setFloat32(i * 4, v, true); break;
      case 'F16': view.setFloat16(i * 2, v, true); break;
      case 'BF16':
        scratch.setFloat32(0, v, true);
        view.setUint16(i * 2, scratch.getUint32(0, true) >>> 16, true);
        break;
      case 'I64': view.setBigInt64(i * 8, BigInt(v), true); break;
      case 'I32': view.setInt32(i * 4, v, true); break;
      case 'U8': case 'BOOL': view.setUint8(i, v); break;
    }
  }
  return bytes;
}

/** A safetensors file from any header text and data: for writing malformed files on purpose. */
export function rawSafetensors(headerJson: string, data: Uint8Array | number = 0, options: { readonly lengthField?: bigint } = {}): Uint8Array {
  const json = new TextEncoder().encode(headerJson);
  const dataBytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(8 + json.length + dataBytes.length);
  new DataView(bytes.buffer).setBigUint64(0, options.lengthField ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(dataBytes, 8 + json.length);
  return bytes;
}

export interface SafetensorsFixtureOptions {
  readonly metadata?: Readonly<Record<string, string>>;
  /** Pad the header with spaces to a multiple of 8, as writers do. Default true. */
  readonly pad?: boolean;
  /** Order of the entries in the JSON (the data stays in model order). Default: model order. */
  readonly jsonOrder?: 'model' | 'reversed';
}

/** The bytes of a valid safetensors file holding `model`. */
export function safetensorsBytes(model: FixtureModel, options: SafetensorsFixtureOptions = {}): Uint8Array {
  const entries: [string, unknown][] = [];
  let offset = 0;
  const data = model.tensors.map(tensorBytes);
  model.tensors.forEach((t, i) => {
    entries.push([t.name, { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + data[i]!.length] }]);
    offset += data[i]!.length;
  });
  if (options.jsonOrder === 'reversed') entries.reverse();
  if (options.metadata) entries.unshift(['__metadata__', options.metadata]);
  let json = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
  if (options.pad ?? true) json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const all = new Uint8Array(offset);
  let at = 0;
  for (const d of data) { all.set(d, at); at += d.length; }
  return rawSafetensors(json, all);
}

export function writeSafetensors(path: string, model: FixtureModel, options: SafetensorsFixtureOptions = {}): string {
  writeFileSync(path, safetensorsBytes(model, options));
  return path;
}

/**
 * Writes `model` as `shards` safetensors files (consecutive runs of tensors, every
 * shard non-empty) plus `model.safetensors.index.json` in `dir`; returns the index path.
 */
export function writeShardedSafetensors(dir: string, model: FixtureModel, options: { readonly shards: number; readonly metadata?: Readonly<Record<string, string>> }): string {
  mkdirSync(dir, { recursive: true });
  const n = options.shards;
  if (n < 1 || n > model.tensors.length) throw new RangeError(`cannot split ${model.tensors.length} tensors into ${n} non-empty shards`);
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < n; s++) {
    const from = Math.floor((model.tensors.length * s) / n);
    const to = Math.floor((model.tensors.length * (s + 1)) / n);
    const shard = { tensors: model.tensors.slice(from, to) };
    const name = `model-${pad(s + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(join(dir, name), shard, options.metadata ? { metadata: options.metadata } : {});
    for (const t of shard.tensors) {
      weightMap[t.name] = name;
      totalSize += t.values.length * BYTES[t.dtype];
    }
  }
  const indexPath = join(dir, 'model.safetensors.index.json');
  writeFileSync(indexPath, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return indexPath;
}

const TFJS_NAMES: Partial<Record<FixtureDtype, string>> = { F32: 'float32', I32: 'int32', BOOL: 'bool' };

/** Tensor specs of a Dense MLP (`dense1/kernel` [in, out], `dense1/bias` [out], ...) matching `mlpTopology`. */
export function mlpSpecs(sizes: readonly number[]): FixtureTensorSpec[] {
  return sizes.slice(1).flatMap((units, i) => [
    { name: `dense${i + 1}/kernel`, shape: [sizes[i]!, units] },
    { name: `dense${i + 1}/bias`, shape: [units] },
  ]);
}

/** A Keras Sequential topology of Dense layers, as tfjs-layers writes it in model.json. */
export function mlpTopology(sizes: readonly number[]): Record<string, unknown> {
  const layers = sizes.slice(1).map((units, i) => ({
    class_name: 'Dense',
    config: {
      units,
      activation: i === sizes.length - 2 ? 'linear' : 'relu',
      use_bias: true,
      kernel_initializer: { class_name: 'Zeros', config: {} },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      name: `dense${i + 1}`,
      trainable: true,
      ...(i === 0 ? { batch_input_shape: [null, sizes[0]], dtype: 'float32' } : {}),
    },
  }));
  return { class_name: 'Sequential', config: { name: 'fixture', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' };
}

/**
 * Writes a TensorFlow.js LayersModel: model.json with one weights group split into
 * shards of `shardBytes` (weights may straddle shards), F32/I32/BOOL only. Returns model.json's path.
 */
export function writeTfjsModel(
  dir: string,
  model: FixtureModel,
  options: { readonly shardBytes?: number; readonly topology?: Record<string, unknown>; readonly userDefinedMetadata?: Record<string, unknown> } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const data = model.tensors.map((t) => {
    if (!TFJS_NAMES[t.dtype]) throw new TypeError(`tfjs fixtures hold F32, I32 and BOOL, not ${t.dtype}`);
    return tensorBytes(t);
  });
  const total = data.reduce((sum, d) => sum + d.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const d of data) { all.set(d, at); at += d.length; }
  const shardBytes = options.shardBytes ?? 4 * 1024 * 1024;
  const shardCount = Math.max(1, Math.ceil(total / shardBytes));
  const paths: string[] = [];
  for (let s = 0; s < shardCount; s++) {
    const name = `group1-shard${s + 1}of${shardCount}.bin`;
    writeFileSync(join(dir, name), all.subarray(s * shardBytes, Math.min(total, (s + 1) * shardBytes)));
    paths.push(name);
  }
  const modelJson = {
    modelTopology: options.topology ?? { class_name: 'Sequential', config: { name: 'fixture', layers: [] } },
    format: 'layers-model',
    generatedBy: 'tvr test fixture',
    convertedBy: null,
    weightsManifest: [{ paths, weights: model.tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: TFJS_NAMES[t.dtype] })) }],
    ...(options.userDefinedMetadata ? { userDefinedMetadata: options.userDefinedMetadata } : {}),
  };
  const path = join(dir, 'model.json');
  writeFileSync(path, JSON.stringify(modelJson));
  return path;
}
