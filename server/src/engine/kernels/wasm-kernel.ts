// Kernels as WebAssembly SIMD loops, four elements per step, for the js-workers backend:
// the generated JavaScript loop (codegen.ts) reinterprets floats as bits through a typed
// array per element, and V8 does not vectorise it; here every node is a v128 of four
// float32 lanes, bits for free. Each op computes exactly what the JavaScript loop does
// (float64 arithmetic in the same order, one rounding to float32 per node, the same
// integer bit tricks), so outputs, kept values and histograms are bit-identical; float64
// sums add lane after lane, in element order. Random draws (DARE, random_like) stay in
// JavaScript: kernels with them are not compiled here.
// The module imports the engine's shared memory (kernels/lin-wasm.ts): chunk buffers
// are read and written in place; params, sums and histograms go through a per-thread
// scratch region of that memory.
import {
  F32X4_DEMOTE_ZERO, F64, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, F64X2_SPLAT, functionModule, get, HIGH_TO_LOW, I32, i32Const, I32_ADD,
  I32_GE_U, I32_SHL, LOW_HALVES, MAXIMUM_PAGES, set, simd, tee, uleb, V128, webAssembly, I32X4_SPLAT, I32X4_EXTRACT, V128_AND, V128_OR, I32X4_SHR_U, I32X4_ADD, I32X4_SUB, I32_STORE, I32_AND, I32_SHR_U,
} from '../../wasm-assembly.ts';
import type { WasmMemory } from '../../wasm-assembly.ts';
import { histogramBins } from '../plan/resolve.ts';
import { kernelRoots, liveNodes } from '../plan/schedule.ts';
import type { Kernel } from '../plan/types.ts';
import { sourceOf } from './codegen.ts';

const V128_LOAD = simd(0, 0, 0); // alignment hint 1: slices may start anywhere
const V128_STORE = simd(11, 0, 0);
const F32X4_EXTRACT = (lane: number) => simd(31, lane);
const V128_ANDNOT = simd(79);
const V128_XOR = simd(81);
const I32X4_SHR_S = simd(172);
const F64X2_DIV = simd(243);
const F64X2_CONVERT_LOW_I32 = simd(254);

const I32_LOAD = [0x28, 2, 0];
const F64_LOAD = [0x2b, 3, 0];
const F64_STORE = [0x39, 3, 0];
const I32_EQ = [0x46];
const I32_MUL = [0x6c];
const F64_ADD_ = [0xa0];
const F64_MUL_ = [0xa2];
const F64_EQ = [0x61];
const F64_PROMOTE_F32 = [0xbb];
const F32_DEMOTE_F64 = [0xb6];
const I32_REINTERPRET_F32 = [0xbc];
const F64_CONVERT_I32_S = [0xb7];
const I32_TRUNC_SAT_F64_S = [0xfc, 2];
const SELECT = [0x1b];

/** Locals after the parameters, by type, handed out in order. */
class Locals {
  readonly #first: number;
  readonly types: number[] = [];
  constructor(first: number) {
    this.#first = first;
  }
  add(type: number): number {
    this.types.push(type);
    return this.#first + this.types.length - 1;
  }
  /** The local declarations: runs of one type. */
  declarations(): number[] {
    const runs: [number, number][] = [];
    for (const type of this.types) {
      const last = runs.at(-1);
      if (last && last[1] === type) last[0]++;
      else runs.push([1, type]);
    }
    return [...uleb(runs.length), ...runs.flatMap(([count, type]) => [...uleb(count), type])];
  }
}

/**
 * The loop's module, or undefined for kernels with random draws. Parameters: count (a
 * multiple of 4), params (byte address of float64 params), sums (byte address of one
 * float64 per reduction), out, one address per input slot, one per reduction (the kept
 * buffer of `values`, the histogram of `hist-*`, unused for sums).
 */
export function wasmKernelBytes(kernel: Kernel): Uint8Array<ArrayBuffer> | undefined {
  if (kernel.nodes.some((op) => op.op === 'dare' || op.op === 'noise')) return undefined;
  const live = liveNodes(kernel.nodes, kernelRoots(kernel));
  const slots = slotCount(kernel);
  const COUNT = 0;
  const PARAMS = 1;
  const SUMS = 2;
  const OUT = 3;
  const input = (slot: number) => 4 + slot;
  const reduction = (r: number) => 4 + slots + r;
  const paramCount = 4 + slots + kernel.reductions.length;
  const locals = new Locals(paramCount);
  const offset = locals.add(I32);
  const end = locals.add(I32);
  const prologue: number[] = [];
  const body: number[] = [];

  /** A v128 local computed once, before the loop, by `code` (a value per key). */
  const hoisted = (code: (key: number) => number[]) => {
    const made = new Map<number, number>();
    return (key: number): number => {
      let local = made.get(key);
      if (local === undefined) {
        local = locals.add(V128);
        made.set(key, local);
        prologue.push(...code(key), ...set(local));
      }
      return local;
    };
  };
  const splat = hoisted((value) => [...i32Const(value), ...I32X4_SPLAT]);
  const ABS = splat(0x7fffffff);
  const ZERO = splat(0);
  const ONE = splat(1);
  const paramF64 = (ref: number) => [...get(PARAMS), ...F64_LOAD.slice(0, 2), ...uleb(ref * 8)];
  const coefficient = hoisted((ref) => [...paramF64(ref), ...F64X2_SPLAT]);
  /** The float32 bits of a param, in every lane (the JavaScript loop's `f[0] = p; q = u[0] | 0`). */
  const thresholdBits = hoisted((ref) => [...paramF64(ref), ...F32_DEMOTE_F64, ...I32_REINTERPRET_F32, ...I32X4_SPLAT]);

  const value = new Map<number, number>();
  const low = locals.add(V128);
  const high = locals.add(V128);
  /** A v128 local, or its lanes 2 and 3 moved to 0 and 1 (the shuffle takes two operands: the local twice). */
  const lanes = (local: number, upper: boolean) => [...get(local), ...(upper ? [...get(local), ...HIGH_TO_LOW] : [])];
  /** float64 lanes of a float32x4 local: the low two, or the high two. */
  const promoted = (local: number, upper: boolean) => [...lanes(local, upper), ...F64X2_PROMOTE_LOW];
  /** Rounds the float64 pairs in `low` and `high` to one float32x4 into `target`. */
  const demoteInto = (target: number) => [...get(low), ...F32X4_DEMOTE_ZERO, ...get(high), ...F32X4_DEMOTE_ZERO, ...LOW_HALVES, ...set(target)];

  for (const n of live) {
    const op = kernel.nodes[n]!;
    const v = locals.add(V128);
    value.set(n, v);
    switch (op.op) {
      case 'input':
        body.push(...get(input(op.slot)), ...get(offset), ...I32_ADD, ...V128_LOAD, ...set(v));
        break;
      case 'lin':
        if (op.terms.length === 0) {
          body.push(...get(ZERO), ...set(v));
          break;
        }
        // fround(c0 x0 + c1 x1 + ...): products and sums in float64, in term order.
        for (const [half, upper] of [[low, false], [high, true]] as const) {
          op.terms.forEach((term, j) => {
            body.push(...(j === 0 ? [] : get(half)), ...promoted(value.get(term.arg)!, upper), ...get(coefficient(term.coef)), ...F64X2_MUL, ...(j === 0 ? [] : F64X2_ADD), ...set(half));
          });
        }
        body.push(...demoteInto(v));
        break;
      case 'trim': {
        // bits & ~(((bits & 0x7fffffff) - thresholdBits) >> 31)
        const b = value.get(op.arg)!;
        body.push(...get(b), ...get(b), ...get(ABS), ...V128_AND, ...get(thresholdBits(op.threshold)), ...I32X4_SUB, ...i32Const(31), ...I32X4_SHR_S, ...V128_ANDNOT, ...set(v));
        break;
      }
      case 'ties': {
        const args = op.args.map((a) => value.get(a)!);
        // The sum in float64, in argument order, rounded to float32: its bits elect the sign.
        const sum = locals.add(V128);
        for (const [half, upper] of [[low, false], [high, true]] as const) {
          args.forEach((a, j) => body.push(...(j === 0 ? [] : get(half)), ...promoted(a, upper), ...(j === 0 ? [] : F64X2_ADD), ...set(half)));
        }
        body.push(...demoteInto(sum));
        // z: a sign was elected (the sum is non-zero and not NaN).
        const z = locals.add(V128);
        const absolute = (local: number) => [...get(local), ...get(ABS), ...V128_AND];
        const nonZero = (local: number) => [...get(ZERO), ...absolute(local), ...I32X4_SUB, ...i32Const(31), ...I32X4_SHR_U];
        body.push(...nonZero(sum), ...absolute(sum), ...get(splat(0x7f800001)), ...I32X4_SUB, ...i32Const(31), ...I32X4_SHR_U, ...V128_AND, ...set(z));
        // g_j: argument j is non-zero and has the elected sign.
        const agree = args.map((a) => {
          const g = locals.add(V128);
          body.push(...get(z), ...nonZero(a), ...V128_AND, ...get(ONE), ...get(a), ...get(sum), ...V128_XOR, ...i32Const(31), ...I32X4_SHR_U, ...V128_XOR, ...V128_AND, ...set(g));
          return g;
        });
        // Divisor: the count of agreeing arguments, or 1 when none.
        const divisor = locals.add(V128);
        agree.forEach((g, j) => body.push(...get(g), ...(j === 0 ? [] : I32X4_ADD)));
        body.push(...tee(divisor), ...get(divisor), ...get(ONE), ...I32X4_SUB, ...i32Const(31), ...I32X4_SHR_U, ...I32X4_ADD, ...set(divisor));
        for (const [half, upper] of [[low, false], [high, true]] as const) {
          const asF64 = (local: number) => [...lanes(local, upper), ...F64X2_CONVERT_LOW_I32];
          args.forEach((a, j) => body.push(...(j === 0 ? [] : get(half)), ...asF64(agree[j]!), ...promoted(a, upper), ...F64X2_MUL, ...(j === 0 ? [] : F64X2_ADD), ...set(half)));
          body.push(...get(half), ...asF64(divisor), ...F64X2_DIV, ...set(half));
        }
        body.push(...demoteInto(v));
        break;
      }
      default:
        return undefined;
    }
  }
  if (kernel.output !== null) body.push(...get(OUT), ...get(offset), ...I32_ADD, ...get(value.get(kernel.output)!), ...V128_STORE);

  const epilogue: number[] = [];
  const scratchF64 = locals.add(F64);
  const index = locals.add(V128);
  /** hist[lane] += 1 for each lane's index in `index`. */
  const countLanes = (hist: number) => [0, 1, 2, 3].flatMap((lane) => {
    const address = [...get(hist), ...get(index), ...I32X4_EXTRACT(lane), ...i32Const(2), ...I32_SHL, ...I32_ADD];
    return [...address, ...address, ...I32_LOAD, ...i32Const(1), ...I32_ADD, ...I32_STORE];
  });
  kernel.reductions.forEach((r, i) => {
    switch (r.kind) {
      case 'values':
        body.push(...get(reduction(i)), ...get(offset), ...I32_ADD, ...get(value.get(r.node)!), ...V128_STORE);
        break;
      case 'sumsq':
      case 'dot': {
        const sum = locals.add(F64);
        const [a, b] = r.kind === 'sumsq' ? [r.node, r.node] : [r.a, r.b];
        for (let lane = 0; lane < 4; lane++) {
          body.push(...get(sum), ...get(value.get(a)!), ...F32X4_EXTRACT(lane), ...F64_PROMOTE_F32, ...tee(scratchF64));
          body.push(...(a === b ? get(scratchF64) : [...get(value.get(b)!), ...F32X4_EXTRACT(lane), ...F64_PROMOTE_F32]), ...F64_MUL_, ...F64_ADD_, ...set(sum));
        }
        epilogue.push(...get(SUMS), ...get(sum), ...F64_STORE.slice(0, 2), ...uleb(i * 8));
        break;
      }
      case 'hist-hi':
        // (bits >>> 16) & 0x7fff
        body.push(...get(value.get(r.node)!), ...i32Const(16), ...I32X4_SHR_U, ...get(splat(0x7fff)), ...V128_AND, ...set(index), ...countLanes(reduction(i)));
        break;
      case 'hist-top': {
        // a = bits & 0x7fffffff: (a >>> 20) | (((0x7f800000 - a) >> 31) & 0x7ff)
        const a = [...get(value.get(r.node)!), ...get(ABS), ...V128_AND];
        body.push(...a, ...i32Const(20), ...I32X4_SHR_U, ...get(splat(0x7f800000)), ...a, ...I32X4_SUB, ...i32Const(31), ...I32X4_SHR_S, ...get(splat(0x7ff)), ...V128_AND, ...V128_OR, ...set(index), ...countLanes(reduction(i)));
        break;
      }
      case 'hist-lo': {
        // Counts a = bits & 0x7fffffff by its low 16 bits when a >>> 16 is the bucket param
        // (a param that is not such an integer matches nothing, as in the JavaScript loop).
        const bucket = locals.add(I32);
        // bucket = trunc(p) when that equals p, else -1: select(trunc(p), -1, p == trunc(p)).
        prologue.push(...paramF64(r.bucket), ...I32_TRUNC_SAT_F64_S, ...i32Const(-1));
        prologue.push(...paramF64(r.bucket), ...paramF64(r.bucket), ...I32_TRUNC_SAT_F64_S, ...F64_CONVERT_I32_S, ...F64_EQ, ...SELECT, ...set(bucket));
        body.push(...get(value.get(r.node)!), ...get(ABS), ...V128_AND, ...set(index));
        for (let lane = 0; lane < 4; lane++) {
          const a = [...get(index), ...I32X4_EXTRACT(lane)];
          body.push(...a, ...i32Const(16), ...I32_SHR_U, ...get(bucket), ...I32_EQ, 0x04, 0x40); // if
          body.push(...get(reduction(i)), ...a, ...i32Const(0xffff), ...I32_AND, ...i32Const(2), ...I32_SHL, ...I32_ADD);
          body.push(...get(reduction(i)), ...a, ...i32Const(0xffff), ...I32_AND, ...i32Const(2), ...I32_SHL, ...I32_ADD, ...I32_LOAD, ...i32Const(1), ...I32_ADD, ...I32_STORE);
          body.push(0x0b); // end if
        }
        break;
      }
    }
  });

  const code = [
    ...prologue,
    ...get(COUNT), ...i32Const(4), ...I32_MUL, ...set(end),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(offset), ...get(end), ...I32_GE_U, 0x0d, 1, // offset >= end: leave
    ...body,
    ...get(offset), ...i32Const(16), ...I32_ADD, ...set(offset),
    0x0c, 0, // continue
    0x0b, 0x0b,
    ...epilogue,
    0x0b,
  ];
  return functionModule({
    exportName: 'kernel',
    params: Array<number>(paramCount).fill(I32),
    results: [],
    body: [...locals.declarations(), ...code],
    memory: { minimum: 1, sharedMaximum: MAXIMUM_PAGES },
  });
}

/** Input slots the module takes an address for: every slot an input node names, live or not. */
function slotCount(kernel: Kernel): number {
  return Math.max(0, ...kernel.nodes.map((op) => (op.op === 'input' ? op.slot + 1 : 0)));
}

type KernelExport = (...args: number[]) => void;

export interface WasmKernels {
  /**
   * Runs elements [from, from + n) of a slice, n the largest multiple of 4 up to `to`:
   * the output and kept values in place, sums into `sums`, counts into `hists` (which
   * must start at zero). Returns n, or 0 (nothing done) when the kernel has random
   * draws or its histograms do not fit the scratch region. Every buffer must lie in the
   * memory these kernels were made for.
   */
  run(kernel: Kernel, inputs: readonly (Float32Array | null)[], output: Float32Array | null, from: number, to: number, params: Float64Array, kept: readonly (Float32Array | null)[], sums: Float64Array, hists: readonly (Uint32Array | null)[]): number;
}

/** Bytes of scratch a thread needs for kernels with up to 16 full histograms. */
export const WASM_SCRATCH_BYTES = (16 << 18) + (1 << 16);

/**
 * Kernels over `memory` (the engine's shared memory), using `scratch` (a region of it,
 * WASM_SCRATCH_BYTES long, 8-byte aligned, this thread's alone). Undefined without WebAssembly.
 */
export function createWasmKernels(memory: WasmMemory, scratch: { readonly byteOffset: number; readonly byteLength: number }): WasmKernels | undefined {
  const wasm = webAssembly();
  if (!wasm) return undefined;
  const modules = new Map<string, KernelExport | null>();
  const compiled = (kernel: Kernel): KernelExport | null => {
    // The JavaScript source names every live node, param and reduction; the module also takes an address per input slot.
    const key = `${slotCount(kernel)} ${sourceOf(kernel)}`;
    let fn = modules.get(key);
    if (fn === undefined) {
      const bytes = wasmKernelBytes(kernel);
      fn = bytes ? (new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports.kernel as KernelExport) : null;
      if (modules.size >= 256) modules.clear();
      modules.set(key, fn);
    }
    return fn;
  };
  return {
    run(kernel, inputs, output, from, to, params, kept, sums, hists) {
      const n = (to - from) - ((to - from) % 4);
      if (n <= 0) return 0;
      const fn = compiled(kernel);
      if (!fn) return 0;
      // Scratch: params, then sums, then one histogram per histogram reduction.
      const paramsAt = scratch.byteOffset;
      const sumsAt = paramsAt + params.length * 8;
      let histAt = sumsAt + kernel.reductions.length * 8;
      const histAddress = kernel.reductions.map((r) => {
        const bins = histogramBins(r.kind);
        if (bins === 0) return 0;
        const at = histAt;
        histAt += bins * 4;
        return at;
      });
      if (histAt > scratch.byteOffset + scratch.byteLength) return 0;
      const buffer = memory.buffer;
      new Float64Array(buffer, paramsAt, params.length).set(params);
      new Uint32Array(buffer, sumsAt + kernel.reductions.length * 8, (histAt - sumsAt - kernel.reductions.length * 8) / 4).fill(0);
      const at = (view: Float32Array | null) => (view ? view.byteOffset + from * 4 : 0);
      fn(n, paramsAt, sumsAt, at(output), ...Array.from({ length: slotCount(kernel) }, (_, s) => at(inputs[s] ?? null)), ...kernel.reductions.map((r, i) => (r.kind === 'values' ? at(kept[i]!) : histAddress[i]!)));
      const results = new Float64Array(buffer, sumsAt, kernel.reductions.length);
      kernel.reductions.forEach((r, i) => {
        if (r.kind === 'sumsq' || r.kind === 'dot') sums[i] = results[i]!;
        const hist = hists[i];
        if (hist) hist.set(new Uint32Array(buffer, histAddress[i]!, hist.length));
      });
      return n;
    },
  };
}
