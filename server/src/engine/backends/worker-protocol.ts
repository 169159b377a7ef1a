// Messages between the js-workers pool and its threads.
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
}

export type KernelRequest = SliceRequest | SelectRequest;

export type KernelReply =
  | { readonly id: number; readonly sums: Float64Array; readonly hists: (Uint32Array | null)[] }
  | { readonly id: number; readonly threshold: number }
  | { readonly id: number; readonly error: string };
