// Reading inputs for the pipeline: through the TensorReader, with small reads served
// from a read-ahead window per file (a model has many small tensors stored back to
// back; one large read replaces hundreds of small ones), and failures turned into
// errors that name the tensor, the file and the recipe line.
import { decodeToFloat32, DTYPE_BYTES, isFloatDtype } from '../checkpoints/dtypes.ts';
import type { TensorReader } from '../checkpoints/tensor-reader.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import type { TensorEntry } from '../checkpoints/types.ts';
import type { ChunkSource } from './compute.ts';
import { cancelled, EngineError } from './errors.ts';
import type { CopiedTensor, InputSlot, SavePlan } from './plan/types.ts';

/** Bytes read ahead per input file for small tensors. */
const WINDOW_BYTES = 4 << 20;
/** Reads at most this big go through the window; larger ones go straight into the chunk buffer. */
const WINDOWED_BELOW = 1 << 20;
/** Windows kept at once (one per input file in use, for sharded inputs a few shards). */
const MAX_WINDOWS = 16;

/** Input bytes a plan reads: a multi-chunk tensor is re-read by each pass that needs it. */
export function plannedReadBytes(plan: SavePlan): number {
  let total = 0;
  for (const t of plan.tensors) {
    if (t.kind === 'copied') {
      total += t.input.entry.byteLength;
    } else if (t.resident) {
      for (const slot of new Set(t.passes.flatMap((p) => p.slots))) total += t.inputs[slot]!.entry.byteLength;
    } else {
      for (const p of t.passes) total += p.slots.reduce((s, slot) => s + t.inputs[slot]!.entry.byteLength, 0);
    }
  }
  return total;
}

export function inputError(error: unknown, slot: InputSlot): EngineError {
  if (error instanceof EngineError) return error;
  const file = error instanceof CheckpointError ? error.file : slot.entry.file;
  const message = error instanceof Error ? error.message : String(error);
  return new EngineError('input', `reading tensor ${slot.entry.name} of ${slot.load.path} (loaded at line ${slot.load.range.start.line + 1}): ${message}`, {
    tensor: slot.entry.name,
    file,
    range: slot.load.range,
    cause: error,
  });
}

interface Window {
  readonly bytes: Uint8Array;
  start: number;
  end: number;
}

/** A ChunkSource over the TensorReader, with read-ahead windows for small reads. */
export function fileSource(reader: TensorReader): ChunkSource {
  const windows = new Map<string, Window>();

  const windowFor = async (slot: InputSlot, from: number, to: number): Promise<Window> => {
    const { entry } = slot;
    let window = windows.get(entry.file);
    if (window && from >= window.start && to <= window.end) return window;
    if (!window) {
      if (windows.size >= MAX_WINDOWS) windows.delete(windows.keys().next().value!);
      window = { bytes: new Uint8Array(WINDOW_BYTES), start: 0, end: 0 };
      windows.set(entry.file, window);
    }
    // Read ahead to the end of the window or of the file, never past what the header promised.
    const fileSize = slot.load.header?.files.find((f) => f.path === entry.file)?.size ?? entry.offset + entry.byteLength;
    const length = Math.max(to - from, Math.min(WINDOW_BYTES, fileSize - from));
    window.start = window.end = from;
    const span: TensorEntry = { name: entry.name, dtype: 'U8', shape: [length], file: entry.file, offset: from, byteLength: length };
    try {
      await reader.readBytes(span, 0, window.bytes.subarray(0, length));
    } catch {
      // The read-ahead went past a problem (a truncated file): read just what was asked, for the exact error.
      windows.delete(entry.file);
      const exact = new Uint8Array(to - from);
      await reader.readBytes({ ...span, shape: [to - from], byteLength: to - from }, 0, exact);
      return { bytes: exact, start: from, end: to };
    }
    window.end = from + length;
    return window;
  };

  return {
    async read(slot: InputSlot, start: number, target: Float32Array): Promise<void> {
      const { entry } = slot;
      try {
        if (!isFloatDtype(entry.dtype)) throw new TypeError(`tensor ${entry.name} is ${entry.dtype}, not a float tensor`);
        const size = DTYPE_BYTES[entry.dtype];
        const byteLength = target.length * size;
        if (entry.segments || byteLength >= WINDOWED_BELOW) {
          await reader.readFloat32(entry, start, target);
          return;
        }
        const from = entry.offset + start * size;
        const window = await windowFor(slot, from, from + byteLength);
        decodeToFloat32(entry.dtype, window.bytes.subarray(from - window.start, from - window.start + byteLength), target);
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
