// Counter-based random numbers: every value is a pure function of (seed, tensor name,
// stream, element index), so DARE masks and random_like directions are identical on
// every backend, for every chunking, and on every machine (only 32-bit integer ops,
// plus Math.log/Math.cos for normals, which V8 computes with its own fdlibm port).
//
// The generator is a keyed 32-bit hash of the element index: two rounds of the
// murmur3 finalizer (a bijection with full avalanche), keyed by words derived from
// the seed and tensor name. Statistical quality is ample for dropout masks and
// random directions; it is not cryptographic.

/** Streams keep the draws of different uses of one seed independent. */
export type RngStream = 'dare' | 'normal-radius' | 'normal-angle' | 'della';

const STREAM_SALT: Record<RngStream, number> = { dare: 0x2545f491, 'normal-radius': 0x9e3779b9, 'normal-angle': 0x7f4a7c15, della: 0x3c6ef372 };

/** Two 32-bit key words for one (seed, tensor, stream). */
export interface RngKey { readonly k0: number; readonly k1: number }

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function rngKey(seed: number, tensor: string, stream: RngStream): RngKey {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 4294967296) >>> 0;
  const k0 = fmix32(fnv1a(tensor) ^ fmix32(seedLo ^ STREAM_SALT[stream]));
  const k1 = fmix32(k0 ^ fmix32(seedHi + STREAM_SALT[stream]));
  return { k0, k1 };
}

/** The 32 random bits of element `index` (an integer below 2^53). */
export function randomBits(key: RngKey, index: number): number {
  return bitsAt(key.k0, key.k1, index);
}

/** `randomBits` on plain numbers, for generated kernels (no objects in hot loops). */
export function bitsAt(k0: number, k1: number, index: number): number {
  const lo = index >>> 0;
  const hi = (index - lo) / 4294967296;
  return fmix32(fmix32(lo ^ k0) ^ ((k1 + Math.imul(hi, 0x9e3779b9)) >>> 0));
}

/**
 * DARE keeps an element when its 24-bit uniform draw `u` satisfies u >= p, i.e. when
 * `randomBits >>> 8` is at least this integer threshold (exact, no float compare).
 */
export function dareKeepThreshold(p: number): number {
  return Math.ceil(p * 16777216);
}

export function dareKeeps(key: RngKey, index: number, keepThreshold: number): boolean {
  return randomBits(key, index) >>> 8 >= keepThreshold;
}

/** The 24-bit uniform draws (`randomBits >>> 8`, below 2^24) of elements start .. start + count - 1. */
export function uniformDraws(key: RngKey, start: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = bitsAt(key.k0, key.k1, start + i) >>> 8;
  return out;
}

/** A standard normal draw by Box-Muller, rounded to float32 (what every backend uses). */
export function standardNormal(radius: RngKey, angle: RngKey, index: number): number {
  return normalAt(radius.k0, radius.k1, angle.k0, angle.k1, index);
}

/** `standardNormal` on plain numbers, for generated kernels. */
export function normalAt(r0: number, r1: number, a0: number, a1: number, index: number): number {
  const u1 = ((bitsAt(r0, r1, index) >>> 8) + 1) * 5.9604644775390625e-8;
  const u2 = (bitsAt(a0, a1, index) >>> 8) * 5.9604644775390625e-8;
  return Math.fround(Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307179586 * u2));
}

/** Fills `out[i]` with the normal draw of element `start + i` (radius key r0 r1, angle key a0 a1). */
export function fillStandardNormal(r0: number, r1: number, a0: number, a1: number, start: number, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = normalAt(r0, r1, a0, a1, start + i);
}

/** Fills `out[i]` with DARE's multiplier for element `start + i`: `scale` when kept, else 0. */
export function fillDareMultiplier(k0: number, k1: number, keepThreshold: number, scale: number, start: number, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = bitsAt(k0, k1, start + i) >>> 8 >= keepThreshold ? scale : 0;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}
