// A WebAssembly SIMD kernel for the hottest loop of the statistics pass, the squared
// norm of one difference sum (x - r)^2. V8 does not vectorise the JavaScript loop;
// this one does four elements per step and reads the chunk buffers in place (the
// worker reads file bytes straight into the module's memory).
// Precision: like every kernel of the pass, the difference is a float32 subtraction
// (exact whenever x and r are within a factor of two, the regime of fine-tuned weights
// close to their base); squares and sums are float64. Measured 1.6x faster than
// widening both operands to float64 first, and 1.4x faster again with fused
// multiply-adds (relaxed SIMD), which round once instead of twice.
// Either operand may be bfloat16 or float16 as stored in the file, decoded in the loop
// (bf16: a 16-bit shift; f16: wasm-assembly.ts's decodeF16Lanes, the one lin-wasm.ts uses;
// both as dtypes.ts decodes), so such a checkpoint's bytes are read straight into the
// module's memory with no conversion in JavaScript (issue 17); the sums are those of the
// decoded float32, bit for bit.
// The module is tiny and assembled here from its opcodes (server/src/wasm-assembly.ts),
// one per pair of operand dtypes.
import {
  decodeBf16x4, decodeF16Lanes, decodeF16x4, F64, F64_ADD, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, functionModule, get, HIGH_TO_LOW, I32, I32_ADD, I32_GE_U, I32_SHL,
  i32Const, I32X4_SHL, KERNEL_DTYPE_BYTES, set, simd, tee, uleb, V128, webAssembly, type KernelDtype, type WasmMemory, I32_AND,
} from '../wasm-assembly.ts';

const PROMOTE_LOW = F64X2_PROMOTE_LOW;
/** Relaxed SIMD (Wasm 3.0, V8 >= 11.4): a * b + c, fused where the hardware has FMA. */
const F64X2_RELAXED_MADD = simd(0x107);
const laneOf = (lane: number) => simd(33, lane); // f64x2.extract_lane
/** Lane 0 + lane 1 of the float64x2 on the stack (`scratch`: a v128 local to hold it). */
const laneSum = (scratch: number) => [...tee(scratch), ...laneOf(0), ...get(scratch), ...laneOf(1), ...F64_ADD];

/** Float32 elements per loop iteration: 4 per vector, VECTORS vectors with two accumulators each. */
const VECTORS = 4;
export const WASM_STEP = 4 * VECTORS;

/** v128.load with memarg (alignment hint 2^4, offset). */
const v128Load = (offset: number) => simd(0, 4, ...uleb(offset));
const F32X4_SUB = simd(229);

/** The dtypes of the operands r and x. */
export type OperandDtypes = readonly [KernelDtype, KernelDtype];
const FLOAT32_OPERANDS: OperandDtypes = ['F32', 'F32'];

/**
 * sum_{t < n} (x[t] - r[t])^2 for arrays of `dtypes` at byte addresses r and x, n a
 * multiple of WASM_STEP. Locals: 0 r, 1 x, 2 n, 3 end (i32); 4 .. 3+2*VECTORS
 * accumulators, 4+2*VECTORS difference, 5+2*VECTORS square (v128).
 */
function sumSquaredDifferencesBody(fused: boolean, dtypes: OperandDtypes): number[] {
  const accumulators = 2 * VECTORS;
  const difference = 4 + accumulators;
  const scratch = difference + 1;
  const square = (acc: number) => fused
    ? [...tee(scratch), ...get(scratch), ...get(acc), ...F64X2_RELAXED_MADD, ...set(acc)]
    : [...tee(scratch), ...get(scratch), ...F64X2_MUL, ...get(acc), ...F64X2_ADD, ...set(acc)];
  const [rSize, xSize] = dtypes.map((d) => KERNEL_DTYPE_BYTES[d]) as [number, number];
  // Vector v of the operand at the address in local `at`: four float32, or four bfloat16 or float16 decoded to them.
  const load = (dtype: KernelDtype, at: number, v: number) => {
    if (dtype === 'F16') return decodeF16x4(at, 8 * v);
    return [...get(at), ...(dtype === 'BF16' ? decodeBf16x4(8 * v) : v128Load(16 * v))];
  };
  const vector = (v: number) => [
    ...load(dtypes[1], 1, v), ...load(dtypes[0], 0, v), ...F32X4_SUB, ...set(difference),
    ...get(difference), ...PROMOTE_LOW, ...square(4 + 2 * v),
    ...get(difference), ...get(difference), ...HIGH_TO_LOW, ...PROMOTE_LOW, ...square(5 + 2 * v),
  ];
  const sumAccumulators = [...get(4)];
  for (let a = 1; a < accumulators; a++) sumAccumulators.push(...get(4 + a), ...F64X2_ADD);
  const code = [
    ...get(1), ...get(2), ...i32Const(Math.log2(xSize)), ...I32_SHL, ...I32_ADD, ...set(3), // end = x + n * size
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(1), ...get(3), ...I32_GE_U, 0x0d, 1, // x >= end: leave the block
    ...Array.from({ length: VECTORS }, (_, v) => vector(v)).flat(),
    ...get(0), ...i32Const(4 * VECTORS * rSize), ...I32_ADD, ...set(0),
    ...get(1), ...i32Const(4 * VECTORS * xSize), ...I32_ADD, ...set(1),
    0x0c, 0, // continue the loop
    0x0b, 0x0b,
    ...sumAccumulators, ...laneSum(scratch),
    0x0b,
  ];
  const locals = [...uleb(2), 1, I32, accumulators + 2, V128];
  return [...locals, ...code];
}

/** Elements per partial sum of the statistics loops (gram-kernel.ts), and the most the reference-pair loop takes per call. */
export const BLOCK = 4096;
const I32X4_EXTEND_LOW_U16 = simd(169);
const V128_ZERO = simd(12, ...Array<number>(16).fill(0));

/**
 * Pushes elements t and t + 1 (`single`: t alone, lane 1 zero) of the array at the address in
 * local `at` as float32 lanes 0-1, reading no further than them.
 */
function elementPair(dtype: KernelDtype, at: number, single: boolean): number[] {
  if (dtype === 'F32') return [...get(at), ...simd(single ? 92 : 93, single ? 2 : 3, 0)]; // v128.load32_zero / load64_zero
  const load = single ? [...get(at), ...V128_ZERO, ...simd(85, 1, 0, 0)] : [...get(at), ...simd(92, 2, 0)]; // v128.load16_lane 0 / load32_zero
  const halves = [...load, ...I32X4_EXTEND_LOW_U16];
  return dtype === 'F16' ? decodeF16Lanes(halves) : [...halves, ...i32Const(16), ...I32X4_SHL];
}

/**
 * [sum r^2, sum r d, sum d^2] with d = x - r (float32) over n <= BLOCK elements: the norms
 * of R and of M = R + D, tvr inspect's two columns. The additions are the JavaScript loop's
 * (accumulateReferencePair in gram-kernel.ts), in its order: even elements in lane 0 and odd
 * ones in lane 1 (its two accumulators), an odd last element in lane 0, then lane 0 + lane 1.
 * A product of two float32 is exact in float64, so the sums are that loop's, bit for bit.
 * Locals: 0 r, 1 x, 2 n, 3 end (i32); 4 rr, 5 rd, 6 dd (float64 lanes), 7 r, 8 d (v128).
 */
function referencePairBody(dtypes: OperandDtypes): number[] {
  const [rSize, xSize] = dtypes.map((d) => KERNEL_DTYPE_BYTES[d]) as [number, number];
  const [rr, rd, dd, r, d] = [4, 5, 6, 7, 8];
  const add = (a: number, b: number, acc: number) => [...get(acc), ...get(a), ...get(b), ...F64X2_MUL, ...F64X2_ADD, ...set(acc)];
  const pair = (single: boolean) => [
    ...elementPair(dtypes[1], 1, single), ...elementPair(dtypes[0], 0, single), ...tee(r), ...F32X4_SUB, ...PROMOTE_LOW, ...set(d),
    ...get(r), ...PROMOTE_LOW, ...set(r),
    ...add(r, r, rr), ...add(r, d, rd), ...add(d, d, dd),
  ];
  const code = [
    ...get(1), ...get(2), ...i32Const(-2), ...I32_AND, ...i32Const(Math.log2(xSize)), ...I32_SHL, ...I32_ADD, ...set(3), // end of the pairs
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(1), ...get(3), ...I32_GE_U, 0x0d, 1, // x >= end: leave the block
    ...pair(false),
    ...get(0), ...i32Const(2 * rSize), ...I32_ADD, ...set(0),
    ...get(1), ...i32Const(2 * xSize), ...I32_ADD, ...set(1),
    0x0c, 0, // continue the loop
    0x0b, 0x0b,
    ...get(2), ...i32Const(1), ...I32_AND, 0x04, 0x40, ...pair(true), 0x0b, // if n is odd: the last element
    ...get(rr), ...laneSum(r), ...get(rd), ...laneSum(r), ...get(dd), ...laneSum(r),
    0x0b,
  ];
  const locals = [...uleb(2), 1, I32, 5, V128];
  return [...locals, ...code];
}

const KERNELS = {
  sumSquaredDifferences: { body: sumSquaredDifferencesBody, results: [F64] },
  referencePair: { body: (_fused: boolean, dtypes: OperandDtypes) => referencePairBody(dtypes), results: [F64, F64, F64] },
} as const;
type KernelName = keyof typeof KERNELS;

function moduleBytes(name: KernelName, fused: boolean, dtypes: OperandDtypes): Uint8Array<ArrayBuffer> {
  const { body, results } = KERNELS[name];
  return functionModule({ exportName: name, params: [I32, I32, I32], results: [...results], body: body(fused, dtypes), memory: { minimum: 1 } });
}

export interface WasmGramKernel {
  readonly memory: WasmMemory;
  /** sum (x - r)^2 over n elements (float32 unless `dtypes` says) at byte addresses r and x of `memory` (n a multiple of WASM_STEP). */
  readonly sumSquaredDifferences: (r: number, x: number, n: number, dtypes?: OperandDtypes) => number;
  /** [sum r^2, sum r (x - r), sum (x - r)^2] over the same, n <= BLOCK (any n), added as gram-kernel.ts's JavaScript loop adds them. */
  readonly referencePair: (r: number, x: number, n: number, dtypes?: OperandDtypes) => [number, number, number];
}

/**
 * Instantiates the kernels over `pages` x 64 KiB of memory, or undefined where
 * WebAssembly SIMD is unavailable. `fused` forces one variant (tests check both).
 */
export function createWasmGramKernel(pages: number, fused?: boolean): WasmGramKernel | undefined {
  const wasm = webAssembly();
  if (!wasm) return undefined;
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const instantiate = (name: KernelName, variant: boolean, dtypes: OperandDtypes) => new wasm.Instance(new wasm.Module(moduleBytes(name, variant, dtypes)), { env: { memory } }).exports[name] as (r: number, x: number, n: number) => unknown;
  // Fused multiply-add where the engine has relaxed SIMD (measured 1.4x faster), plain SIMD otherwise.
  for (const variant of fused === undefined ? [true, false] : [fused]) {
    // A module per kernel and pair of operand dtypes, made when first used.
    const modules = new Map<string, (r: number, x: number, n: number) => unknown>();
    try {
      modules.set(`sumSquaredDifferences ${FLOAT32_OPERANDS.join()}`, instantiate('sumSquaredDifferences', variant, FLOAT32_OPERANDS));
    } catch {
      continue; // This engine lacks the instructions: try the next variant.
    }
    const run = (name: KernelName, r: number, x: number, n: number, dtypes: OperandDtypes) => {
      const key = `${name} ${dtypes.join()}`;
      let fn = modules.get(key);
      if (!fn) modules.set(key, (fn = instantiate(name, variant, dtypes)));
      return fn(r, x, n);
    };
    return {
      memory,
      sumSquaredDifferences: (r, x, n, dtypes = FLOAT32_OPERANDS) => run('sumSquaredDifferences', r, x, n, dtypes) as number,
      referencePair: (r, x, n, dtypes = FLOAT32_OPERANDS) => run('referencePair', r, x, n, dtypes) as [number, number, number],
    };
  }
  return undefined;
}
