// A js-workers thread: compiles kernel sources (cached) and runs slices of chunks that
// live in SharedArrayBuffers, returning sums and histogram counts.
import { parentPort } from 'node:worker_threads';
import { compileKernel } from '../kernels/codegen.ts';
import { runSlice } from '../kernels/run.ts';
import type { SliceRequest, SliceReply } from './worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('engine-kernels.worker.ts must run as a worker thread');

port.on('message', (request: SliceRequest) => {
  let reply: SliceReply;
  try {
    const fn = compileKernel(request.source);
    const { sums, hists } = runSlice(fn, request.kernel, request.inputs, request.output, request.from, request.to, request.start, request.params, request.kept);
    reply = { id: request.id, sums, hists };
    // Freshly allocated per slice, so their buffers are plain ArrayBuffers and can move.
    port.postMessage(reply, [sums.buffer as ArrayBuffer, ...hists.filter((h): h is Uint32Array => h !== null).map((h) => h.buffer as ArrayBuffer)]);
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    port.postMessage(reply);
  }
});
