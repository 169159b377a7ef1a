// Element types: sizes, which ones take part in arithmetic, and fast conversions
// between their little-endian bytes and float32. These loops run over gigabytes, so
// they work on typed-array views and bit patterns, never on DataView per element.
import type { Dtype } from './types.ts';

export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export const ALL_DTYPES: readonly Dtype[] = Object.keys(DTYPE_BYTES) as Dtype[];

export function isDtype(name: string): name is Dtype {
  return Object.hasOwn(DTYPE_BYTES, name);
}

/** The dtypes decoded to float32 for arithmetic and statistics. */
export type FloatDtype = 'F16' | 'BF16' | 'F32' | 'F64';

/**
 * True for the dtypes that take part in arithmetic (computed in float32). Integer and
 * bool tensors, and the 8-bit float formats, are recognised but only ever copied as bytes.
 */
export function isFloatDtype(dtype: Dtype): dtype is FloatDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64';
}

// Files are little-endian; typed-array views use the host order. Every platform Node
// ships on is little-endian, so this guards the assumption rather than handling BE.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('tvr checkpoints need a little-endian host');
}

/**
 * Tests and benchmarks only: with TVR_JS_CONVERSION=1 in the environment, bfloat16 is
 * decoded and encoded by the JavaScript functions here even where a WebAssembly kernel
 * would do it in its loop (as before issue 17), so both ways can be compared.
 */
export function jsConversionForced(): boolean {
  return process.env.TVR_JS_CONVERSION === '1';
}

let f16Table: Uint32Array | undefined;

/** float32 bit pattern of each of the 65,536 half-precision bit patterns (256 KiB, built once). */
function halfToFloatTable(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloatBits(h);
  f16Table = table;
  return table;
}

/** Exact float32 bit pattern of a half-precision bit pattern (every half is a float32). */
export function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf, nan (payload kept)
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal: shift the mantissa up until its leading one becomes the implicit bit.
  let e = 113;
  let m = mantissa;
  while ((m & 0x400) === 0) { m <<= 1; e--; }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** Half-precision bit pattern nearest to a float32 bit pattern, ties to even; nan stays nan. */
export function floatBitsToHalfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    // inf stays inf; nan keeps its top payload bits and is forced quiet so it cannot become inf.
    return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520 rounds past the largest half (65504)
  if (abs >= 0x38800000) {
    // Normal half: drop 13 mantissa bits rounding to nearest even, then rebias 127 -> 15;
    // a carry out of the mantissa correctly bumps the exponent.
    return sign | (((abs + 0xfff + ((abs >>> 13) & 1)) - 0x38000000) >>> 13);
  }
  if (abs < 0x33000000) return sign; // below half the smallest subnormal (2^-25): zero
  // Subnormal half: value / 2^-24 rounded to nearest even.
  const exponent = abs >>> 23;
  const mantissa = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exponent; // 14..24
  const kept = mantissa >>> shift;
  const rest = mantissa & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept);
}

/** BF16 bit pattern nearest to a float32 bit pattern, ties to even; nan stays a quiet nan. */
export function floatBitsToBfloatBits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** A view of `bytes` as `T`, copying into fresh aligned memory only when `bytes` is misaligned. */
function alignedView<T>(bytes: Uint8Array, elementBytes: number, make: (buffer: ArrayBufferLike, offset: number, length: number) => T): T {
  const length = bytes.byteLength / elementBytes;
  if (bytes.byteOffset % elementBytes === 0) return make(bytes.buffer, bytes.byteOffset, length);
  return make(bytes.slice().buffer, 0, length);
}

function bytesOf(array: Float32Array | Float64Array | Uint16Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * Decodes `bytes` (little-endian elements of `dtype`) into `out[0 .. n)`, n = bytes / size.
 * Float dtypes only; integer tensors are copied as bytes, never decoded.
 */
export function decodeToFloat32(dtype: FloatDtype, bytes: Uint8Array, out: Float32Array): void {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const n = bytes.byteLength / size;
  if (out.length < n) throw new RangeError(`output holds ${out.length} elements, ${n} needed`);
  switch (dtype) {
    case 'F32':
      bytesOf(out).set(bytes);
      return;
    case 'F64': {
      const src = alignedView(bytes, 8, (b, o, l) => new Float64Array(b, o, l));
      for (let i = 0; i < n; i++) out[i] = src[i]!;
      return;
    }
    case 'BF16': {
      const src = alignedView(bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const dst = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) dst[i] = src[i]! << 16;
      return;
    }
    case 'F16': {
      // Bit patterns, not values: a float32 NaN read into a JavaScript number and stored
      // back is made quiet by V8's optimised code (not by the interpreter), so a signalling
      // NaN's bits would depend on how warm this loop is.
      const src = alignedView(bytes, 2, (b, o, l) => new Uint16Array(b, o, l));
      const table = halfToFloatTable();
      const dst = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) dst[i] = table[src[i]!]!;
      return;
    }
  }
}

// Decoding (above) was never slowed down by tiering: bf16 is a shift, f16 a table look-up.
// The encoding loops below are top-level functions over typed arrays of one fixed kind
// each (Int32Array in, Uint16Array or Uint32Array out), working on int32 values only:
// reading float32 bits through a Uint32Array gives numbers above 2^31 for every negative
// value, which V8 then carries as doubles. Written that way (and as closures created on
// every call), the encoders ran at 2.7 ns per element for about 500 calls and at 7-12 ns
// once V8's later tiers had taken over (issue 17); these keep one speed for the whole run.
// Rare cases (NaN, f16 overflow and subnormals) leave the loop through a branch.

/**
 * float32 bits -> bf16, round to nearest even, NaN made quiet; `dst` holds the results two
 * per 32-bit word (little-endian: element 2j in the low half).
 */
function encodeBfloat16Pairs(src: Int32Array, dst: Uint32Array, pairs: number): void {
  for (let j = 0, i = 0; j < pairs; j++, i += 2) {
    const x = src[i]!;
    const y = src[i + 1]!;
    // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry into the
    // exponent is right (it rounds up to the next binade, or to infinity). `| 0` keeps it
    // int32: wrapping past 2^31 leaves the same 32 bits.
    let low = ((x + 0x7fff + ((x >>> 16) & 1)) | 0) >>> 16;
    let high = ((y + 0x7fff + ((y >>> 16) & 1)) | 0) & -65536;
    if ((x & 0x7fffffff) > 0x7f800000) low = (x >>> 16) | 0x40;
    if ((y & 0x7fffffff) > 0x7f800000) high = (y | 0x400000) & -65536;
    dst[j] = low | high;
  }
}

/** float32 bits -> bf16 one element at a time: for odd counts and 2-byte-aligned outputs. */
function encodeBfloat16(src: Int32Array, dst: Uint16Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    let r = ((x + 0x7fff + ((x >>> 16) & 1)) | 0) >>> 16;
    if ((x & 0x7fffffff) > 0x7f800000) r = (x >>> 16) | 0x40;
    dst[i] = r;
  }
}

/** float32 bits -> f16, round to nearest even; values that are normal halves stay in the loop. */
function encodeHalf(src: Int32Array, dst: Uint16Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    const abs = x & 0x7fffffff;
    // Normal half (2^-14 <= |x| < 65520): drop 13 mantissa bits rounding to nearest even,
    // then rebias the exponent 127 -> 15; a carry out of the mantissa bumps the exponent.
    dst[i] = abs >= 0x38800000 && abs < 0x477ff000
      ? ((x >>> 16) & 0x8000) | ((abs + 0xfff + ((abs >>> 13) & 1) - 0x38000000) >>> 13)
      : floatBitsToHalfBits(x);
  }
}

/**
 * Encodes `values` into `out` as little-endian `dtype` (round to nearest even for F16
 * and BF16); `out` must hold values.length * size bytes. Returns the bytes written.
 */
export function encodeFromFloat32(dtype: FloatDtype, values: Float32Array, out: Uint8Array): number {
  const n = values.length;
  const byteLength = n * DTYPE_BYTES[dtype];
  if (out.byteLength < byteLength) throw new RangeError(`output holds ${out.byteLength} bytes, ${byteLength} needed`);
  const target = out.subarray(0, byteLength);
  switch (dtype) {
    case 'F32':
      target.set(bytesOf(values));
      break;
    case 'F64': {
      const aligned = target.byteOffset % 8 === 0 ? target : new Uint8Array(byteLength);
      const dst = new Float64Array(aligned.buffer, aligned.byteOffset, n);
      for (let i = 0; i < n; i++) dst[i] = values[i]!;
      if (aligned !== target) target.set(aligned);
      break;
    }
    case 'BF16': {
      const src = new Int32Array(values.buffer, values.byteOffset, n);
      const aligned = target.byteOffset % 2 === 0 ? target : new Uint8Array(byteLength);
      // Pairs when the output is 4-byte aligned; an odd first element (2-byte aligned
      // output) and an odd last one go one at a time.
      const head = aligned.byteOffset % 4 === 0 || n === 0 ? 0 : 1;
      const pairs = (n - head) >> 1;
      if (head === 1) encodeBfloat16(src, new Uint16Array(aligned.buffer, aligned.byteOffset, 1), 1);
      if (pairs > 0) encodeBfloat16Pairs(head === 0 ? src : src.subarray(1), new Uint32Array(aligned.buffer, aligned.byteOffset + 2 * head, pairs), pairs);
      const done = head + 2 * pairs;
      if (done < n) encodeBfloat16(src.subarray(done), new Uint16Array(aligned.buffer, aligned.byteOffset + 2 * done, n - done), n - done);
      if (aligned !== target) target.set(aligned);
      break;
    }
    case 'F16': {
      const src = new Int32Array(values.buffer, values.byteOffset, n);
      const aligned = target.byteOffset % 2 === 0 ? target : new Uint8Array(byteLength);
      encodeHalf(src, new Uint16Array(aligned.buffer, aligned.byteOffset, n), n);
      if (aligned !== target) target.set(aligned);
      break;
    }
  }
  return byteLength;
}
