// A WebAssembly SIMD loop for the most common kernel, a linear combination of input
// chunks (task arithmetic, soups): out = fround(c0 x0 + c1 x1 + ...). V8 does not
// vectorise the generated JavaScript loop; this one takes four elements per step. It
// computes exactly what the JavaScript loop computes: each float32 input widened to
// float64, products and sums in float64 in the same order (no fused multiply-add),
// one rounding to float32 at the end, so the results are bit-identical.
// The chunk buffers live in the module's (shared) memory, so reads land where the loop
// reads and the writer takes the output from where the loop stored it: no copies.
// A buffer may also hold bfloat16 or float16, the bytes as stored in the file: the loop
// decodes them and encodes its results to them (round to nearest even, NaN made quiet)
// exactly as checkpoints/dtypes.ts does, so such checkpoints are combined without any
// conversion in JavaScript (issue 17). The loop also says whether any result is not
// finite once stored, so the caller scans a chunk only when something is to be found.
// Assembled from opcodes (server/src/wasm-assembly.ts), one small module per number of
// terms and buffer dtypes.
import {
  F32X4_DEMOTE_ZERO, F64, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, F64X2_SPLAT, functionModule, LOW_HALVES, MAXIMUM_PAGES, get, HIGH_TO_LOW, I32, I32_ADD, I32_GE_U, I32_SHL,
  and, decodeBf16x4, decodeF16x4, i32Const, I32X4_GT_S, I32X4_SHR_U, I32X4_SPLAT, KERNEL_DTYPE_BYTES, set, shr, simd, splat32, tee, uleb, V128, V128_AND, V128_ANY_TRUE, V128_BITSELECT, V128_OR, webAssembly, type KernelDtype, type WasmMemory, I32X4_ADD, I32X4_LE_S, I32X4_SUB,
} from '../../wasm-assembly.ts';
import { decodeToFloat32, encodeFromFloat32 } from '../../checkpoints/dtypes.ts';
import type { Kernel, ParamRef } from '../plan/types.ts';

/** v128.load / v128.store with memarg (alignment hint 2^4, offset 0). */
const V128_LOAD = simd(0, 4, 0);
const V128_STORE = simd(11, 4, 0);
/** The low 8 bytes (four bfloat16) of a vector to memory: v128.store64_lane 0 (alignment hint 2^3). */
const STORE_LOW_64 = simd(91, 3, 0, 0);
const I32X4_GE_S = simd(63);
/** Four int32 lanes narrowed to 16 bits (twice: lanes 0-3 and 4-7 of the result); ours are all in 0..0xffff, so nothing saturates. */
const I16X8_NARROW_U = simd(134);
const I32X4_LT_S = simd(57);
const F32X4_ADD = simd(228);

/** Elements per loop step. */
export const LIN_STEP = 4;
/** Terms a module is generated for; wider combinations run the JavaScript loop. */
export const MAX_WASM_TERMS = 16;

/** How a buffer of this loop holds its elements: float32, or bfloat16 or float16 as stored in checkpoint files. */
export type LinDtype = KernelDtype | 'F16';
export const LIN_DTYPE_BYTES: Readonly<Record<LinDtype, number>> = { ...KERNEL_DTYPE_BYTES, F16: 2 };

/** The dtypes of a module's input buffers and of its output buffer. */
interface LinSpec {
  readonly inputs: readonly LinDtype[];
  readonly output: LinDtype;
}


/**
 * Stores the four float32 bit patterns in local `value` (`magnitude`: without their signs) at
 * the address on the stack as float16, as dtypes.ts's floatBitsToHalfBits encodes them: normal
 * halves by dropping 13 bits rounding to nearest even and rebiasing, subnormal ones (and zero)
 * as the magnitude rounded to a multiple of 2^-24 by a float32 addition of 0.5 (whose ulp that
 * is; the same rounding to nearest even), 65520 and up infinite, NaN quiet with its top
 * payload bits; then the sign.
 */
function encodeF16(value: number, magnitude: number): number[] {
  return [
    ...get(value), ...shr(16), ...and(0x8000), // sign
    ...get(magnitude), ...splat32(0xfff), ...I32X4_ADD, ...get(magnitude), ...shr(13), ...and(1), ...I32X4_ADD, ...splat32(0x38000000), ...I32X4_SUB, ...shr(13), // normal
    ...get(magnitude), ...splat32(0x3f000000), ...F32X4_ADD, ...splat32(0x3f000000), ...I32X4_SUB, // subnormal
    ...get(magnitude), ...splat32(0x38800000), ...I32X4_GE_S, ...V128_BITSELECT,
    ...splat32(0x7c00), ...get(magnitude), ...splat32(0x477ff000), ...I32X4_LT_S, ...V128_BITSELECT, // 65520 and up: infinity
    ...get(magnitude), ...shr(13), ...and(0x3ff), ...splat32(0x7e00), ...V128_OR, ...get(magnitude), ...splat32(0x7f800000), ...I32X4_LE_S, ...V128_BITSELECT, // NaN
    ...V128_OR, ...tee(value), ...get(value), ...I16X8_NARROW_U, ...STORE_LOW_64,
  ];
}

/**
 * lin(out, x_0 .. x_{k-1}, n, c_0 .. c_{k-1}, limit) -> nonFinite: out[i] = fround(sum_j
 * c_j * x_j[i]) for i < n (a multiple of LIN_STEP), each buffer read or written as its
 * dtype in `spec`; out and x_j are byte addresses. Returns 1 when some out[i], as float32
 * bits without the sign, is >= limit (NaN, or a value that is infinite once stored), else 0.
 * Locals: params 0 out, 1..k x_j, k+1 n, k+2..2k+1 c_j, 2k+2 limit; then end (i32), k
 * coefficient splats, the loaded vector, the float64 sums of its low and high lanes, the
 * float32 result, its magnitude, the non-finite lanes seen, and the splatted constants (v128).
 * Unrolling measured no faster: the loop is bound by its arithmetic, not its overhead.
 */
function linBody(spec: LinSpec): number[] {
  const k = spec.inputs.length;
  const out = 0;
  const x = (j: number) => 1 + j;
  const n = k + 1;
  const c = (j: number) => k + 2 + j;
  const limit = 2 * k + 2;
  const end = limit + 1;
  const splat = (j: number) => end + 1 + j;
  const loaded = end + 1 + k;
  const low = loaded + 1, high = loaded + 2, value = loaded + 3, magnitude = loaded + 4, seen = loaded + 5;
  const absMask = loaded + 6, limits = loaded + 7, bias = loaded + 8, quiet = loaded + 9, infinity = loaded + 10, one = loaded + 11;
  // c_j * x_j over two lanes; the first term starts the sum, the others add to it in order.
  const lanes = (j: number, sum: number, upper: boolean) => [
    ...(j === 0 ? [] : get(sum)),
    ...get(loaded), ...(upper ? [...get(loaded), ...HIGH_TO_LOW] : []), ...F64X2_PROMOTE_LOW, ...get(splat(j)), ...F64X2_MUL,
    ...(j === 0 ? [] : F64X2_ADD),
    ...set(sum),
  ];
  const decode: Record<LinDtype, (at: number) => number[]> = {
    F32: (at) => [...get(at), ...V128_LOAD],
    BF16: (at) => [...get(at), ...decodeBf16x4(0)],
    F16: (at) => decodeF16x4(at),
  };
  const load = (j: number) => [...decode[spec.inputs[j]!](x(j)), ...set(loaded)];
  const terms = Array.from({ length: k }, (_, j) => [...load(j), ...lanes(j, low, false), ...lanes(j, high, true)]).flat();
  const shiftDown16 = [...i32Const(16), ...I32X4_SHR_U];
  // float32 bits -> bfloat16 as dtypes.ts encodes: (bits + 0x7fff + lowest kept bit) >>> 16
  // rounds to nearest even (int32 lanes wrap like its `| 0`); NaN becomes (bits >>> 16) | 0x40.
  // Its constants are splatted into locals once: 5% faster than v128.const in the loop.
  const encodeBf16 = [
    ...get(value), ...shiftDown16, ...get(quiet), ...V128_OR,
    ...get(value), ...get(bias), ...I32X4_ADD, ...get(value), ...shiftDown16, ...get(one), ...V128_AND, ...I32X4_ADD, ...shiftDown16,
    ...get(magnitude), ...get(infinity), ...I32X4_GT_S, // NaN lanes
    ...V128_BITSELECT, ...tee(value), ...get(value), ...I16X8_NARROW_U, ...STORE_LOW_64,
  ];
  const encode: Record<LinDtype, number[]> = { F32: [...get(value), ...V128_STORE], BF16: encodeBf16, F16: encodeF16(value, magnitude) };
  const store = [
    ...get(low), ...F32X4_DEMOTE_ZERO, ...get(high), ...F32X4_DEMOTE_ZERO, ...LOW_HALVES, ...tee(value),
    ...get(absMask), ...V128_AND, ...tee(magnitude), ...get(limits), ...I32X4_GE_S, ...get(seen), ...V128_OR, ...set(seen),
    ...get(out), ...encode[spec.output],
  ];
  const advance = (local: number, dtype: LinDtype) => [...get(local), ...i32Const(LIN_STEP * LIN_DTYPE_BYTES[dtype]), ...I32_ADD, ...set(local)];
  const constant = (local: number, bits: number) => [...i32Const(bits), ...I32X4_SPLAT, ...set(local)];
  const code = [
    ...get(out), ...get(n), ...i32Const(Math.log2(LIN_DTYPE_BYTES[spec.output])), ...I32_SHL, ...I32_ADD, ...set(end), // end = out + size * n
    ...Array.from({ length: k }, (_, j) => [...get(c(j)), ...F64X2_SPLAT, ...set(splat(j))]).flat(),
    ...constant(absMask, 0x7fffffff), ...get(limit), ...I32X4_SPLAT, ...set(limits),
    ...constant(bias, 0x7fff), ...constant(quiet, 0x40), ...constant(infinity, 0x7f800000), ...constant(one, 1),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(out), ...get(end), ...I32_GE_U, 0x0d, 1, // out >= end: leave the block
    ...terms,
    ...store,
    ...advance(out, spec.output),
    ...Array.from({ length: k }, (_, j) => advance(x(j), spec.inputs[j]!)).flat(),
    0x0c, 0, // continue the loop
    0x0b, 0x0b,
    ...get(seen), ...V128_ANY_TRUE,
    0x0b,
  ];
  const locals = [...uleb(2), 1, I32, ...uleb(k + 12), V128];
  return [...locals, ...code];
}

/**
 * widen(out, x, n): out[i] = the float32 bits of element i of x (bfloat16 or float16, as
 * dtypes.ts's decodeToFloat32 gives them: integer operations only, NaN payloads kept) for
 * i < n, a multiple of LIN_STEP. Forward, four elements per step, each step loading before
 * it stores: x may be the upper half of out's own bytes (a chunk read in place).
 */
function widenBody(dtype: HalfDtype): number[] {
  const out = 0, x = 1, n = 2, end = 3;
  const decode = dtype === 'BF16' ? [...get(x), ...decodeBf16x4(0)] : decodeF16x4(x);
  const advance = (local: number, bytes: number) => [...get(local), ...i32Const(bytes), ...I32_ADD, ...set(local)];
  return [
    ...uleb(1), 1, I32,
    ...get(out), ...get(n), ...i32Const(2), ...I32_SHL, ...I32_ADD, ...set(end),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(out), ...get(end), ...I32_GE_U, 0x0d, 1,
    ...get(out), ...decode, ...V128_STORE,
    ...advance(out, 4 * LIN_STEP), ...advance(x, 2 * LIN_STEP),
    0x0c, 0, 0x0b, 0x0b, // continue; end loop, block
    0x0b,
  ];
}

/**
 * Widens 16-bit floats into float32 in place or apart, bit for bit as decodeToFloat32, by
 * the widening loop over `memory` (which every view given must lie in): for whichever
 * thread shares the engine's memory.
 */
export function halfWidener(memory: WasmMemory): (dtype: HalfDtype, bytes: Uint8Array, out: Float32Array) => void {
  const wasm = webAssembly()!;
  const loops = new Map<HalfDtype, (out: number, x: number, n: number) => void>();
  return (dtype, bytes, out) => {
    let loop = loops.get(dtype);
    if (!loop) {
      const module = functionModule({ exportName: 'widen', params: [I32, I32, I32], results: [], body: widenBody(dtype), memory: { minimum: 1, sharedMaximum: MAXIMUM_PAGES } });
      loop = new wasm.Instance(new wasm.Module(module), { env: { memory } }).exports.widen as (out: number, x: number, n: number) => void;
      loops.set(dtype, loop);
    }
    const n = bytes.byteLength / 2;
    const bulk = n - (n % LIN_STEP);
    // The last few elements first, from a copy: in place, the loop's last step overwrites them.
    const tail = bytes.slice(2 * bulk);
    loop(out.byteOffset, bytes.byteOffset, bulk);
    decodeToFloat32(dtype, tail, out.subarray(bulk, n));
  };
}

function moduleBytes(spec: LinSpec, maximumPages: number): Uint8Array<ArrayBuffer> {
  const k = spec.inputs.length;
  // A shared memory, so worker threads see the same buffers.
  return functionModule({
    exportName: 'lin', params: [...Array<number>(k + 2).fill(I32), ...Array<number>(k).fill(F64), I32], results: [I32], body: linBody(spec),
    memory: { minimum: 1, sharedMaximum: maximumPages },
  });
}

/** A float32 magnitude as its bit pattern (bit patterns of non-negative floats order like their values). */
function magnitudeBits(limit: number): number {
  return new Int32Array(Float32Array.of(Math.abs(limit)).buffer)[0]!;
}

/** A chunk buffer in the shared memory by its byte address (16-byte aligned), and how it holds its elements. */
export interface LinBuffer {
  readonly address: number;
  readonly dtype: LinDtype;
}

interface SharedWasmMemory extends WasmMemory {
  readonly buffer: SharedArrayBuffer;
}

const PAGE = 65536;

/** The 16-bit float dtypes stored in checkpoints. */
export type HalfDtype = 'BF16' | 'F16';

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
  /**
   * output[i] = fround(sum_j coefs[j] * inputs[j][i]) for i < length, a multiple of LIN_STEP,
   * with at most MAX_WASM_TERMS inputs; each buffer is read or written as its dtype. True
   * when some result is NaN or has a magnitude >= `limit` (as float32; finite.ts's
   * overflowLimit of the stored dtype): only then does the chunk need a closer look.
   */
  combine(inputs: readonly LinBuffer[], coefs: readonly number[], output: LinBuffer, length: number, limit: number): boolean;
  /**
   * Decodes `bytes` (elements of `dtype`) into `out`, bit for bit as decodeToFloat32; `bytes`
   * may be the upper half of `out`'s own bytes, where a read put them. False (nothing done)
   * when either is not in this memory.
   */
  widen(dtype: HalfDtype, bytes: Uint8Array, out: Float32Array): boolean;
  /** Whether `widen` would take these views (both in this memory, `out` long enough). */
  canWiden(bytes: Uint8Array, out: Float32Array): boolean;
  /**
   * Encodes `values` as `dtype` into `out`, bit for bit as encodeFromFloat32; `out` may be
   * the lower half of `values`' own bytes (a chunk encoded in place before it is written).
   * False (nothing done) when either is not in this memory.
   */
  narrow(dtype: HalfDtype, values: Float32Array, out: Uint8Array): boolean;
}

/** The kernels over a fresh shared memory, or undefined where WebAssembly SIMD or shared memory is unavailable. */
export function createLinKernels(): LinKernels | undefined {
  const wasm = webAssembly();
  if (!wasm) return undefined;
  let memory: SharedWasmMemory;
  const modules = new Map<string, (...args: number[]) => number>();
  const instantiate = (spec: LinSpec) => {
    const key = `${spec.inputs.join()}>${spec.output}`;
    let fn = modules.get(key);
    if (!fn) {
      const instance = new wasm.Instance(new wasm.Module(moduleBytes(spec, MAXIMUM_PAGES)), { env: { memory } });
      fn = instance.exports.lin as (...args: number[]) => number;
      modules.set(key, fn);
    }
    return fn;
  };
  const combine = (inputs: readonly LinBuffer[], coefs: readonly number[], output: LinBuffer, length: number, limit: number) => {
    const spec = { inputs: inputs.map((x) => x.dtype), output: output.dtype };
    return instantiate(spec)(output.address, ...inputs.map((x) => x.address), length, ...coefs, magnitudeBits(limit)) !== 0;
  };
  try {
    memory = new wasm.Memory({ initial: 1, maximum: MAXIMUM_PAGES, shared: true }) as SharedWasmMemory;
    instantiate({ inputs: ['F32'], output: 'F32' });
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
  const ownsBytes = (view: Uint8Array) => buffers.has(view.buffer as SharedArrayBuffer);
  const canWiden = (bytes: Uint8Array, out: Float32Array) => bytes.byteLength % 2 === 0 && out.length >= bytes.byteLength / 2 && ownsBytes(bytes) && owns(out);
  const widen = halfWidener(memory);
  return {
    memory,
    owns,
    combine,
    widen(dtype, bytes, out) {
      if (!canWiden(bytes, out)) return false;
      widen(dtype, bytes, out);
      return true;
    },
    canWiden,
    narrow(dtype, values, out) {
      const n = values.length;
      if (out.byteLength < 2 * n || !owns(values) || !ownsBytes(out)) return false;
      const bulk = n - (n % LIN_STEP);
      // The loop multiplies by 1 in float64 (exact) and encodes as the task-arithmetic loop
      // does; the last few elements from a copy, like widen's.
      combine([{ address: values.byteOffset, dtype: 'F32' }], [1], { address: out.byteOffset, dtype }, bulk, Infinity);
      encodeFromFloat32(dtype, values.slice(bulk), out.subarray(2 * bulk, 2 * n));
      return true;
    },
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
      const buffer = (x: Float32Array): LinBuffer => ({ address: x.byteOffset, dtype: 'F32' });
      combine(inputs.map(buffer), coefs, buffer(output), bulk, Infinity);
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
