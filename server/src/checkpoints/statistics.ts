// Tensor statistics for hovers and `tvr inspect`: per-tensor Gram matrices of task
// vectors, computed in worker threads (cancellable, with progress) and cached by the
// identity of every input file. Norms of any linear task vector and cosines between
// any two follow from the matrices: ||sum c_i D_i||^2 = c^T G c. LoRA adapters' norms
// come from their factors, in the same workers.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerUrl } from '../worker-url.ts';
import { gramTables, mergeGramResults } from './gram-pass.ts';
import type { GramResult } from './gram-pass.ts';
import type { LoraNormModule, LoraNorms } from './lora-norm.ts';
import { readCheckpointHeader } from './read-header.ts';
import type { HeaderCache } from './read-header.ts';
import type { StatisticsReply, StatisticsRequest, StatisticsTask } from './statistics.worker.ts';
import { CheckpointError } from './types.ts';
import type { CheckpointErrorCode, CheckpointHeader, Dtype } from './types.ts';

export type { GramResult, TensorGram } from './gram-pass.ts';
export type { LoraNorms } from './lora-norm.ts';

export interface ComputeGramOptions {
  readonly signal?: AbortSignal;
  /** Called at most every ~100 ms per worker with the float tensor bytes read so far and in all, all inputs together. */
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Where headers come from; default: read afresh. */
  readonly headers?: HeaderCache;
  /** Worker threads splitting the elements; default 2 for inputs over 64 MiB when the machine has 2+ cores, else 1. */
  readonly workers?: number;
  /** Float32 elements per input per chunk (default DEFAULT_CHUNK_ELEMENTS). */
  readonly chunkElements?: number;
  /** Also take the reference itself as vector 0 of the matrices. Default false. */
  readonly includeReference?: boolean;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The statistics pass was aborted', 'AbortError');
}

function defaultWorkers(): number {
  return Math.min(2, Math.max(1, availableParallelism()));
}

async function readHeaders(paths: readonly string[], cache: HeaderCache | undefined): Promise<CheckpointHeader[]> {
  return Promise.all(paths.map((p) => (cache ? cache.get(p) : readCheckpointHeader(p))));
}

/** Headers without the tfjs topology, which the worker does not need to receive. */
function slim(header: CheckpointHeader): CheckpointHeader {
  const { tfjsModel: _topology, ...rest } = header;
  return rest;
}

/** Workers kept between passes: starting one costs tens of milliseconds. */
const idleWorkers: Worker[] = [];
const IDLE_WORKER_MS = 30_000;
const idleTimers = new WeakMap<Worker, NodeJS.Timeout>();

function takeWorker(): Worker {
  const worker = idleWorkers.pop();
  if (worker) {
    clearTimeout(idleTimers.get(worker));
    worker.ref();
    return worker;
  }
  return new Worker(workerUrl(new URL('./statistics.worker.ts', import.meta.url)));
}

function returnWorker(worker: Worker): void {
  // An idle worker must not keep the process alive, and is dropped after a while.
  worker.unref();
  idleTimers.set(worker, setTimeout(() => void dropWorker(worker), IDLE_WORKER_MS).unref());
  idleWorkers.push(worker);
}

/** Ends the workers kept idle and resolves once they are gone (a language server shutting down). */
export async function endIdleWorkers(): Promise<void> {
  await Promise.all([...idleWorkers].map(dropWorker));
}

function dropWorker(worker: Worker): Promise<unknown> {
  const at = idleWorkers.indexOf(worker);
  if (at >= 0) idleWorkers.splice(at, 1);
  clearTimeout(idleTimers.get(worker));
  return worker.terminate();
}

/** Runs `task` in a worker; `T` is the result of its pass. */
function runWorker<T>(
  task: StatisticsTask,
  signal: AbortSignal,
  onProgress: (bytesDone: number, bytesTotal: number) => void,
): Promise<T> {
  return new Promise<T>((resolvePromise, rejectPromise) => {
    const worker = takeWorker();
    const cancel = new SharedArrayBuffer(4);
    let settled = false;
    const finish = (reusable: boolean, outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      // Only this run's listeners: Worker keeps internal ones of its own.
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (reusable) returnWorker(worker);
      else void dropWorker(worker);
      outcome();
    };
    // The worker sees the flag at its next chunk boundary and answers `cancelled`.
    const onAbort = () => Atomics.store(new Int32Array(cancel), 0, 1);
    const onMessage = (reply: StatisticsReply<T>) => {
      switch (reply.type) {
        case 'progress': onProgress(reply.bytesDone, reply.bytesTotal); break;
        case 'result': finish(true, () => resolvePromise(reply.result)); break;
        case 'cancelled': finish(true, () => rejectPromise(abortError(signal))); break;
        case 'error': finish(true, () => rejectPromise(reviveError(reply.error))); break;
      }
    };
    const onError = (error: Error) => finish(false, () => rejectPromise(error));
    const onExit = (code: number) => finish(false, () => rejectPromise(new Error(`statistics worker exited with code ${code}`)));
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    worker.postMessage({ ...task, cancel } satisfies StatisticsRequest);
  });
}

function reviveError(error: { name: string; message: string; code?: string; file?: string }): Error {
  if (error.name === 'CheckpointError' && error.code && error.file) {
    return new CheckpointError(error.code as CheckpointErrorCode, error.file, error.message);
  }
  const revived = new Error(error.message);
  revived.name = error.name;
  return revived;
}

/**
 * Gram matrices of [M_1 - R, ..., M_k - R] (with `includeReference`, of
 * [R, M_1 - R, ...]) per float tensor, R = paths[0], in one streaming pass over all
 * files in worker threads. Rejects with signal.reason when aborted, and with
 * CheckpointError for unreadable, changed or mismatched checkpoints.
 */
export async function computeGram(paths: readonly string[], options: ComputeGramOptions = {}): Promise<GramResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const headers = (await readHeaders(paths, options.headers)).map(slim);
  signal?.throwIfAborted();
  // Checked here too, so a mismatch fails before any worker starts.
  const { float } = gramTables(headers);
  const floatBytes = float.reduce((sum, entries) => sum + entries.reduce((s, e) => s + e.byteLength, 0), 0);
  // By default a second worker only pays for itself on large inputs.
  const count = Math.max(1, options.workers ?? (floatBytes < 64 << 20 ? 1 : defaultWorkers()));
  const done = new Array<number>(count).fill(0);
  const report = (part: number) => (bytesDone: number) => {
    done[part] = bytesDone;
    options.onProgress?.(done.reduce((a, b) => a + b, 0), floatBytes);
  };
  // One failing part stops the others; the caller's abort stops all.
  const stop = new AbortController();
  const forward = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', forward, { once: true });
  try {
    const parts = Array.from({ length: count }, (_, index) => {
      const task = {
        pass: 'gram' as const,
        headers,
        includeReference: options.includeReference ?? false,
        part: { index, count },
        ...(options.chunkElements !== undefined ? { chunkElements: options.chunkElements } : {}),
      };
      return runWorker<GramResult>(task, stop.signal, report(index)).catch((error: unknown) => {
        if (!stop.signal.aborted) stop.abort(error);
        throw error;
      });
    });
    await Promise.allSettled(parts);
    if (stop.signal.aborted) throw signal?.aborted ? abortError(signal) : stop.signal.reason;
    return mergeGramResults(await Promise.all(parts));
  } finally {
    signal?.removeEventListener('abort', forward);
  }
}

/**
 * ‖ΔW‖² of each module of a LoRA adapter (`header`: its adapter_model.safetensors's), from
 * its factors in a worker thread (checkpoints/lora-norm.ts). Rejects with signal.reason
 * when aborted, and with CheckpointError for an adapter file unreadable or changed.
 */
export function computeLoraNorms(
  header: Pick<CheckpointHeader, 'files'>,
  modules: readonly LoraNormModule[],
  options: Pick<ComputeGramOptions, 'signal' | 'onProgress'> = {},
): Promise<LoraNorms> {
  const task = { pass: 'lora-norms' as const, files: header.files, modules: modules.map(({ tensor, a, b, scale }) => ({ tensor, a, b, scale })) };
  return runWorker<LoraNorms>(task, options.signal ?? new AbortController().signal, options.onProgress ?? (() => {}));
}

interface SharedComputation {
  readonly promise: Promise<GramResult>;
  readonly controller: AbortController;
  readonly listeners: Set<(bytesDone: number, bytesTotal: number) => void>;
  waiters: number;
}

export interface GramCacheOptions {
  /** Headers are read through this cache, which also supplies the file identities of the key. */
  readonly headers: HeaderCache;
  /** Most results kept. Default 32. */
  readonly maxEntries?: number;
  readonly workers?: number;
}

/**
 * Gram results keyed by the identity (path, size, mtime) of every file of every input:
 * an unchanged group is never re-read. Concurrent requests for one group share a pass,
 * which is cancelled only when every requester has aborted.
 */
export class GramCache {
  readonly #options: GramCacheOptions;
  readonly #results = new Map<string, GramResult>();
  readonly #running = new Map<string, SharedComputation>();

  constructor(options: GramCacheOptions) {
    this.#options = options;
  }

  async get(paths: readonly string[], options: Pick<ComputeGramOptions, 'signal' | 'onProgress' | 'includeReference'> = {}): Promise<GramResult> {
    const { signal } = options;
    const includeReference = options.includeReference ?? false;
    signal?.throwIfAborted();
    const headers = await readHeaders(paths, this.#options.headers);
    const key = JSON.stringify([includeReference, headers.map((h) => h.files.map((f) => [f.path, f.size, f.mtimeMs]))]);
    const cached = this.#results.get(key);
    if (cached) {
      this.#results.delete(key);
      this.#results.set(key, cached);
      return cached;
    }
    let shared = this.#running.get(key);
    // A pass every requester abandoned is being cancelled: start afresh rather than join it.
    if (!shared || shared.controller.signal.aborted) {
      const controller = new AbortController();
      const listeners = new Set<(bytesDone: number, bytesTotal: number) => void>();
      const promise = computeGram(paths, {
        signal: controller.signal,
        headers: this.#options.headers,
        includeReference,
        ...(this.#options.workers !== undefined ? { workers: this.#options.workers } : {}),
        onProgress: (bytesDone, bytesTotal) => { for (const listener of listeners) listener(bytesDone, bytesTotal); },
      });
      shared = { promise, controller, listeners, waiters: 0 };
      this.#running.set(key, shared);
      const entry = shared;
      promise.then(
        (result) => {
          this.#store(key, result);
          if (this.#running.get(key) === entry) this.#running.delete(key);
        },
        () => { if (this.#running.get(key) === entry) this.#running.delete(key); },
      );
    }
    return this.#wait(shared, options);
  }

  #wait(shared: SharedComputation, options: Pick<ComputeGramOptions, 'signal' | 'onProgress'>): Promise<GramResult> {
    const { signal, onProgress } = options;
    shared.waiters++;
    if (onProgress) shared.listeners.add(onProgress);
    return new Promise<GramResult>((resolvePromise, rejectPromise) => {
      const leave = () => {
        signal?.removeEventListener('abort', onAbort);
        if (onProgress) shared.listeners.delete(onProgress);
      };
      const onAbort = () => {
        leave();
        shared.waiters--;
        if (shared.waiters === 0) shared.controller.abort(signal!.reason);
        rejectPromise(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      shared.promise.then(
        (result) => { leave(); resolvePromise(result); },
        (error: unknown) => { leave(); rejectPromise(error); },
      );
    });
  }

  #store(key: string, result: GramResult): void {
    this.#results.set(key, result);
    while (this.#results.size > (this.#options.maxEntries ?? 32)) this.#results.delete(this.#results.keys().next().value!);
  }
}

/** ||sum_i c_i v_i||^2 for the vectors behind an m x m Gram matrix. */
export function combinationNormSquared(gram: Float64Array, m: number, coefficients: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < m; i++) {
    const ci = coefficients[i] ?? 0;
    if (ci === 0) continue;
    for (let j = 0; j < m; j++) {
      const cj = coefficients[j] ?? 0;
      // Skipped, not multiplied by 0: an entry of a vector holding infinity is infinite, and 0 * Infinity is NaN.
      if (cj !== 0) sum += ci * cj * gram[i * m + j]!;
    }
  }
  return Math.max(0, sum);
}

export interface TensorNorm {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** ||tensor|| of the checkpoint. */
  readonly norm: number;
  /** ||tensor - other|| when a second checkpoint was given. */
  readonly differenceNorm?: number;
}

export interface TensorNormsResult {
  readonly tensors: readonly TensorNorm[];
  readonly skipped: readonly { readonly name: string; readonly dtype: Dtype }[];
  readonly norm: number;
  readonly differenceNorm?: number;
  /** Tensors whose norm (or difference norm) is NaN or infinite: they hold NaN or infinite values. Say so; never print NaN alone. */
  readonly nonFinite: readonly string[];
}

/** L2 norm of each float tensor of `path` and, given `relativeTo`, of its difference from it (`tvr inspect`). */
export async function tensorNorms(
  path: string,
  options: Omit<ComputeGramOptions, 'includeReference'> & { readonly relativeTo?: string } = {},
): Promise<TensorNormsResult> {
  const { relativeTo, ...rest } = options;
  // With the checkpoint as the reference: gram[0] = ||M||^2 and gram[3] = ||other - M||^2, both exact.
  const paths = relativeTo === undefined ? [path] : [path, relativeTo];
  const [header, result] = await Promise.all([
    options.headers ? options.headers.get(path) : readCheckpointHeader(path),
    computeGram(paths, { ...rest, includeReference: true }),
  ]);
  const m = result.size;
  const tensors = result.tensors.map((t): TensorNorm => {
    const entry = header.tensors.get(t.name)!;
    const base = { name: t.name, dtype: entry.dtype, shape: entry.shape, norm: Math.sqrt(t.gram[0]!) };
    return m === 2 ? { ...base, differenceNorm: Math.sqrt(t.gram[3]!) } : base;
  });
  const norm = Math.sqrt(result.total[0]!);
  const nonFinite = tensors.filter((t) => !Number.isFinite(t.norm) || (t.differenceNorm !== undefined && !Number.isFinite(t.differenceNorm))).map((t) => t.name);
  return m === 2
    ? { tensors, skipped: result.skipped, norm, differenceNorm: Math.sqrt(result.total[3]!), nonFinite }
    : { tensors, skipped: result.skipped, norm, nonFinite };
}
