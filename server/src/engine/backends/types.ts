// One interface every backend implements: evaluate a kernel (elementwise program plus
// reductions) over one chunk of input values.
import type { Kernel } from '../plan/types.ts';
import type { LinearStream } from './io-threads.ts';

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
   * engine selects one after another on the calling thread.
   */
  selectTopK?(jobs: readonly TopKSelection[]): Promise<number[]>;
  close(): Promise<void>;
}
