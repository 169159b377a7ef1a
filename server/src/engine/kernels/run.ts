// Runs a kernel over part of a chunk on the current thread: shared by the `js` backend,
// the worker threads, and small chunks that are not worth a round trip to a worker.
import { histogramBins } from '../plan/resolve.ts';
import type { ChunkJob, ChunkTotals } from '../backends/types.ts';
import type { Kernel } from '../plan/types.ts';
import { compileKernel, sourceOf } from './codegen.ts';
import type { KernelFn } from './codegen.ts';
import type { WasmKernels } from './wasm-kernel.ts';

export interface SliceResult {
  readonly sums: Float64Array;
  /** Per reduction: this slice's histogram, or null (sums; kept values go to the caller's buffers). */
  readonly hists: (Uint32Array | null)[];
}

/**
 * Runs elements [from, to) of a chunk. `kept[r]` is the chunk-sized buffer of each `values`
 * reduction; histograms are allocated per slice and returned. With `wasm` (every buffer in
 * its memory), the WebAssembly loop takes the elements it can and the JavaScript loop the
 * last few.
 */
export function runSlice(
  fn: KernelFn,
  kernel: Kernel,
  inputs: readonly (Float32Array | null)[],
  output: Float32Array | null,
  from: number,
  to: number,
  start: number,
  params: Float64Array,
  kept: readonly (Float32Array | null)[],
  wasm?: WasmKernels,
): SliceResult {
  const sums = new Float64Array(kernel.reductions.length);
  const hists = kernel.reductions.map((r) => (histogramBins(r.kind) > 0 ? new Uint32Array(histogramBins(r.kind)) : null));
  const done = wasm ? wasm.run(kernel, inputs, output, from, to, params, kept, sums, hists) : 0;
  fn(inputs, output, from + done, to, start, params, sums, kernel.reductions.map((r, i) => (r.kind === 'values' ? kept[i]! : hists[i]!)));
  return { sums, hists };
}

/** The totals of one or more slices, in reduction order (kept values: the caller's buffer). */
export function combineSlices(kernel: Kernel, slices: readonly SliceResult[], kept: readonly (Float32Array | null)[]): (number | Uint32Array | Float32Array)[] {
  return kernel.reductions.map((r, i) => {
    if (r.kind === 'sumsq' || r.kind === 'dot') return slices.reduce((sum, s) => sum + s.sums[i]!, 0);
    if (r.kind === 'values') return kept[i]!;
    const total = slices[0]!.hists[i]!;
    for (const s of slices.slice(1)) {
      const h = s.hists[i]!;
      for (let b = 0; b < h.length; b++) total[b]! += h[b]!;
    }
    return total;
  });
}

/** Compiles and runs the whole chunk here (through `wasm` when given: every buffer must be in its memory). */
export function runChunkHere(job: ChunkJob, wasm?: WasmKernels): ChunkTotals {
  const fn = compileKernel(sourceOf(job.kernel));
  return combineSlices(job.kernel, [runSlice(fn, job.kernel, job.inputs, job.output, 0, job.length, job.start, job.params, job.kept, wasm)], job.kept);
}
