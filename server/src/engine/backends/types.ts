// One interface every backend implements: evaluate a kernel (elementwise program plus
// reductions) over one chunk of input values.
import type { Kernel } from '../plan/types.ts';
import type { LinearStream } from './io-threads.ts';
import type { HalfDtype } from '../kernels/lin-wasm.ts';

/**
 * bfloat16 and float16 conversion of buffers in a backend's memory, bit for bit as
 * checkpoints/dtypes.ts converts (kernels/lin-wasm.ts): a read lands as the file's bytes in
 * the upper half of a chunk buffer and is widened in place; an output chunk is narrowed in
 * place and written from there.
 */
export interface HalfCodec {
  /**
   * Decodes `bytes` into `out` (`bytes` may be the upper half of `out`'s own bytes), perhaps
   * on another thread; false (nothing done) when the views are not in the backend's memory.
   */
  widen(dtype: HalfDtype, bytes: Uint8Array, out: Float32Array): Promise<boolean>;
  /** Encodes `values` into `out` (which may be the lower half of their own bytes); false (nothing done) when not in the backend's memory. */
  narrow(dtype: HalfDtype, values: Float32Array, out: Uint8Array): boolean;
}

export type BackendName = 'js' | 'js-workers' | 'tfjs-wasm' | 'tfjs-cpu' | 'tfjs-node' | 'tfjs-node-gpu';

export interface ChunkJob {
  readonly kernel: Kernel;
  readonly params: Float64Array;
  /** Per input slot, the chunk's values (null for the slots this kernel does not read). */
  readonly inputs: readonly (Float32Array | null)[];
  /** Tensor index of the chunk's first element: the counter of DARE and random_like draws. */
  readonly start: number;
  readonly length: number;
  /** Receives the output values when the kernel has an output. */
  readonly output: Float32Array | null;
  /** Per reduction: for `values` reductions, the chunk-sized buffer receiving the node's values. */
  readonly kept: readonly (Float32Array | null)[];
}

/** Per reduction of the kernel: a float64 sum, histogram counts (65,536 bins), or the kept values buffer. */
export type ChunkTotals = readonly (number | Uint32Array | Float32Array)[];

/** The k-th largest |x| of `values`; `top`: the top-11-bit histogram the kernel took, if any. */
export interface TopKSelection {
  readonly values: Float32Array;
  readonly k: number;
  readonly top?: ArrayLike<number>;
}

export interface Backend {
  readonly name: BackendName;
  /** Where it computes, for messages: `2 worker threads`, `tfjs wasm (SIMD)`, `CUDA GPU`. */
  readonly device: string;
  /** Chunk buffers this backend computes on without copying (shared memory for workers). */
  allocate(length: number): Float32Array;
  /** Takes back buffers from `allocate` for reuse (a backend may serve many runs); they must not be used afterwards. */
  release?(buffers: readonly Float32Array[]): void;
  run(job: ChunkJob): Promise<ChunkTotals>;
  /**
   * Optional: streams an output made only of copies and linear combinations straight from
   * the input files into the output's files, on threads of its own (js-workers). Without
   * it the engine runs such outputs through `run` like any other.
   */
  streamLinear?(stream: LinearStream): Promise<void>;
  /**
   * Optional: the in-memory top-k thresholds of a pass (plan/resolve.ts selectInMemory,
   * the same results), several at once on different threads (js-workers). Without it the
   * engine selects one after another on the calling thread. The values may be overwritten
   * (the pipeline needs them no more).
   */
  selectTopK?(jobs: readonly TopKSelection[]): Promise<number[]>;
  /** Optional: converts 16-bit floats in the backend's memory (js-workers: WebAssembly SIMD loops). Without it they convert in JavaScript. */
  readonly halfCodec?: HalfCodec;
  close(): Promise<void>;
}
