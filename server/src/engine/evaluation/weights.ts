// Input tensors kept in memory for evaluation, point after point of a sweep: with a
// TensorMemo in its context, `materializeWith` (engine/materialize.ts) reads each input
// once however many points it evaluates, within a byte budget. Tensors beyond the
// budget are read from the files at every point (the page cache then helps).
import type { Backend } from '../backends/types.ts';
import { ChunkBuffers } from '../compute.ts';
import type { ChunkSource } from '../compute.ts';
import { DEFAULT_CHUNK_ELEMENTS } from '../plan/build.ts';
import { slotBytes, slotElements, slotKey, type InputSlot } from '../plan/types.ts';

/** Default memory for input tensors kept across points: 1 GiB. */
export const DEFAULT_MEMO_BYTES = 1 << 30;

/** Input tensors decoded to float32 (integer tensors as bytes), kept up to a byte budget. */
export class TensorMemo {
  readonly #budget: number;
  readonly #floats = new Map<string, Float32Array>();
  readonly #bytes = new Map<string, Uint8Array>();
  /** Tensors being read: chunks of one tensor asked for at once (the pipeline reads ahead) share one read. */
  readonly #loading = new Map<string, Promise<Float32Array | undefined>>();
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
        const key = slotKey(slot);
        const whole = this.#floats.get(key) ?? (await this.#load(slot, key, inner));
        if (!whole) {
          await inner.read(slot, start, target);
          this.bytesRead += (slotBytes(slot) * target.length) / Math.max(1, slotElements(slot));
          return;
        }
        target.set(whole.subarray(start, start + target.length));
      },
    };
  }

  /** Reads a whole tensor to keep it, once however many chunks ask at once; undefined when it does not fit the budget. */
  #load(slot: InputSlot, key: string, inner: ChunkSource): Promise<Float32Array | undefined> {
    let loading = this.#loading.get(key);
    if (!loading) {
      const elements = slotElements(slot);
      if (this.#used + elements * 4 > this.#budget) return Promise.resolve(undefined);
      this.#used += elements * 4;
      const whole = new Float32Array(elements);
      loading = inner.read(slot, 0, whole).then(
        () => {
          this.bytesRead += slotBytes(slot);
          this.#floats.set(key, whole);
          return whole;
        },
        (error: unknown) => {
          this.#used -= elements * 4;
          throw error;
        },
      ).finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return loading;
  }

  /** An integer tensor's bytes, kept when they fit. */
  async bytes(slot: InputSlot, read: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const key = slotKey(slot);
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

export function createBuffers(backend: Backend, chunkElements = DEFAULT_CHUNK_ELEMENTS): ChunkBuffers {
  return new ChunkBuffers(backend, chunkElements);
}
