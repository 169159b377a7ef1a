// A WebAssembly SIMD loop for the most common kernel, a linear combination of input
// chunks (task arithmetic, soups): out = fround(c0 x0 + c1 x1 + ...). V8 does not
// vectorise the generated JavaScript loop; this one takes four elements per step. It
// computes exactly what the JavaScript loop computes: each float32 input widened to
// float64, products and sums in float64 in the same order (no fused multiply-add),
// one rounding to float32 at the end, so the results are bit-identical.
// The chunk buffers live in the module's (shared) memory, so reads land where the loop
// reads and the writer takes the output from where the loop stored it: no copies.
// Assembled from opcodes (server/src/wasm-assembly.ts), one small module per number of terms.
import {
  F32X4_DEMOTE_ZERO, F64, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, F64X2_SPLAT, functionModule, LOW_HALVES, MAXIMUM_PAGES, get, HIGH_TO_LOW, I32, I32_ADD, I32_GE_U, I32_SHL, set, simd,
  uleb, V128, webAssembly, type WasmMemory,
} from '../../wasm-assembly.ts';
import type { Kernel, ParamRef } from '../plan/types.ts';

/** v128.load / v128.store with memarg (alignment hint 2^4, offset 0). */
const V128_LOAD = simd(0, 4, 0);
const V128_STORE = simd(11, 4, 0);

/** Elements per loop step. */
const LIN_STEP = 4;
/** Terms a module is generated for; wider combinations run the JavaScript loop. */
const MAX_WASM_TERMS = 16;

/**
 * lin(out, x_0 .. x_{k-1}, n, c_0 .. c_{k-1}): out[i] = fround(sum_j c_j * x_j[i]) for
 * i < n (a multiple of LIN_STEP); out and x_j are byte addresses, 16-byte aligned.
 * Locals: params 0 out, 1..k x_j, k+1 n, k+2..2k+1 c_j; then end (i32), k coefficient
 * splats, the loaded vector, and the float64 sums of its low and high lanes (v128).
 * Unrolling measured no faster: the loop is bound by its arithmetic, not its overhead.
 */
function linBody(k: number): number[] {
  const out = 0;
  const x = (j: number) => 1 + j;
  const n = k + 1;
  const c = (j: number) => k + 2 + j;
  const end = 2 * k + 2;
  const splat = (j: number) => end + 1 + j;
  const loaded = end + 1 + k;
  const low = loaded + 1;
  const high = loaded + 2;
  // c_j * x_j over two lanes; the first term starts the sum, the others add to it in order.
  const lanes = (j: number, sum: number, upper: boolean) => [
    ...(j === 0 ? [] : get(sum)),
    ...get(loaded), ...(upper ? [...get(loaded), ...HIGH_TO_LOW] : []), ...F64X2_PROMOTE_LOW, ...get(splat(j)), ...F64X2_MUL,
    ...(j === 0 ? [] : F64X2_ADD),
    ...set(sum),
  ];
  const terms = Array.from({ length: k }, (_, j) => [...get(x(j)), ...V128_LOAD, ...set(loaded), ...lanes(j, low, false), ...lanes(j, high, true)]).flat();
  const advance = (local: number) => [...get(local), 0x41, 16, ...I32_ADD, ...set(local)];
  const code = [
    ...get(out), ...get(n), 0x41, 2, ...I32_SHL, ...I32_ADD, ...set(end), // end = out + 4n
    ...Array.from({ length: k }, (_, j) => [...get(c(j)), ...F64X2_SPLAT, ...set(splat(j))]).flat(),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(out), ...get(end), ...I32_GE_U, 0x0d, 1, // out >= end: leave the block
    ...terms,
    ...get(out), ...get(low), ...F32X4_DEMOTE_ZERO, ...get(high), ...F32X4_DEMOTE_ZERO, ...LOW_HALVES, ...V128_STORE,
    ...advance(out),
    ...Array.from({ length: k }, (_, j) => advance(x(j))).flat(),
    0x0c, 0, // continue the loop
    0x0b, 0x0b,
    0x0b,
  ];
  const locals = [...uleb(2), 1, I32, ...uleb(k + 3), V128];
  return [...locals, ...code];
}

function moduleBytes(k: number, maximumPages: number): Uint8Array<ArrayBuffer> {
  // A shared memory, so worker threads see the same buffers.
  return functionModule({
    exportName: 'lin', params: [...Array<number>(k + 2).fill(I32), ...Array<number>(k).fill(F64)], results: [], body: linBody(k),
    memory: { minimum: 1, sharedMaximum: maximumPages },
  });
}

interface SharedWasmMemory extends WasmMemory {
  readonly buffer: SharedArrayBuffer;
}

const PAGE = 65536;

export interface LinKernels {
  /** The shared memory every buffer lives in (other kernels and threads import it). */
  readonly memory: WasmMemory;
  /** A float32 buffer in the module's shared memory, 16-byte aligned; undefined once the memory is full. */
  allocate(length: number): Float32Array | undefined;
  /** Whether a view lies in this memory (was made by `allocate`, or on its buffer). */
  owns(view: Float32Array): boolean;
  /** Takes back a buffer from `allocate` (others are ignored); the next allocation of its size reuses it. */
  release(buffer: Float32Array): void;
  /**
   * output[i] = fround(sum_j coefs[j] * inputs[j][i]) for i < length. False (nothing done)
   * when a buffer is not in this memory or there are more than MAX_WASM_TERMS terms.
   */
  run(inputs: readonly Float32Array[], coefs: readonly number[], output: Float32Array, length: number): boolean;
}

/** The kernels over a fresh shared memory, or undefined where WebAssembly SIMD or shared memory is unavailable. */
export function createLinKernels(): LinKernels | undefined {
  const wasm = webAssembly();
  if (!wasm) return undefined;
  let memory: SharedWasmMemory;
  const modules = new Map<number, (...args: number[]) => void>();
  const instantiate = (k: number) => {
    let fn = modules.get(k);
    if (!fn) {
      const instance = new wasm.Instance(new wasm.Module(moduleBytes(k, MAXIMUM_PAGES)), { env: { memory } });
      fn = instance.exports.lin as (...args: number[]) => void;
      modules.set(k, fn);
    }
    return fn;
  };
  try {
    memory = new wasm.Memory({ initial: 1, maximum: MAXIMUM_PAGES, shared: true }) as SharedWasmMemory;
    instantiate(1);
  } catch {
    return undefined;
  }
  // Views made before the memory grew keep the buffer object of their time: all of them are this memory.
  const buffers = new WeakSet<SharedArrayBuffer>([memory.buffer]);
  const owns = (view: Float32Array) => buffers.has(view.buffer as SharedArrayBuffer);
  let used = 0;
  /** Released blocks by size in bytes: a backend serves run after run with buffers of the same few sizes. */
  const free = new Map<number, number[]>();
  const sizeOf = (length: number) => Math.ceil((length * 4) / 16) * 16;
  return {
    memory,
    owns,
    allocate(length) {
      const bytes = sizeOf(length);
      const reused = free.get(bytes)?.pop();
      if (reused !== undefined) return new Float32Array(memory.buffer, reused, length);
      const end = used + bytes;
      const have = memory.buffer.byteLength;
      if (end > have) {
        try {
          memory.grow(Math.ceil((end - have) / PAGE));
        } catch {
          return undefined;
        }
        buffers.add(memory.buffer);
      }
      const view = new Float32Array(memory.buffer, used, length);
      used = end;
      return view;
    },
    release(buffer) {
      if (!owns(buffer)) return;
      const bytes = sizeOf(buffer.length);
      let list = free.get(bytes);
      if (!list) free.set(bytes, (list = []));
      list.push(buffer.byteOffset);
    },
    run(inputs, coefs, output, length) {
      const k = inputs.length;
      if (k === 0 || k > MAX_WASM_TERMS || !owns(output) || !inputs.every(owns)) return false;
      const bulk = length - (length % LIN_STEP);
      instantiate(k)(output.byteOffset, ...inputs.map((x) => x.byteOffset), bulk, ...coefs);
      // The last few elements: the same arithmetic, in JavaScript.
      for (let i = bulk; i < length; i++) {
        let sum = coefs[0]! * inputs[0]![i]!;
        for (let j = 1; j < k; j++) sum += coefs[j]! * inputs[j]![i]!;
        output[i] = sum;
      }
      return true;
    },
  };
}

/** A kernel that is one linear combination of input slots: each term's slot and coefficient param. */
export interface LinearTerms {
  readonly slots: readonly number[];
  readonly coefs: readonly ParamRef[];
}

const linearCache = new WeakMap<Kernel, LinearTerms | null>();

/** The terms when the kernel's output is a linear combination of inputs and it has no reductions, else undefined. */
export function linearTerms(kernel: Kernel): LinearTerms | undefined {
  let known = linearCache.get(kernel);
  if (known === undefined) {
    known = null;
    const out = kernel.output === null ? undefined : kernel.nodes[kernel.output];
    if (out?.op === 'lin' && out.terms.length > 0 && kernel.reductions.length === 0) {
      const slots = out.terms.map((t) => kernel.nodes[t.arg]!).map((op) => (op.op === 'input' ? op.slot : -1));
      if (slots.every((s) => s >= 0)) known = { slots, coefs: out.terms.map((t) => t.coef) };
    }
    linearCache.set(kernel, known);
  }
  return known ?? undefined;
}
