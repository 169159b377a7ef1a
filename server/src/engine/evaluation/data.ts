// Evaluation data: a safetensors file (any checkpoint format tvr reads) holding, per
// split, `<split>/x` (inputs, one row per example) and `<split>/y` (integer labels).
// Float inputs (F16, BF16, F32, F64) are used as stored; U8 inputs are multiplied by
// the `x_scale` metadata entry (e.g. 1/255 for images); integer inputs (I32, I64) are
// token ids, passed to the model as int32. Documented in docs/evaluation.md.
import { isFloatDtype } from '../../checkpoints/dtypes.ts';
import { elementCount, TensorReader } from '../../checkpoints/tensor-reader.ts';
import type { CheckpointHeader, TensorEntry } from '../../checkpoints/types.ts';
import { EvaluationError } from './errors.ts';

export type Split = 'validation' | 'test';

export interface SplitData {
  readonly split: Split;
  /** Row-major inputs: scaled float32, or int32 token ids. */
  readonly x: Float32Array | Int32Array;
  readonly xShape: readonly number[];
  readonly y: Int32Array;
  readonly yShape: readonly number[];
  /** Examples (the first dimension of x and y). */
  readonly rows: number;
}

/** The metadata key whose number multiplies U8 inputs. */
const X_SCALE_KEY = 'x_scale';

/** Reads one split of an evaluation data file whose header has been read. */
export async function readSplit(header: CheckpointHeader, split: Split): Promise<SplitData> {
  const file = header.path;
  const xEntry = entryOf(header, `${split}/x`);
  const yEntry = entryOf(header, `${split}/y`);
  const rows = xEntry.shape[0];
  if (xEntry.shape.length < 2 || rows === undefined) {
    throw new EvaluationError('data', `${file}: ${split}/x has shape [${xEntry.shape.join(', ')}]; it needs one row per example, e.g. [N, 784]`, { file });
  }
  if (yEntry.shape[0] !== rows) {
    throw new EvaluationError('data', `${file}: ${split}/x has ${rows} rows but ${split}/y has shape [${yEntry.shape.join(', ')}]; both need one row per example`, { file });
  }
  if (rows === 0) throw new EvaluationError('data', `${file}: the ${split} split has no examples`, { file });
  const reader = new TensorReader([header]);
  try {
    const x = await readInputs(reader, header, xEntry);
    const y = await readLabels(reader, file, yEntry);
    return { split, x, xShape: xEntry.shape, y, yShape: yEntry.shape, rows };
  } finally {
    await reader.close();
  }
}

function entryOf(header: CheckpointHeader, name: string): TensorEntry {
  const entry = header.tensors.get(name);
  if (!entry) {
    throw new EvaluationError('data', `${header.path} has no tensor ${name}; evaluation data holds validation/x, validation/y, test/x and test/y (see docs/evaluation.md)`, { file: header.path });
  }
  return entry;
}

async function readInputs(reader: TensorReader, header: CheckpointHeader, entry: TensorEntry): Promise<Float32Array | Int32Array> {
  const file = header.path;
  if (isFloatDtype(entry.dtype)) {
    const values = new Float32Array(elementCount(entry));
    await reader.readFloat32(entry, 0, values);
    return values;
  }
  if (entry.dtype === 'U8') {
    const scale = xScale(header);
    const bytes = await readAllBytes(reader, entry);
    const values = new Float32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) values[i] = bytes[i]! * scale;
    return values;
  }
  if (entry.dtype === 'I32' || entry.dtype === 'I64') return readIntegers(reader, file, entry);
  throw new EvaluationError('data', `${file}: ${entry.name} is ${entry.dtype}; inputs must be F16, BF16, F32, F64, U8 (scaled by x_scale) or I32/I64 token ids`, { file });
}

async function readLabels(reader: TensorReader, file: string, entry: TensorEntry): Promise<Int32Array> {
  if (entry.dtype === 'U8') return Int32Array.from(await readAllBytes(reader, entry));
  if (entry.dtype === 'I32' || entry.dtype === 'I64') return readIntegers(reader, file, entry);
  throw new EvaluationError('data', `${file}: ${entry.name} is ${entry.dtype}; labels must be integers (I32, I64 or U8)`, { file });
}

function xScale(header: CheckpointHeader): number {
  const text = header.metadata[X_SCALE_KEY];
  if (text === undefined) return 1;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new EvaluationError('data', `${header.path}: metadata ${X_SCALE_KEY} is ${JSON.stringify(text)}, not a number (e.g. "0.00392156862745098" for 1/255)`, { file: header.path });
  }
  return value;
}

async function readAllBytes(reader: TensorReader, entry: TensorEntry): Promise<Uint8Array> {
  // 8-byte aligned, so the bytes can be viewed as any integer type.
  const bytes = new Uint8Array(new BigInt64Array(Math.ceil(entry.byteLength / 8)).buffer, 0, entry.byteLength);
  await reader.readBytes(entry, 0, bytes);
  return bytes;
}

async function readIntegers(reader: TensorReader, file: string, entry: TensorEntry): Promise<Int32Array> {
  const bytes = await readAllBytes(reader, entry);
  const n = elementCount(entry);
  if (entry.dtype === 'I32') return new Int32Array(bytes.buffer, 0, n).slice();
  const wide = new BigInt64Array(bytes.buffer, 0, n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = wide[i]!;
    if (v < -2147483648n || v > 2147483647n) {
      throw new EvaluationError('data', `${file}: ${entry.name}[${i}] = ${v} does not fit in int32`, { file });
    }
    out[i] = Number(v);
  }
  return out;
}
