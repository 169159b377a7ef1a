// The generated kernels on worker threads: each chunk (in SharedArrayBuffers, so
// nothing is copied) is split into contiguous slices, one per worker plus one that the
// calling thread computes itself while the workers run (so `threads` counts it: on 2
// cores, one worker). Chunks too small to repay a round trip run on the calling thread,
// and so do memory-bound kernels (linear combinations) on two cores, where the other
// core is busy copying reads and writes (measured: 1.3 s inline against 1.8 s split for
// 4 x 1 GB task arithmetic). Chunk buffers live in the shared memory of a WebAssembly
// module, so a linear combination that runs on the calling thread runs its SIMD loop
// (kernels/lin-wasm.ts, bit-identical to the JavaScript loop, 2.5x faster) in place.
// Other kernels without random draws (trims, TIES merges, statistics) run as WebAssembly
// SIMD loops too (kernels/wasm-kernel.ts: TIES 2.5x faster), on every thread: each has a
// scratch region of the shared memory for params, sums and histograms.
// Whole outputs of copies and linear combinations bypass all this: `streamLinear` runs
// them on I/O threads that read, combine and write chunks themselves (io-threads.ts).
// For the other methods' pipeline, bf16 and f16 reads land as the file's bytes in a chunk
// buffer and are widened in place by a SIMD loop (on a worker for large reads), outputs
// are narrowed in place before they are written (`halfCodec`, issue 17).
import { availableParallelism } from 'node:os';
import { jsConversionForced } from '../../checkpoints/dtypes.ts';
import { Worker } from 'node:worker_threads';
import { compileKernel, sourceOf } from '../kernels/codegen.ts';
import { createLinKernels, linearTerms, type LinKernels } from '../kernels/lin-wasm.ts';
import { combineSlices, runChunkHere, runSlice } from '../kernels/run.ts';
import { createWasmKernels, WASM_SCRATCH_BYTES } from '../kernels/wasm-kernel.ts';
import type { SliceResult } from '../kernels/run.ts';
import { workerUrl } from '../../worker-url.ts';
import { streamLinear } from './io-threads.ts';
import type { Kernel } from '../plan/types.ts';
import type { Backend, ChunkJob, ChunkTotals, HalfCodec, TopKSelection } from './types.ts';
import { bucketScan } from '../kernels/bucket-scan.ts';
import { selectInMemory } from '../plan/resolve.ts';
import type { KernelReply, KernelRequest, KernelThreadData, SliceRequest } from './worker-protocol.ts';

/** Reads of at least this many 16-bit elements are widened on a worker thread. */
const WIDEN_ON_WORKERS_FROM = 1 << 17;
/** Below this many elements a chunk runs inline (a worker round trip costs ~50-100 us). */
const INLINE_BELOW = 1 << 16;
/** I/O threads for linear outputs, one per core up to this (measured on 2 cores only: 3 or 4 threads there were 10-30% slower than 2). */
const MAX_IO_THREADS = 4;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Slices start on multiples of this, so threads never share a cache line of output. */
const SLICE_ALIGN = 64;

interface Pending {
  readonly resolve: (reply: KernelReply) => void;
  readonly reject: (error: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

export function createJsWorkersBackend(threads = defaultThreads()): Backend {
  const pool: Thread[] = [];
  let nextId = 0;
  let failure: Error | undefined;
  const lin = createLinKernels();
  /** A scratch region of the shared memory for a thread's WebAssembly kernels (params, sums, histograms). */
  const scratch = () => lin?.allocate(WASM_SCRATCH_BYTES / 4);
  const ownScratch = scratch();
  const wasm = lin && ownScratch ? createWasmKernels(lin.memory, ownScratch) : undefined;
  /** The selections' one read of their values, in the WebAssembly memory (kernels/bucket-scan.ts). */
  const scan = lin ? bucketScan(lin.memory) : undefined;
  /** Every buffer of the job lies in the shared memory, where the WebAssembly kernels work. */
  const inMemory = (job: ChunkJob) => lin !== undefined && [...job.inputs, job.output, ...job.kept].every((a) => a === null || lin.owns(a));
  /** On this thread: a linear combination through its WebAssembly loop, other kernels through theirs, else the JavaScript loop. */
  const runHere = (job: ChunkJob): ChunkTotals => {
    const terms = lin && job.output ? linearTerms(job.kernel) : undefined;
    if (terms && lin!.run(terms.slots.map((s) => job.inputs[s]!), terms.coefs.map((c) => job.params[c]!), job.output!, job.length)) return [];
    return runChunkHere(job, inMemory(job) ? wasm : undefined);
  };

  /**
   * Large reads are widened on the worker threads in turn: the calling thread, which also
   * reads, writes and selects, is the pipeline's bottleneck for TIES-like methods (issue 17).
   */
  let nextWidener = 0;
  const halfCodec = (kernels: LinKernels): HalfCodec => ({
    async widen(dtype, bytes, out) {
      if (!kernels.canWiden(bytes, out)) return false;
      if (threads < 2 || out.length < WIDEN_ON_WORKERS_FROM) return kernels.widen(dtype, bytes, out);
      if (failure) throw failure;
      while (pool.length < threads - 1) pool.push(spawn());
      await post(pool[nextWidener++ % pool.length]!, { kind: 'widen', dtype, bytes, out });
      return true;
    },
    narrow: kernels.narrow,
  });

  const spawn = (): Thread => {
    const region = scratch();
    const data: KernelThreadData | undefined = lin && region ? { memory: lin.memory, scratch: { byteOffset: region.byteOffset, byteLength: region.byteLength } } : undefined;
    const worker = new Worker(workerUrl(new URL('./engine-kernels.worker.ts', import.meta.url)), data ? { workerData: data } : {});
    const thread: Thread = { worker, pending: new Map() };
    worker.unref();
    const failAll = (error: Error): void => {
      failure = error;
      for (const p of thread.pending.values()) p.reject(error);
      thread.pending.clear();
    };
    worker.on('message', (reply: KernelReply) => {
      const pending = thread.pending.get(reply.id);
      if (!pending) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      if ('error' in reply) pending.reject(new Error(`kernel failed in a worker thread: ${reply.error}`));
      else pending.resolve(reply);
    });
    worker.on('error', (error) => failAll(error));
    worker.on('exit', (code) => failAll(new Error(`a worker thread exited (code ${code})`)));
    return thread;
  };

  const post = (thread: Thread, request: DistributiveOmit<KernelRequest, 'id'>): Promise<KernelReply> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      thread.pending.set(id, { resolve, reject });
      thread.worker.ref();
      thread.worker.postMessage({ ...request, id } as KernelRequest);
    });
  const postSlice = async (thread: Thread, request: Omit<SliceRequest, 'id' | 'kind'>): Promise<SliceResult> => {
    const reply = (await post(thread, { ...request, kind: 'slice' })) as { sums: Float64Array; hists: (Uint32Array | null)[] };
    return { sums: reply.sums, hists: reply.hists };
  };

  return {
    name: 'js-workers',
    device: `${threads} threads (${threads - 1} worker${threads === 2 ? '' : 's'} + the calling thread)`,
    allocate: (length) => lin?.allocate(length) ?? new Float32Array(new SharedArrayBuffer(length * 4)),
    release: (buffers) => {
      for (const b of buffers) lin?.release(b);
    },
    async run(job: ChunkJob): Promise<ChunkTotals> {
      if (failure) throw failure;
      const shared = [...job.inputs, job.output, ...job.kept].every((a) => a === null || a.buffer instanceof SharedArrayBuffer);
      if (job.length < INLINE_BELOW || !shared || (threads <= 2 && memoryBound(job.kernel))) return runHere(job);
      while (pool.length < threads - 1) pool.push(spawn());
      const source = sourceOf(job.kernel);
      const owned = inMemory(job);
      const step = Math.ceil(job.length / threads / SLICE_ALIGN) * SLICE_ALIGN;
      const slices: Promise<SliceResult>[] = [];
      // Workers take the first slices; this thread computes the last one meanwhile.
      let from = 0;
      for (const thread of pool) {
        if (from + step >= job.length) break;
        slices.push(postSlice(thread, { source, kernel: job.kernel, inputs: job.inputs, output: job.output, kept: job.kept, from, to: from + step, start: job.start, params: job.params, inMemory: owned }));
        from += step;
      }
      const own = runSlice(compileKernel(source), job.kernel, job.inputs, job.output, from, job.length, job.start, job.params, job.kept, owned ? wasm : undefined);
      // Every slice settles before this returns or throws: the buffers may be reused right after.
      return combineSlices(job.kernel, [...(await allSettledOrThrow(slices)), own], job.kept);
    },
    ...(lin && !jsConversionForced() ? { halfCodec: halfCodec(lin) } : {}),
    // Each I/O thread reads, combines and writes whole chunks; beyond a few of them the memory bus, not the cores, sets the pace.
    streamLinear: (stream) => streamLinear(stream, Math.min(threads, MAX_IO_THREADS)),
    // The top-k selections of a pass, spread over the threads: job i on thread i mod threads (0: this one).
    async selectTopK(jobs) {
      if (failure) throw failure;
      const shared = jobs.every((j) => j.values.buffer instanceof SharedArrayBuffer);
      const here = (j: TopKSelection) => selectInMemory(j.values, j.k, j.top, scan && lin!.owns(j.values) ? scan : undefined);
      if (jobs.length < 2 || threads < 2 || !shared) return jobs.map(here);
      while (pool.length < threads - 1) pool.push(spawn());
      const remote = jobs.map((j, i) => (i % threads === 0 ? undefined : post(pool[(i % threads) - 1]!, { kind: 'select', values: j.values, k: j.k, top: j.top ?? null, inMemory: lin?.owns(j.values) ?? false })));
      const local = jobs.map((j, i) => (i % threads === 0 ? here(j) : 0));
      const replies = await allSettledOrThrow(remote.map((p) => p ?? Promise.resolve(undefined)));
      return replies.map((reply, i) => (reply ? (reply as { threshold: number }).threshold : local[i]!));
    },
    async close(): Promise<void> {
      const closing = pool.splice(0);
      for (const t of closing) t.worker.removeAllListeners('exit');
      await Promise.all(closing.map((t) => t.worker.terminate()));
    },
  };
}

/**
 * The values once every promise has settled, or the first failure: work posted to threads
 * uses shared buffers, which may be reused only when no thread works on them any more.
 */
async function allSettledOrThrow<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Only loads and linear combinations: the loop runs at memory speed whatever the thread count. */
function memoryBound(kernel: Kernel): boolean {
  return kernel.nodes.every((op) => op.op === 'input' || op.op === 'lin') && kernel.reductions.every((r) => r.kind === 'sumsq' || r.kind === 'dot');
}

function defaultThreads(): number {
  return Math.max(2, Math.min(availableParallelism(), 16));
}
