// Messages between the js-workers pool and its threads.
import type { HalfDtype } from '../kernels/lin-wasm.ts';
import type { Kernel } from '../plan/types.ts';

export interface SliceRequest {
  readonly kind: 'slice';
  readonly id: number;
  readonly source: string;
  readonly kernel: Kernel;
  /** Views on SharedArrayBuffers: the worker reads and writes the pool's memory in place. */
  readonly inputs: readonly (Float32Array | null)[];
  readonly output: Float32Array | null;
  readonly kept: readonly (Float32Array | null)[];
  readonly from: number;
  readonly to: number;
  readonly start: number;
  readonly params: Float64Array;
  /** Every buffer lies in the engine's WebAssembly memory: the thread may run the WebAssembly kernel. */
  readonly inMemory: boolean;
}

/** What a kernel thread starts with: the engine's shared WebAssembly memory and its own scratch region in it. */
export interface KernelThreadData {
  readonly memory: unknown;
  readonly scratch: { readonly byteOffset: number; readonly byteLength: number };
}

/** An in-memory top-k selection (plan/resolve.ts selectInMemory) of values in shared memory. */
export interface SelectRequest {
  readonly kind: 'select';
  readonly id: number;
  readonly values: Float32Array;
  readonly k: number;
  readonly top: ArrayLike<number> | null;
  /** The values lie in the engine's WebAssembly memory: the thread may scan them there (and overwrite them). */
  readonly inMemory: boolean;
}

/** 16-bit floats widened to float32 in the shared memory (kernels/lin-wasm.ts halfWidener), as a chunk's read lands. */
export interface WidenRequest {
  readonly kind: 'widen';
  readonly id: number;
  readonly dtype: HalfDtype;
  readonly bytes: Uint8Array;
  readonly out: Float32Array;
}

export type KernelRequest = SliceRequest | SelectRequest | WidenRequest;

export type KernelReply =
  | { readonly id: number; readonly sums: Float64Array; readonly hists: (Uint32Array | null)[] }
  | { readonly id: number; readonly threshold: number }
  | { readonly id: number; readonly widened: true }
  | { readonly id: number; readonly error: string };
