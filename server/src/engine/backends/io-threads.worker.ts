// An I/O thread: takes chunks from the shared counter and, for each, reads its inputs
// with blocking positional reads into WebAssembly memory, combines them there (the SIMD
// loop of kernels/lin-wasm.ts), encodes the stored dtype and writes the result at its
// place in the output file. Blocking calls cost nothing on a thread of its own, and with
// one such thread per core the reads, the arithmetic and the page-cache copies of the
// writes of different chunks overlap without any thread-pool round trips.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CheckpointError } from '../../checkpoints/types.ts';
import { DTYPE_BYTES, encodeFromFloat32, isFloatDtype } from '../../checkpoints/dtypes.ts';
import { TensorReader } from '../../checkpoints/tensor-reader.ts';
import { checkFiniteChunk } from '../finite.ts';
import { createLinKernels } from '../kernels/lin-wasm.ts';
import { linearChunks } from '../plan/linear.ts';
import { CANCELLED, NEXT_CHUNK } from './io-threads-protocol.ts';
import type { ErrorReport, IoThreadData, IoThreadReport } from './io-threads-protocol.ts';

/** Bytes written between reports: progress, tensor events and background syncs follow at this grain. */
const REPORT_EVERY = 4 << 20;

const port = parentPort;
if (!port) throw new Error('io-threads.worker.ts must run as a worker thread');
const data = workerData as IoThreadData;
const control = new Int32Array(data.control);
const post = (report: IoThreadReport) => port.postMessage(report);

const chunks = linearChunks(data.tensors, data.chunkElements);
const reader = new TensorReader([{ files: data.inputs }]);
const lin = createLinKernels();
const width = Math.max(1, ...data.tensors.map((t) => (t.kind === 'lin' ? t.inputs.length : 0)));
const length = data.chunkElements;
/** Float32 chunk buffers in WebAssembly memory where there is some (the SIMD loop reads them in place). */
const allocate = (n: number) => lin?.allocate(n) ?? new Float32Array(n);
const inputs = Array.from({ length: width }, () => allocate(length));
const output = allocate(length);
const encoded = new Uint8Array(length * 4);
const fds: (number | undefined)[] = data.outputs.map(() => undefined);

let done: number[] = [];
let bytesRead = 0;
let written = data.outputs.map(() => 0);
let sinceReport = 0;
let nonFinite: [number, number][] = [];
const report = () => {
  post({ type: 'chunks', chunks: done, bytesRead, written, nonFinite });
  done = [];
  nonFinite = [];
  bytesRead = 0;
  written = data.outputs.map(() => 0);
  sinceReport = 0;
};

try {
  for (;;) {
    if (Atomics.load(control, CANCELLED) !== 0) break;
    const index = Atomics.add(control, NEXT_CHUNK, 1);
    const chunk = chunks[index];
    if (!chunk) break;
    const tensor = data.tensors[chunk.tensor]!;
    const placement = data.placements[chunk.tensor]!;
    let bytes: Uint8Array;
    let position: number;
    if (tensor.kind === 'copy') {
      bytes = encoded.subarray(0, chunk.length);
      if (!read(index, undefined, () => reader.readBytesSync(tensor.input, chunk.start, bytes))) break;
      bytesRead += chunk.length;
      position = placement.offset + chunk.start;
    } else {
      const views = inputs.slice(0, tensor.inputs.length).map((b) => b.subarray(0, chunk.length));
      let ok = true;
      for (let i = 0; ok && i < tensor.inputs.length; i++) {
        const entry = tensor.inputs[i]!;
        ok = read(index, i, () => reader.readFloat32Sync(entry, chunk.start, views[i]!));
        bytesRead += chunk.length * DTYPE_BYTES[entry.dtype];
      }
      if (!ok) break;
      const values = output.subarray(0, chunk.length);
      combine(tensor.terms.map((t) => views[t.input]!), tensor.terms.map((t) => t.coef), values);
      let passed: number;
      try {
        passed = checkFiniteChunk(tensor.name, tensor.dtype, values, views, chunk.start);
      } catch (error) {
        fail(index, undefined, error);
        break;
      }
      if (passed > 0) nonFinite.push([chunk.tensor, passed]);
      const size = DTYPE_BYTES[tensor.dtype];
      if (tensor.dtype === 'F32') {
        bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      } else if (isFloatDtype(tensor.dtype)) {
        bytes = encoded.subarray(0, encodeFromFloat32(tensor.dtype, values, encoded));
      } else {
        throw new TypeError(`tensor "${tensor.name}" is stored as ${tensor.dtype}, not a float dtype`);
      }
      position = placement.offset + chunk.start * size;
    }
    try {
      writeAll(placement.file, bytes, position);
    } catch (error) {
      fail(index, undefined, error);
      break;
    }
    done.push(index);
    written[placement.file]! += bytes.length;
    sinceReport += bytes.length;
    if (sinceReport >= REPORT_EVERY) report();
  }
  report();
} catch (error) {
  // Not a file problem (those are reported where they happen): a bug, reported as such.
  fail(-1, undefined, error);
} finally {
  for (const fd of fds) if (fd !== undefined) closeSync(fd);
  void reader.close();
  post({ type: 'finished' });
}

/** Runs a read; on failure reports it (and stops every thread), returning false. */
function read(chunk: number, input: number | undefined, run: () => void): boolean {
  try {
    run();
    return true;
  } catch (error) {
    fail(chunk, input, error);
    return false;
  }
}

function fail(chunk: number, input: number | undefined, error: unknown): void {
  Atomics.store(control, CANCELLED, 1);
  const e = error instanceof Error ? error : new Error(String(error));
  const code: unknown = (e as { code?: unknown }).code;
  const described: ErrorReport = {
    name: e.name,
    message: e.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(e instanceof CheckpointError ? { file: e.file } : {}),
  };
  post({ type: 'failed', chunk, ...(input !== undefined ? { input } : {}), error: described });
}

/** out[i] = fround(sum_j coefs[j] * xs[j][i]): the SIMD loop where it applies, else the same arithmetic in JavaScript. */
function combine(xs: readonly Float32Array[], coefs: readonly number[], out: Float32Array): void {
  if (lin?.run(xs, coefs, out, out.length)) return;
  for (let i = 0; i < out.length; i++) {
    let sum = coefs[0]! * xs[0]![i]!;
    for (let j = 1; j < xs.length; j++) sum += coefs[j]! * xs[j]![i]!;
    out[i] = sum;
  }
}

function writeAll(file: number, bytes: Uint8Array, position: number): void {
  const fd = (fds[file] ??= openSync(data.outputs[file]!, 'r+'));
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
