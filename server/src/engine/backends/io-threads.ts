// Streams an output made of copies and linear combinations on threads that each read,
// combine and write their own chunks (io-threads.worker.ts), straight from the input
// files into the output's files: no ordering between chunks, no thread-pool round trips,
// no copies between threads. The calling thread only turns the threads' reports into
// progress, in-order tensor events and background syncs. Any failure stops every thread
// at its next chunk; the caller then aborts the output.
import { Worker } from 'node:worker_threads';
import { CheckpointError } from '../../checkpoints/types.ts';
import type { CheckpointErrorCode } from '../../checkpoints/types.ts';
import { workerUrl } from '../../worker-url.ts';
import { linearChunks } from '../plan/linear.ts';
import { CANCELLED } from './io-threads-protocol.ts';
import type { ErrorReport, IoThreadData, IoThreadReport, LinearStreamJob } from './io-threads-protocol.ts';

export interface LinearStream extends LinearStreamJob {
  readonly signal?: AbortSignal;
  /** Input bytes read; the tensor the progress is in. */
  readonly onRead?: (bytes: number, tensor: number) => void;
  /** Bytes written to an output file (for background syncs). */
  readonly onWritten?: (file: number, bytes: number) => void;
  /** A tensor is completely written; called in output order. */
  readonly onTensor?: (tensor: number) => void;
  /** Values of a tensor written as NaN or infinity because its inputs hold such values. */
  readonly onNonFinitePassed?: (tensor: number, count: number) => void;
}

/** Why a linear stream failed: which tensor, which of its inputs (a read), or none (a write, or `value`: a non-finite value computed from finite inputs). */
export class LinearStreamError extends Error {
  readonly tensor: number | undefined;
  readonly input: number | undefined;
  readonly stage: 'read' | 'write' | 'value' | 'internal';
  constructor(stage: 'read' | 'write' | 'value' | 'internal', tensor: number | undefined, input: number | undefined, cause: Error) {
    super(cause.message, { cause });
    this.name = 'LinearStreamError';
    this.stage = stage;
    this.tensor = tensor;
    this.input = input;
  }
}

/** Runs the stream on `threads` I/O threads; resolves once every chunk is written, rejects on failure or cancellation (`signal.reason`). */
export async function streamLinear(stream: LinearStream, threads: number): Promise<void> {
  const chunks = linearChunks(stream.tensors, stream.chunkElements);
  const control = new SharedArrayBuffer(8);
  const flags = new Int32Array(control);
  const data: IoThreadData = {
    tensors: stream.tensors,
    placements: stream.placements,
    outputs: stream.outputs,
    inputs: stream.inputs,
    chunkElements: stream.chunkElements,
    control,
  };
  // Tensors complete in any order; events go out in output order.
  const remaining = new Int32Array(stream.tensors.length);
  for (const c of chunks) remaining[c.tensor]!++;
  let nextEvent = 0;
  const announce = () => {
    while (nextEvent < stream.tensors.length && remaining[nextEvent] === 0) stream.onTensor?.(nextEvent++);
  };
  announce(); // empty tensors at the start
  if (stream.signal?.aborted) throw stream.signal.reason;
  if (chunks.length === 0) return;

  let failure: LinearStreamError | undefined;
  const stop = () => Atomics.store(flags, CANCELLED, 1);
  stream.signal?.addEventListener('abort', stop, { once: true });
  const count = Math.max(1, Math.min(threads, chunks.length));
  try {
    // Each thread's promise settles when it has exited, whatever happened: the output is
    // aborted only once no thread writes to it any more.
    await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve) => {
      const worker = new Worker(workerUrl(new URL('./io-threads.worker.ts', import.meta.url)), { workerData: data });
      let finished = false;
      worker.on('message', (report: IoThreadReport) => {
        switch (report.type) {
          case 'chunks': {
            let last = -1;
            for (const index of report.chunks) {
              const chunk = chunks[index]!;
              remaining[chunk.tensor]!--;
              last = chunk.tensor;
            }
            for (const [tensor, count] of report.nonFinite) stream.onNonFinitePassed?.(tensor, count);
            report.written.forEach((bytes, file) => { if (bytes > 0) stream.onWritten?.(file, bytes); });
            if (last >= 0) stream.onRead?.(report.bytesRead, last);
            announce();
            break;
          }
          case 'failed':
            failure ??= errorOf(report, chunks[report.chunk]?.tensor);
            stop();
            break;
          case 'finished':
            finished = true;
            break;
        }
      });
      worker.on('error', (error) => {
        failure ??= new LinearStreamError('internal', undefined, undefined, error);
        stop();
      });
      worker.on('exit', (code) => {
        if (!finished) {
          failure ??= new LinearStreamError('internal', undefined, undefined, new Error(`an I/O thread exited (code ${code}) before it finished`));
          stop();
        }
        resolve();
      });
    })));
  } finally {
    stream.signal?.removeEventListener('abort', stop);
  }
  if (failure) throw failure;
  if (stream.signal?.aborted) throw stream.signal.reason;
  if (nextEvent < stream.tensors.length) throw new LinearStreamError('internal', nextEvent, undefined, new Error(`the I/O threads stopped before tensor ${stream.tensors[nextEvent]!.name} was complete`));
}

function errorOf(report: Extract<IoThreadReport, { type: 'failed' }>, tensor: number | undefined): LinearStreamError {
  const stage = tensor === undefined ? 'internal' : report.error.name === 'NonFiniteOutputError' ? 'value' : report.input !== undefined || report.error.name === 'CheckpointError' ? 'read' : 'write';
  return new LinearStreamError(stage, tensor, report.input, revive(report.error));
}

/** The thread's error as the calling thread's type: a CheckpointError keeps its code and file, an errno error its code. */
function revive(error: ErrorReport): Error {
  if (error.name === 'CheckpointError' && error.file !== undefined) return new CheckpointError(error.code as CheckpointErrorCode, error.file, error.message);
  const revived = new Error(error.message);
  if (error.code !== undefined) Object.assign(revived, { code: error.code });
  return revived;
}
