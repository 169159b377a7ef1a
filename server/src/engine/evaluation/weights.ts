// Models computed into memory for evaluation, point after point of a sweep. The same
// plan, backend and kernels as `materialize` (and a run), with one difference: input
// tensors are kept in memory once read, within a byte budget, so a sweep reads each
// input once however many points it evaluates. Tensors beyond the budget are read
// from the files at every point (the operating system's page cache then helps).
import type { TensorReader } from '../../checkpoints/tensor-reader.ts';
import type { SweepPoint, TypedProgram, WeightNode } from '../../language/program.ts';
import type { Backend } from '../backends/types.ts';
import { ChunkBuffers, runPipeline } from '../compute.ts';
import type { ChunkSource } from '../compute.ts';
import type { MaterializedTensor } from '../materialize.ts';
import { DEFAULT_CHUNK_ELEMENTS, planSave } from '../plan/build.ts';
import type { InputSlot } from '../plan/types.ts';
import { copyTensor, fileSource } from '../stream.ts';

/** Default memory for input tensors kept across points: 1 GiB. */
export const DEFAULT_MEMO_BYTES = 1 << 30;

/** Input tensors decoded to float32 (integer tensors as bytes), kept up to a byte budget. */
export class TensorMemo {
  readonly #budget: number;
  readonly #floats = new Map<string, Float32Array>();
  readonly #bytes = new Map<string, Uint8Array>();
  #used = 0;
  /** Input bytes read from files (each kept tensor once). */
  bytesRead = 0;

  constructor(budgetBytes = DEFAULT_MEMO_BYTES) {
    this.#budget = budgetBytes;
  }

  get bytesKept(): number {
    return this.#used;
  }

  /** A ChunkSource serving kept tensors from memory and reading (then keeping, if they fit) the others through `inner`. */
  source(inner: ChunkSource): ChunkSource {
    return {
      read: async (slot: InputSlot, start: number, target: Float32Array): Promise<void> => {
        const key = keyOf(slot);
        let whole = this.#floats.get(key);
        if (!whole) {
          const elements = slot.entry.shape.reduce((a, b) => a * b, 1);
          if (this.#used + elements * 4 > this.#budget) {
            await inner.read(slot, start, target);
            this.bytesRead += (slot.entry.byteLength * target.length) / Math.max(1, elements);
            return;
          }
          whole = new Float32Array(elements);
          await inner.read(slot, 0, whole);
          this.bytesRead += slot.entry.byteLength;
          this.#used += whole.byteLength;
          this.#floats.set(key, whole);
        }
        target.set(whole.subarray(start, start + target.length));
      },
    };
  }

  /** An integer tensor's bytes, kept when they fit. */
  async bytes(slot: InputSlot, read: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const key = keyOf(slot);
    const known = this.#bytes.get(key);
    if (known) return known;
    const bytes = await read();
    this.bytesRead += bytes.byteLength;
    if (this.#used + bytes.byteLength <= this.#budget) {
      this.#used += bytes.byteLength;
      this.#bytes.set(key, bytes);
    }
    return bytes;
  }
}

function keyOf(slot: InputSlot): string {
  return `${slot.entry.file}\0${slot.entry.offset}\0${slot.entry.name}`;
}

/** What every materialisation of a run shares: backend, chunk buffers, file reader and memo. */
export interface WeightsContext {
  readonly program: TypedProgram;
  readonly backend: Backend;
  readonly reader: TensorReader;
  readonly memo: TensorMemo;
  readonly buffers?: ChunkBuffers;
  readonly chunkElements?: number;
  readonly signal?: AbortSignal;
}

export function createBuffers(backend: Backend, chunkElements = DEFAULT_CHUNK_ELEMENTS): ChunkBuffers {
  return new ChunkBuffers(backend, chunkElements);
}

/** Computes `node` at `point` into memory; tensors in output order. */
export async function materializeAt(context: WeightsContext, node: WeightNode, point: SweepPoint): Promise<Map<string, MaterializedTensor>> {
  const chunkElements = context.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const plan = planSave(context.program, { node, path: '', range: node.range, overwrite: false }, point, chunkElements);
  const buffers = context.buffers ?? createBuffers(context.backend, chunkElements);
  const result = new Map<string, MaterializedTensor>();
  const source = context.memo.source(fileSource(context.reader));
  await runPipeline(plan.tensors, context.backend, buffers, source, {
    writeFloat32: async (tensor, values, start) => {
      let known = result.get(tensor.name);
      if (!known) {
        known = { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, values: new Float32Array(tensor.elements) };
        result.set(tensor.name, known);
      }
      known.values!.set(values, start);
    },
    copy: async (tensor) => {
      const bytes = await context.memo.bytes(tensor.input, async () => {
        const out = new Uint8Array(tensor.input.entry.byteLength);
        let filled = 0;
        await copyTensor(tensor, context.reader, async (piece) => {
          out.set(piece, filled);
          filled += piece.length;
        }, chunkElements * 4, context.signal);
        return out;
      });
      result.set(tensor.name, { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, bytes });
    },
  }, context.signal ? { signal: context.signal } : {});
  return result;
}
