// The small WebAssembly assembler the SIMD kernels are built with: encodings, the
// opcodes they share, and the one-function module layout both use (a function over an
// imported memory). WebAssembly core spec, binary format; SIMD opcodes are
// 0xFD-prefixed LEB128 numbers. No toolchain: the bytes are made here.

export function uleb(value: number): number[] {
  const out: number[] = [];
  let n = value >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(value: number): number[] {
  const out: number[] = [];
  let n = value | 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (text: string) => [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
export const simd = (opcode: number, ...immediates: number[]) => [0xfd, ...uleb(opcode), ...immediates];

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const get = (local: number) => [0x20, ...uleb(local)];
export const set = (local: number) => [0x21, ...uleb(local)];
export const tee = (local: number) => [0x22, ...uleb(local)];
export const i32Const = (value: number) => [0x41, ...sleb(value)];
export const I32_ADD = [0x6a];
export const I32_SHL = [0x74];
export const I32_GE_U = [0x4f];
export const I32_SUB = [0x6b];
export const I32_AND = [0x71];
export const I32_SHR_U = [0x76];
/** i32.store with memarg (alignment hint 2^2, offset 0). */
export const I32_STORE = [0x36, 2, 0];
export const F64_ADD = [0xa0];
export const F64X2_PROMOTE_LOW = simd(95);
export const F64X2_ADD = simd(240);
export const F64X2_MUL = simd(242);
/** Moves lanes 2 and 3 (bytes 8..15) of the top v128 into lanes 0 and 1 (a shuffle: the v128 must be on the stack twice). */
export const HIGH_TO_LOW = simd(13, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
export const F64X2_SPLAT = simd(20);
/** Two float64 lanes rounded to float32 lanes 0 and 1 (2 and 3 zero). */
export const F32X4_DEMOTE_ZERO = simd(94);
/** The low halves of two vectors, side by side (two demoted pairs into one float32 vector). */
export const LOW_HALVES = simd(13, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
export const I32X4_SPLAT = simd(17);
export const I32X4_SHL = simd(171);
export const I32X4_SHR_U = simd(173);
export const V128_AND = simd(78);
export const V128_OR = simd(80);
/** 1 when any bit of the vector is set. */
export const V128_ANY_TRUE = simd(83);
export const I32X4_GT_S = simd(59);
export const I32X4_EQ = simd(55);
export const I32X4_LE_S = simd(61);
export const I32X4_ADD = simd(174);
export const I32X4_SUB = simd(177);
/** i32x4.extract_lane. */
export const I32X4_EXTRACT = (lane: number) => simd(27, lane);
export const V128_BITSELECT = simd(82);
export const F32X4_MUL = simd(230);
/** How a SIMD kernel's buffer holds its elements: float32, or bfloat16 or float16 as stored in checkpoint files (converted in the kernel's loop). */
export type KernelDtype = 'F32' | 'BF16' | 'F16';
/** Bytes per element of each KernelDtype. */
export const KERNEL_DTYPE_BYTES: Readonly<Record<KernelDtype, number>> = { F32: 4, BF16: 2, F16: 2 };
/** A v128 of four copies of the 32-bit pattern `bits` (v128.const). */
export const splat32 = (bits: number) => simd(12, ...Array.from({ length: 4 }, () => [bits & 0xff, (bits >>> 8) & 0xff, (bits >>> 16) & 0xff, bits >>> 24]).flat());
/** Shifts every int32 lane of the top v128 left by `bits`. */
export const shl = (bits: number) => [...i32Const(bits), ...I32X4_SHL];
/** Shifts every int32 lane of the top v128 right (unsigned) by `bits`. */
export const shr = (bits: number) => [...i32Const(bits), ...I32X4_SHR_U];
/** Masks every lane of the top v128 with the 32-bit pattern `mask`. */
export const and = (mask: number) => [...splat32(mask), ...V128_AND];
/**
 * Four bfloat16 at the address on the stack (+ `offset` bytes) as float32 lanes: each
 * zero-extended to 32 bits (i32x4.load16x4_u) and shifted up 16 bits, exactly what
 * checkpoints/dtypes.ts's decoding does (NaN payloads included).
 */
export const decodeBf16x4 = (offset: number) => [...simd(4, 3, ...uleb(offset)), ...i32Const(16), ...I32X4_SHL];

/**
 * Pushes the float32 bits of the float16 in the int32 lanes that `halves` pushes (each
 * zero-extended to 32 bits), as dtypes.ts's halfBitsToFloatBits decodes them: the 15 bits
 * below the sign moved up 13 are a float32 of 2^-112 times the half's value (subnormal halves
 * too), so one exact float32 product by 2^112 rebiases; infinities and NaN (payload kept) take
 * exponent 255 instead. `halves` runs three times (a load again from the L1 cache instead of
 * holding a local), so it must push the same lanes each time.
 */
export function decodeF16Lanes(halves: readonly number[]): number[] {
  const shifted = [...halves, ...and(0x7fff), ...shl(13)];
  return [
    ...halves, ...and(0x8000), ...shl(16), // sign
    ...shifted, ...splat32(0x7f800000), ...V128_OR, // infinity, NaN
    ...shifted, ...splat32(0x77800000), ...F32X4_MUL, // x 2^112
    ...shifted, ...splat32(0x0f7fffff), ...I32X4_GT_S, ...V128_BITSELECT, // exponent 31: the first
    ...V128_OR,
  ];
}
/** Pushes the float32 bits of the four float16 at the address in local `at` (+ `offset` bytes): decodeF16Lanes over i32x4.load16x4_u. */
export const decodeF16x4 = (at: number, offset = 0) => decodeF16Lanes([...get(at), ...simd(4, 3, ...uleb(offset))]);
/** The ceiling of the engine's shared memory in pages (4 GiB, address space only): modules importing it declare the same. */
export const MAXIMUM_PAGES = 65536;

export interface FunctionModule {
  readonly exportName: string;
  readonly params: readonly number[];
  readonly results: readonly number[];
  /** Local declarations and code, without the size prefix. */
  readonly body: readonly number[];
  /** The imported `env.memory`: minimum pages, and for a shared memory its maximum. */
  readonly memory: { readonly minimum: number } | { readonly minimum: number; readonly sharedMaximum: number };
}

/** A module with one exported function over an imported memory. */
export function functionModule(spec: FunctionModule): Uint8Array<ArrayBuffer> {
  const limits = 'sharedMaximum' in spec.memory
    ? [0x03, ...uleb(spec.memory.minimum), ...uleb(spec.memory.sharedMaximum)] // shared, with a maximum
    : [0x00, ...uleb(spec.memory.minimum)];
  const types = section(1, [1, 0x60, ...uleb(spec.params.length), ...spec.params, ...uleb(spec.results.length), ...spec.results]);
  const imports = section(2, [1, ...name('env'), ...name('memory'), 0x02, ...limits]);
  const functions = section(3, [1, 0]);
  const exports = section(7, [1, ...name(spec.exportName), 0x00, 0]);
  const code = section(10, [1, ...uleb(spec.body.length), ...spec.body]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...functions, ...exports, ...code]);
}

/** The slice of the WebAssembly JS API the kernels use (the server compiles without DOM typings). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
export interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/** WebAssembly, where the runtime has it. */
export function webAssembly(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}
