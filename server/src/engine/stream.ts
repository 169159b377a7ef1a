// Reading inputs for the pipeline: through the TensorReader, with small reads served
// from a read-ahead window per file (a model has many small tensors stored back to
// back; one large read replaces hundreds of small ones), and failures turned into
// errors that name the tensor, the file and the recipe line. A window stops before the
// next tensor that is read straight into chunk buffers: a bias stored before a weight
// matrix would otherwise read 4 MiB of the matrix for nothing (about 0.7 GB on top of
// the 1.9 GB the engine benchmark's task arithmetic needs).
import { decodeToFloat32, DTYPE_BYTES, isFloatDtype, type FloatDtype } from '../checkpoints/dtypes.ts';
import type { TensorReader } from '../checkpoints/tensor-reader.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import type { CheckpointHeader, Dtype, TensorEntry } from '../checkpoints/types.ts';
import type { HalfCodec } from './backends/types.ts';
import type { ChunkSource } from './compute.ts';
import { cancelled, EngineError } from './errors.ts';
import { loraProducts } from './lora-product.ts';
import { wholeMatrices } from './whole-matrix.ts';
import { slotBytes, type CopiedTensor, type InputSlot, type SavePlan, type TensorSlot } from './plan/types.ts';

/** Bytes read ahead per input file for small tensors. */
const WINDOW_BYTES = 4 << 20;
/** Reads at most this big go through the window; larger ones go straight into the chunk buffer. */
const WINDOWED_BELOW = 1 << 20;
/** Windows kept at once (one per input file in use, for sharded inputs a few shards). */
const MAX_WINDOWS = 16;

/** Input bytes a plan reads: a multi-chunk tensor is re-read by each pass that needs it (as the pipeline reports them). */
export function plannedReadBytes(plan: SavePlan): number {
  let total = 0;
  for (const t of plan.tensors) {
    if (t.kind === 'copied') {
      total += t.input.entry.byteLength;
    } else if (t.resident) {
      for (const slot of new Set(t.passes.flatMap((p) => p.slots))) total += slotBytes(t.inputs[slot]!);
    } else {
      for (const p of t.passes) total += p.slots.reduce((s, slot) => s + slotBytes(t.inputs[slot]!), 0);
    }
  }
  return total;
}

export function inputError(error: unknown, slot: InputSlot): EngineError {
  if (error instanceof EngineError) return error;
  if (slot.kind === 'matrix') {
    const message = error instanceof Error ? error.message : String(error);
    return new EngineError('input', `${slot.method.op}() at line ${slot.method.range.start.line + 1}, computing a ${slot.rows}x${slot.cols} matrix whole: ${message}`, { range: slot.method.range, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  const [tensor, file, source, range] = slot.kind === 'tensor'
    ? [slot.entry.name, slot.entry.file, `${slot.load.path} (loaded at line ${slot.load.range.start.line + 1})`, slot.load.range]
    : [slot.a.name, slot.a.file, `the LoRA adapter ${slot.adapter.path} (lora(...) at line ${slot.adapter.range.start.line + 1})`, slot.adapter.range];
  return new EngineError('input', `reading tensor ${tensor} of ${source}: ${message}`, {
    tensor,
    file: error instanceof CheckpointError ? error.file : file,
    range,
    cause: error,
  });
}

interface Window {
  readonly bytes: Uint8Array;
  start: number;
  end: number;
  /**
   * The window's reads, one after another: reads of the next step start while this
   * step's are in flight, and each may refill the window the one before decodes from.
   */
  queue: Promise<void>;
}

/**
 * Sorted offsets, in each file of a checkpoint, of the tensors large enough to be read
 * straight into chunk buffers: a window stops at the next one, which it would read in vain.
 */
function directStarts(header: CheckpointHeader): Map<string, number[]> {
  const starts = new Map<string, number[]>();
  for (const entry of header.tensors.values()) {
    if (entry.byteLength < WINDOWED_BELOW) continue;
    let list = starts.get(entry.file);
    if (!list) starts.set(entry.file, (list = []));
    list.push(entry.offset);
  }
  for (const list of starts.values()) list.sort((a, b) => a - b);
  return starts;
}

/** The first of the sorted `starts` at or after `at` (Infinity when none). */
function nextStart(starts: readonly number[] | undefined, at: number): number {
  if (!starts) return Infinity;
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! < at) lo = mid + 1;
    else hi = mid;
  }
  return starts[lo] ?? Infinity;
}

/** Memory a file source reads into, from the run's backend. */
export interface SourceMemory {
  /** Read-ahead window `index` (default: a fresh array). */
  readonly window?: (index: number, bytes: number) => Uint8Array;
  /** Widens 16-bit floats in the backend's memory (default: decodeToFloat32). */
  readonly codec?: HalfCodec;
}

/** 16-bit float bytes into float32, by the backend's loop where it has one for this memory. */
async function widen(codec: HalfCodec | undefined, dtype: FloatDtype, bytes: Uint8Array, out: Float32Array): Promise<void> {
  if ((dtype === 'BF16' || dtype === 'F16') && (await codec?.widen(dtype, bytes, out))) return;
  decodeToFloat32(dtype, bytes, out);
}

/**
 * A chunk of float32 values encoded as the output stores them, in place (the values are
 * gone afterwards), by the backend's loop; undefined where it has none for this dtype or memory.
 */
export function narrowInPlace(codec: HalfCodec | undefined, dtype: Dtype, values: Float32Array): Uint8Array | undefined {
  if (!codec || (dtype !== 'BF16' && dtype !== 'F16')) return undefined;
  const bytes = new Uint8Array(values.buffer, values.byteOffset, 2 * values.length);
  return codec.narrow(dtype, values, bytes) ? bytes : undefined;
}

/** A ChunkSource over the TensorReader, with read-ahead windows for small reads. */
export function fileSource(reader: TensorReader, memory: SourceMemory = {}): ChunkSource {
  const { codec } = memory;
  const windows = new Map<string, Window>();
  const layouts = new WeakMap<CheckpointHeader, Map<string, number[]>>();
  const layoutOf = (header: CheckpointHeader): Map<string, number[]> => {
    let layout = layouts.get(header);
    if (!layout) layouts.set(header, (layout = directStarts(header)));
    return layout;
  };

  const fill = async (window: Window, slot: TensorSlot, from: number, to: number): Promise<void> => {
    const { entry, load: { header } } = slot;
    // Read ahead to the end of the window or of the file, never past what the header
    // promised, and not into the next tensor that is read directly.
    const fileSize = header?.files.find((f) => f.path === entry.file)?.size ?? entry.offset + entry.byteLength;
    const end = Math.min(from + WINDOW_BYTES, fileSize, header ? nextStart(layoutOf(header).get(entry.file), to) : Infinity);
    const length = Math.max(to - from, end - from);
    window.start = window.end = from;
    const span: TensorEntry = { name: entry.name, dtype: 'U8', shape: [length], file: entry.file, offset: from, byteLength: length };
    try {
      await reader.readBytes(span, 0, window.bytes.subarray(0, length));
    } catch {
      // The read-ahead went past a problem (a truncated file): read just what was asked, for the exact error.
      await reader.readBytes({ ...span, shape: [to - from], byteLength: to - from }, 0, window.bytes.subarray(0, to - from));
      window.end = to;
      return;
    }
    window.end = from + length;
  };

  const product = loraProducts(reader);
  const read = async (slot: InputSlot, start: number, target: Float32Array): Promise<void> => {
    if (slot.kind === 'lora-product') {
      await product(slot, start, target);
      return;
    }
    if (slot.kind === 'matrix') {
      await matrices(slot, start, target);
      return;
    }
    const { entry } = slot;
    const dtype = entry.dtype;
    if (!isFloatDtype(dtype)) throw new TypeError(`tensor ${entry.name} is ${dtype}, not a float tensor`);
    const size = DTYPE_BYTES[dtype];
    const byteLength = target.length * size;
    if (entry.segments || byteLength >= WINDOWED_BELOW) {
      if (!codec || size !== 2) {
        await reader.readFloat32(entry, start, target);
        return;
      }
      // The file's bytes into the upper half of the chunk buffer, widened in place.
      const raw = new Uint8Array(target.buffer, target.byteOffset + target.byteLength - byteLength, byteLength);
      await reader.readBytes(entry, start * size, raw);
      if (!(await codec.widen(dtype as 'BF16' | 'F16', raw, target))) decodeToFloat32(dtype, raw.slice(), target);
      return;
    }
    let window = windows.get(entry.file);
    if (!window) {
      let bytes: Uint8Array;
      let queue = Promise.resolve();
      if (windows.size < MAX_WINDOWS) {
        bytes = memory.window?.(windows.size, WINDOW_BYTES) ?? new Uint8Array(WINDOW_BYTES);
      } else {
        // The oldest window's bytes are refilled once its reads in flight are decoded.
        const [file, oldest] = windows.entries().next().value!;
        windows.delete(file);
        ({ bytes, queue } = oldest);
      }
      window = { bytes, start: 0, end: 0, queue };
      windows.set(entry.file, window);
    }
    const w = window;
    const from = entry.offset + start * size;
    const task = w.queue.then(async () => {
      if (from < w.start || from + byteLength > w.end) await fill(w, slot, from, from + byteLength);
      await widen(codec, dtype, w.bytes.subarray(from - w.start, from - w.start + byteLength), target);
    });
    w.queue = task.catch(() => undefined);
    await task;
  };
  const matrices = wholeMatrices(read);

  return {
    async read(slot: InputSlot, start: number, target: Float32Array): Promise<void> {
      try {
        await read(slot, start, target);
      } catch (error) {
        throw inputError(error, slot);
      }
    },
  };
}

/** Copies an integer/bool tensor's bytes in pieces of at most `pieceBytes`. */
export async function copyTensor(tensor: CopiedTensor, reader: TensorReader, write: (bytes: Uint8Array) => Promise<void>, pieceBytes: number, signal?: AbortSignal): Promise<void> {
  const { entry } = tensor.input;
  const size = DTYPE_BYTES[entry.dtype];
  const step = Math.max(size, Math.floor(pieceBytes / size) * size);
  const buffer = new Uint8Array(Math.min(step, Math.max(1, entry.byteLength)));
  for (let start = 0; start < entry.byteLength; start += step) {
    if (signal?.aborted) throw cancelled();
    const piece = buffer.subarray(0, Math.min(step, entry.byteLength - start));
    try {
      await reader.readBytes(entry, start, piece);
    } catch (error) {
      throw inputError(error, tensor.input);
    }
    await write(piece);
  }
}
