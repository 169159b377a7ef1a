// Float32 bit patterns that exercise every edge of a conversion to a narrower float: for
// tests of the bf16 and f16 encoders (JavaScript and WebAssembly alike).
import { seededRandom } from './checkpoint-fixtures.ts';

/**
 * Every exponent with the mantissas at, just below and just above each rounding point of
 * every shift, both signs (zeros, subnormals, infinities, NaNs with payloads included),
 * 400,000 random patterns, and the f16 range's ends and the bf16 overflow boundary densely.
 */
export function float32Patterns(): Uint32Array {
  const patterns: number[] = [];
  const mantissas = new Set<number>([0, 1, 2, 3, 0x7fffff, 0x7ffffe, 0x400000, 0x400001, 0x3fffff, 0x200000, 0x7fff00]);
  // Around every rounding point of a shift by s bits (bf16: 16; f16 normals: 13; f16
  // subnormals: 14 to 24 plus the exponent's offset): the tie, one either side, the tie
  // with the lowest kept bit set (odd: rounds up) and clear (even: rounds down).
  for (let s = 1; s <= 23; s++) {
    const tie = 1 << (s - 1);
    for (const kept of [0, 1, 2, 3, 0x55, (0x7fffff >>> s) - 1, 0x7fffff >>> s]) {
      const base = (kept << s) & 0x7fffff;
      for (const m of [base + tie - 1, base + tie, base + tie + 1, base + 2 * tie - 1]) mantissas.add(m & 0x7fffff);
    }
  }
  for (let e = 0; e <= 255; e++) {
    for (const m of mantissas) {
      const abs = (e << 23) | m;
      patterns.push(abs, abs | 0x80000000);
    }
  }
  const random = seededRandom(17);
  for (let i = 0; i < 400_000; i++) patterns.push(Math.floor(random() * 2 ** 32));
  // Magnitudes near the f16 range's ends, densely.
  for (const centre of [0x477fe000, 0x477ff000, 0x38800000, 0x33000000, 0x33800000, 0x7f7f8000]) {
    for (let d = -3000; d <= 3000; d++) patterns.push(centre + d, (centre + d) | 0x80000000);
  }
  return Uint32Array.from(patterns, (u) => u >>> 0);
}
