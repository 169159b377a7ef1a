// A js-workers thread: runs slices of chunks that live in SharedArrayBuffers through the
// WebAssembly kernels (kernels/wasm-kernel.ts, over the engine's shared memory, which it
// gets at start) or the compiled JavaScript loop (cached), returning sums and histogram counts.
import { parentPort, workerData } from 'node:worker_threads';
import { compileKernel } from '../kernels/codegen.ts';
import { runSlice } from '../kernels/run.ts';
import { createWasmKernels } from '../kernels/wasm-kernel.ts';
import { halfWidener } from '../kernels/lin-wasm.ts';
import { bucketScan } from '../kernels/bucket-scan.ts';
import type { WasmMemory } from '../../wasm-assembly.ts';
import { selectInMemory } from '../plan/resolve.ts';
import type { KernelReply, KernelRequest, KernelThreadData } from './worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('engine-kernels.worker.ts must run as a worker thread');
const data = workerData as KernelThreadData | undefined;
const wasm = data ? createWasmKernels(data.memory as WasmMemory, data.scratch) : undefined;
const widen = data ? halfWidener(data.memory as WasmMemory) : undefined;
const scan = data ? bucketScan(data.memory as WasmMemory) : undefined;

port.on('message', (request: KernelRequest) => {
  let reply: KernelReply;
  try {
    if (request.kind === 'widen') {
      if (!widen) throw new Error('this thread has no shared memory to widen in');
      widen(request.dtype, request.bytes, request.out);
      port.postMessage({ id: request.id, widened: true } satisfies KernelReply);
      return;
    }
    if (request.kind === 'select') {
      port.postMessage({ id: request.id, threshold: selectInMemory(request.values, request.k, request.top ?? undefined, request.inMemory ? scan : undefined) } satisfies KernelReply);
      return;
    }
    const fn = compileKernel(request.source);
    const { sums, hists } = runSlice(fn, request.kernel, request.inputs, request.output, request.from, request.to, request.start, request.params, request.kept, request.inMemory ? wasm : undefined);
    reply = { id: request.id, sums, hists };
    // Freshly allocated per slice, so their buffers are plain ArrayBuffers and can move.
    port.postMessage(reply, [sums.buffer as ArrayBuffer, ...hists.filter((h): h is Uint32Array => h !== null).map((h) => h.buffer as ArrayBuffer)]);
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    port.postMessage(reply);
  }
});
