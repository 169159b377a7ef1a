// The inner loops of the statistics pass: inner products of the differences
// D_i = M_i - R (and optionally of R itself) over one chunk. Each difference is an
// element-wise float32 subtraction, as the engine computes it, and exact whenever the
// two weights are within a factor of two (Sterbenz), so fine-tuned weights close to
// their base lose nothing; products and sums are float64, partial sums cover BLOCK
// elements and are then added to the chunk total. Every kernel, the WebAssembly one
// included, rounds differences the same way, so results do not depend on the chunking.
// Two accumulators per sum break the add latency chain; wider unrolling measured
// slower in V8.
import { KERNEL_DTYPE_BYTES } from '../wasm-assembly.ts';
import { decodeToFloat32 } from './dtypes.ts';
import { BLOCK, createWasmGramKernel, WASM_STEP } from './gram-wasm.ts';
import type { OperandDtypes } from './gram-wasm.ts';

const f32 = Math.fround;

/** Chunk buffers (one per input) and the summation over a range of them. */
export interface ChunkKernel {
  /** Where each input's chunk is read to. */
  readonly buffers: readonly Float32Array[];
  /** Adds the contributions of elements [at, at + n) of the buffers to `acc` (see accumulateGram). */
  accumulate(at: number, n: number, acc: Float64Array): void;
  /** Present where the kernel reads elements as stored (float32, bfloat16 or float16), decoding them itself. */
  readonly stored?: StoredChunkKernel;
}

/** The summation over elements as stored in the files: no decoding before it. */
export interface StoredChunkKernel {
  /** Where input `input`'s elements [at, at + n) go, as the bytes of `dtype` (in the place of their float32). */
  target(input: number, at: number, n: number, dtype: OperandDtypes[number]): Uint8Array;
  /** Like ChunkKernel.accumulate, over the bytes placed by `target` as `dtypes` (of R and M). */
  accumulate(at: number, n: number, dtypes: OperandDtypes, acc: Float64Array): void;
}

/**
 * Buffers for `inputs` chunks of `chunkElements` and the fastest kernel for them: the
 * WebAssembly SIMD loops for two inputs, the common single task-vector norm (with or
 * without the reference's own norm, as tvr inspect shows it; the buffers then live in
 * their memory, so reads land where they sum, bfloat16 and float16 included; see gram-wasm.ts on
 * their float32 differences), the JavaScript loops otherwise.
 */
export function createChunkKernel(inputs: number, chunkElements: number, includeReference: boolean): ChunkKernel {
  const chunkBytes = Math.ceil((chunkElements * 4) / 16) * 16;
  const wasm = inputs === 2 ? createWasmGramKernel(Math.ceil((inputs * chunkBytes) / 65536)) : undefined;
  const memory = wasm?.memory.buffer ?? new ArrayBuffer(inputs * chunkBytes);
  const buffers = Array.from({ length: inputs }, (_, i) => new Float32Array(memory, i * chunkBytes, chunkElements));
  if (wasm) {
    const bytesOf = (input: number, at: number, n: number, dtype: OperandDtypes[number]) => new Uint8Array(memory, buffers[input]!.byteOffset + at * 4, n * KERNEL_DTYPE_BYTES[dtype]);
    /** Byte address of element `start` of input `input`'s piece at `at`, stored as `dtype`. */
    const address = (input: number, at: number, start: number, dtype: OperandDtypes[number]) => buffers[input]!.byteOffset + at * 4 + start * KERNEL_DTYPE_BYTES[dtype];
    // The last elements (fewer than a loop step) as float32 for the JavaScript loop.
    const tails = [new Float32Array(WASM_STEP), new Float32Array(WASM_STEP)] as const;
    const stored: StoredChunkKernel = {
      target: bytesOf,
      accumulate: includeReference
        ? (at, n, dtypes, acc) => {
          // Block by block, as accumulateReferencePair adds: the same sums, bit for bit.
          let rr = 0, rd = 0, dd = 0;
          for (let start = 0; start < n; start += BLOCK) {
            const [rrBlock, rdBlock, ddBlock] = wasm.referencePair(address(0, at, start, dtypes[0]), address(1, at, start, dtypes[1]), Math.min(BLOCK, n - start), dtypes);
            rr += rrBlock;
            rd += rdBlock;
            dd += ddBlock;
          }
          acc[0] = acc[0]! + rr;
          acc[1] = acc[1]! + rd;
          acc[3] = acc[3]! + dd;
        }
        : (at, n, dtypes, acc) => {
          const bulk = n - (n % WASM_STEP);
          let sum = wasm.sumSquaredDifferences(address(0, at, 0, dtypes[0]), address(1, at, 0, dtypes[1]), bulk, dtypes);
          if (bulk < n) {
            tails.forEach((tail, i) => decodeToFloat32(dtypes[i]!, bytesOf(i, at, n, dtypes[i]!).subarray(bulk * KERNEL_DTYPE_BYTES[dtypes[i]!]), tail));
            sum += sumSquaredDifferences(tails[0], tails[1], n - bulk);
          }
          acc[0] = acc[0]! + sum;
        },
    };
    return { buffers, stored, accumulate: (at, n, acc) => stored.accumulate(at, n, ['F32', 'F32'], acc) };
  }
  return {
    buffers,
    accumulate(at, n, acc) {
      accumulateGram(buffers.map((b) => b.subarray(at, at + n)), n, acc, includeReference);
    },
  };
}

/** The vectors a Gram matrix is taken over, given m = inputs.length. */
export function gramSize(inputs: number, includeReference: boolean): number {
  return includeReference ? inputs : inputs - 1;
}

/**
 * Adds to `acc` (row-major s x s, s = gramSize) the chunk's contributions over
 * elements [0, n). Vectors: with `includeReference`, [R, M_1 - R, ..., M_k - R];
 * without, [M_1 - R, ..., M_k - R]; R = inputs[0]. Only the upper triangle is
 * accumulated; call `symmetrize` once at the end.
 */
export function accumulateGram(inputs: readonly Float32Array[], n: number, acc: Float64Array, includeReference: boolean): void {
  const m = inputs.length;
  const r = inputs[0]!;
  if (includeReference) {
    if (m === 2) return accumulateReferencePair(r, inputs[1]!, n, acc);
    acc[0] = acc[0]! + sumSquares(r, n);
    for (let i = 1; i < m; i++) {
      acc[i] = acc[i]! + dotReferenceDifference(r, inputs[i]!, n);
      for (let j = i; j < m; j++) acc[i * m + j] = acc[i * m + j]! + dotDifferences(r, inputs[i]!, inputs[j]!, n);
    }
    return;
  }
  if (m === 2) {
    acc[0] = acc[0]! + sumSquaredDifferences(r, inputs[1]!, n);
    return;
  }
  const s = m - 1;
  for (let i = 1; i < m; i++) {
    for (let j = i; j < m; j++) {
      const at = (i - 1) * s + (j - 1);
      acc[at] = acc[at]! + (i === j ? sumSquaredDifferences(r, inputs[i]!, n) : dotDifferences(r, inputs[i]!, inputs[j]!, n));
    }
  }
}

/** Mirrors the accumulated upper triangle into the lower one. */
export function symmetrize(acc: Float64Array, size: number): void {
  for (let i = 0; i < size; i++) for (let j = 0; j < i; j++) acc[i * size + j] = acc[j * size + i]!;
}

function sumSquares(r: Float32Array, n: number): number {
  let total = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s0 = 0, s1 = 0;
    let t = start;
    for (; t + 1 < end; t += 2) {
      const a = r[t]!, b = r[t + 1]!;
      s0 += a * a;
      s1 += b * b;
    }
    if (t < end) s0 += r[t]! * r[t]!;
    total += s0 + s1;
  }
  return total;
}

/** The hot loop of a single task vector's norm: sum (x - r)^2. */
function sumSquaredDifferences(r: Float32Array, x: Float32Array, n: number): number {
  let total = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s0 = 0, s1 = 0;
    let t = start;
    for (; t + 1 < end; t += 2) {
      const d = f32(x[t]! - r[t]!), e = f32(x[t + 1]! - r[t + 1]!);
      s0 += d * d;
      s1 += e * e;
    }
    if (t < end) {
      const d = f32(x[t]! - r[t]!);
      s0 += d * d;
    }
    total += s0 + s1;
  }
  return total;
}

/** <R,R>, <R,D>, <D,D> in one pass. */
function accumulateReferencePair(r: Float32Array, x: Float32Array, n: number, acc: Float64Array): void {
  let rr = 0, rd = 0, dd = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let rr0 = 0, rd0 = 0, dd0 = 0, rr1 = 0, rd1 = 0, dd1 = 0;
    let t = start;
    for (; t + 1 < end; t += 2) {
      const a = r[t]!, b = r[t + 1]!;
      const d = f32(x[t]! - a), e = f32(x[t + 1]! - b);
      rr0 += a * a; rd0 += a * d; dd0 += d * d;
      rr1 += b * b; rd1 += b * e; dd1 += e * e;
    }
    if (t < end) {
      const a = r[t]!;
      const d = f32(x[t]! - a);
      rr0 += a * a; rd0 += a * d; dd0 += d * d;
    }
    rr += rr0 + rr1;
    rd += rd0 + rd1;
    dd += dd0 + dd1;
  }
  acc[0] = acc[0]! + rr;
  acc[1] = acc[1]! + rd;
  acc[3] = acc[3]! + dd;
}

function dotReferenceDifference(r: Float32Array, x: Float32Array, n: number): number {
  let total = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s0 = 0, s1 = 0;
    let t = start;
    for (; t + 1 < end; t += 2) {
      const a = r[t]!, b = r[t + 1]!;
      s0 += a * f32(x[t]! - a);
      s1 += b * f32(x[t + 1]! - b);
    }
    if (t < end) s0 += r[t]! * f32(x[t]! - r[t]!);
    total += s0 + s1;
  }
  return total;
}

function dotDifferences(r: Float32Array, x: Float32Array, y: Float32Array, n: number): number {
  let total = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    let s0 = 0, s1 = 0;
    let t = start;
    for (; t + 1 < end; t += 2) {
      const a = r[t]!, b = r[t + 1]!;
      s0 += f32(x[t]! - a) * f32(y[t]! - a);
      s1 += f32(x[t + 1]! - b) * f32(y[t + 1]! - b);
    }
    if (t < end) s0 += f32(x[t]! - r[t]!) * f32(y[t]! - r[t]!);
    total += s0 + s1;
  }
  return total;
}
