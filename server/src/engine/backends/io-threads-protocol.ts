// Messages between the I/O threads and the thread that runs them (backends/io-threads.ts).
import type { FileIdentity } from '../../checkpoints/types.ts';
import type { TensorPlacement } from '../../checkpoints/write-placed.ts';
import type { LinearTensor } from '../plan/linear.ts';

/** The work of a linear stream: what to compute, from which files, into which. */
export interface LinearStreamJob {
  readonly tensors: readonly LinearTensor[];
  readonly placements: readonly TensorPlacement[];
  /** The output's files (temporaries, already at their final size: PlacedSafetensorsOutput.paths), by placement file index. */
  readonly outputs: readonly string[];
  /** The input files as their headers recorded them: a file that changed since is an error. */
  readonly inputs: readonly FileIdentity[];
  /** Elements per chunk and operand. */
  readonly chunkElements: number;
}

export interface IoThreadData extends LinearStreamJob {
  /** Int32 [next chunk to take, cancelled flag], shared by every thread of the run. */
  readonly control: SharedArrayBuffer;
}

/** Control slots. */
export const NEXT_CHUNK = 0;
export const CANCELLED = 1;

export interface ErrorReport {
  readonly name: string;
  readonly message: string;
  /** errno name (ENOSPC) or CheckpointError code (truncated). */
  readonly code?: string;
  readonly file?: string;
}

export type IoThreadReport =
  /** Chunks done since the last report, the input bytes they read and the bytes written to each output file. */
  | {
    readonly type: 'chunks'; readonly chunks: readonly number[]; readonly bytesRead: number; readonly written: readonly number[];
    /** [tensor, count]: values written as NaN or infinity because the chunk's inputs hold such values. */
    readonly nonFinite: readonly (readonly [number, number])[];
  }
  /** The chunk failed (`input`: the index into its tensor's inputs that failed to read; absent for a write). */
  | { readonly type: 'failed'; readonly chunk: number; readonly input?: number; readonly error: ErrorReport }
  /** No chunk left (or the run was cancelled); every earlier report was sent. */
  | { readonly type: 'finished' };
