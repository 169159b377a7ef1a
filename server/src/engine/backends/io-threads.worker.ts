// An I/O thread: takes chunks from the shared counter and, for each, reads its inputs
// with blocking positional reads into WebAssembly memory, combines them there (the SIMD
// loop of kernels/lin-wasm.ts), encodes the stored dtype and writes the result at its
// place in the output file. bfloat16 and float16 inputs are read as their bytes and the
// loop decodes them, and such an output is encoded by the loop too: no conversion in
// JavaScript (issue 17). Blocking calls cost nothing on a thread of its own, and with one
// such thread per core the reads, the arithmetic and the page-cache copies of the writes
// of different chunks overlap without any thread-pool round trips.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CheckpointError } from '../../checkpoints/types.ts';
import type { Dtype } from '../../checkpoints/types.ts';
import { DTYPE_BYTES, encodeFromFloat32, isFloatDtype, jsConversionForced } from '../../checkpoints/dtypes.ts';
import { TensorReader } from '../../checkpoints/tensor-reader.ts';
import { checkFiniteChunk, overflowLimit } from '../finite.ts';
import { createLinKernels, LIN_DTYPE_BYTES, LIN_STEP, MAX_WASM_TERMS } from '../kernels/lin-wasm.ts';
import type { LinDtype } from '../kernels/lin-wasm.ts';
import { linearChunks } from '../plan/linear.ts';
import type { LinearChunk, LinearTensor } from '../plan/linear.ts';
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
/** Float32 chunk buffers in WebAssembly memory where there is some (the SIMD loop reads them in place), in whole loop steps. */
const allocate = (n: number) => lin?.allocate(n) ?? new Float32Array(n);
const inputs = Array.from({ length: width }, () => allocate(steps(length)));
const output = allocate(steps(length));
const inWasm = lin !== undefined && [...inputs, output].every((b) => lin.owns(b));
/** bfloat16 and float16 decoded and encoded by the SIMD loop rather than in JavaScript. */
const convertInLoop = inWasm && !jsConversionForced();
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
      const computed = combineChunk(index, chunk, tensor, convertInLoop && tensor.terms.length <= MAX_WASM_TERMS);
      if (!computed) break;
      bytes = computed;
      bytesRead += chunk.length * tensor.inputs.reduce((sum, entry) => sum + DTYPE_BYTES[entry.dtype], 0);
      position = placement.offset + chunk.start * DTYPE_BYTES[tensor.dtype];
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

/** Elements rounded up to whole steps of the SIMD loop. */
function steps(n: number): number {
  return Math.ceil(n / LIN_STEP) * LIN_STEP;
}

function bytesOf(buffer: Float32Array, byteLength: number): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, byteLength);
}

/** How a buffer holds a tensor's elements: as stored for the dtypes the SIMD loop converts itself (with `inLoop`), else as float32. */
function bufferDtype(dtype: Dtype, inLoop: boolean): LinDtype {
  return inLoop && (dtype === 'BF16' || dtype === 'F16') ? dtype : 'F32';
}

/**
 * Reads and combines a chunk of a linear tensor and checks its values; returns the bytes
 * to write, or undefined when it failed (reported). `inLoop`: bfloat16 and float16 inputs
 * are read as their bytes and such an output comes out encoded, the SIMD loop converting
 * them; otherwise every buffer holds float32, decoded and encoded in JavaScript.
 */
function combineChunk(index: number, chunk: LinearChunk, tensor: Extract<LinearTensor, { kind: 'lin' }>, inLoop: boolean): Uint8Array | undefined {
  const n = chunk.length;
  const views = inputs.slice(0, tensor.inputs.length).map((b) => b.subarray(0, n));
  const dtypes = tensor.inputs.map((entry) => bufferDtype(entry.dtype, inLoop));
  for (let i = 0; i < tensor.inputs.length; i++) {
    const entry = tensor.inputs[i]!;
    const size = DTYPE_BYTES[entry.dtype];
    const ok = dtypes[i] === 'F32'
      ? read(index, i, () => reader.readFloat32Sync(entry, chunk.start, views[i]!))
      : read(index, i, () => reader.readBytesSync(entry, chunk.start * size, bytesOf(views[i]!, n * size)));
    if (!ok) return undefined;
  }
  const outputDtype = bufferDtype(tensor.dtype, inLoop);
  const values = output.subarray(0, n);
  const suspect = combine(tensor, views, dtypes, outputDtype);
  // Telling a value passed through from one the recipe made, and saying which, takes the
  // float32 values: the rare chunk that has one is done again with float32 buffers only.
  if (suspect && [outputDtype, ...dtypes].some((d) => d !== 'F32')) return combineChunk(index, chunk, tensor, false);
  if (suspect) {
    let passed: number;
    try {
      passed = checkFiniteChunk(tensor.name, tensor.dtype, values, views, chunk.start);
    } catch (error) {
      fail(index, undefined, error);
      return undefined;
    }
    if (passed > 0) nonFinite.push([chunk.tensor, passed]);
  }
  if (outputDtype !== 'F32' || tensor.dtype === 'F32') return bytesOf(values, n * DTYPE_BYTES[tensor.dtype]);
  if (isFloatDtype(tensor.dtype)) return encoded.subarray(0, encodeFromFloat32(tensor.dtype, values, encoded));
  throw new TypeError(`tensor "${tensor.name}" is stored as ${tensor.dtype}, not a float dtype`);
}

/**
 * output = fround(sum coef * input) over the chunk (`views`, buffers holding `dtypes`):
 * the SIMD loop where it applies, else the same arithmetic in JavaScript. True when a
 * value may be NaN or infinite once stored as the tensor's dtype (the loop says; the
 * JavaScript loop does not know).
 */
function combine(tensor: Extract<LinearTensor, { kind: 'lin' }>, views: readonly Float32Array[], dtypes: readonly LinDtype[], outputDtype: LinDtype): boolean {
  const n = views[0]?.length ?? 0;
  if (inWasm && tensor.terms.length <= MAX_WASM_TERMS) {
    // The loop runs over whole steps: zero padding keeps the lanes past the chunk finite.
    views.forEach((view, i) => {
      const size = LIN_DTYPE_BYTES[dtypes[i]!];
      new Uint8Array(view.buffer, view.byteOffset + n * size, (steps(n) - n) * size).fill(0);
    });
    const terms = tensor.terms.map((t) => ({ address: views[t.input]!.byteOffset, dtype: dtypes[t.input]! }));
    return lin!.combine(terms, tensor.terms.map((t) => t.coef), { address: output.byteOffset, dtype: outputDtype }, steps(n), overflowLimit(tensor.dtype));
  }
  const xs = tensor.terms.map((t) => views[t.input]!);
  const coefs = tensor.terms.map((t) => t.coef);
  for (let i = 0; i < n; i++) {
    let sum = coefs[0]! * xs[0]![i]!;
    for (let j = 1; j < xs.length; j++) sum += coefs[j]! * xs[j]![i]!;
    output[i] = sum;
  }
  return true;
}

function writeAll(file: number, bytes: Uint8Array, position: number): void {
  const fd = (fds[file] ??= openSync(data.outputs[file]!, 'r+'));
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
