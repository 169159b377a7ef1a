// The buffer conversions (decodeToFloat32 / encodeFromFloat32, written for speed) against
// straightforward reference implementations written for clarity, bit for bit: every one
// of the 65,536 bf16 and f16 patterns decoded, and every edge class of float32 encoded
// (zeros, subnormals, each exponent's rounding ties and their neighbours, the largest
// values and the overflow boundary, infinities, signalling and quiet NaNs with payloads)
// plus random patterns, through aligned, 2-byte-aligned and misaligned outputs, even and
// odd lengths (the bf16 encoder works two elements at a time where it can).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeToFloat32, encodeFromFloat32 } from '../../../server/src/checkpoints/dtypes.ts';
import { float32Patterns } from '../../helpers/float-patterns.ts';

const scratch = new DataView(new ArrayBuffer(4));
const valueOfBits = (u: number): number => { scratch.setUint32(0, u >>> 0); return scratch.getFloat32(0); };
const hex = (u: number) => `0x${(u >>> 0).toString(16).padStart(8, '0')}`;

// ---- reference implementations -------------------------------------------------------

/** float32 bit pattern of a bf16 pattern: its bits are the float32's top half. */
const refDecodeBfloat = (h: number): number => (h << 16) >>> 0;

/** float32 bit pattern of an f16 pattern, from its value computed in double precision. */
function refDecodeHalf(h: number): number {
  const sign = h & 0x8000 ? 0x80000000 : 0;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return (sign | 0x7f800000 | (m << 13)) >>> 0; // inf; nan keeps its payload
  const magnitude = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  scratch.setFloat32(0, magnitude); // exact: every half is a float32
  return (sign | scratch.getUint32(0)) >>> 0;
}

/** bf16 nearest to float32 pattern `u`, by comparing distances to both neighbours; ties to even. */
function refEncodeBfloat(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const abs = (u & 0x7fffffff) >>> 0;
  if (abs > 0x7f800000) return sign | 0x7fc0 | ((abs >>> 16) & 0x3f); // nan: quiet, top payload kept
  if (abs === 0x7f800000) return sign | 0x7f80;
  const v = valueOfBits(abs);
  const below = abs >>> 16;
  const above = below + 1;
  const lowValue = valueOfBits(below << 16);
  const highValue = above === 0x7f80 ? 2 ** 128 : valueOfBits(above << 16); // rounding past the largest gives infinity
  const dLow = v - lowValue;
  const dHigh = highValue - v;
  const pick = dLow < dHigh ? below : dHigh < dLow ? above : (below & 1 ? above : below);
  return sign | pick;
}

/** Every f16 value (non-negative, finite or infinite) to its pattern. */
const halfBitsOfValue = new Map<number, number>();
for (let h = 0; h <= 0x7c00; h++) halfBitsOfValue.set(valueOfBits(refDecodeHalf(h)), h);

/** f16 nearest to float32 pattern `u` by Math.f16round (round to nearest even); nan made quiet. */
function refEncodeHalf(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const abs = (u & 0x7fffffff) >>> 0;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  const h = halfBitsOfValue.get(Math.f16round(valueOfBits(abs)));
  assert.ok(h !== undefined, hex(u));
  return sign | h;
}

describe('bf16 and f16 buffer conversions against reference implementations', () => {
  const allHalves = new Uint16Array(65536).map((_, i) => i);

  for (const [dtype, reference] of [['BF16', refDecodeBfloat], ['F16', refDecodeHalf]] as const) {
    it(`decodes every one of the 65,536 ${dtype} patterns bit for bit (aligned and misaligned bytes)`, () => {
      for (const misalign of [0, 1]) {
        const storage = new Uint8Array(2 * 65536 + misalign);
        const bytes = storage.subarray(misalign);
        bytes.set(new Uint8Array(allHalves.buffer));
        // Checked on the first call and after 300 more (warm, optimised by V8: its
        // optimised code once quieted signalling NaNs that went through a float register).
        for (let call = 0; call <= 300; call++) {
          const out = new Float32Array(65536);
          decodeToFloat32(dtype, bytes, out);
          if (call !== 0 && call !== 300) continue;
          const got = new Uint32Array(out.buffer);
          for (let h = 0; h < 65536; h++) if (got[h] !== reference(h)) assert.fail(`${dtype} ${h.toString(16)} (call ${call}): ${hex(got[h]!)} != ${hex(reference(h))}`);
        }
      }
    });
  }

  const patterns = float32Patterns();
  for (const [dtype, reference] of [['BF16', refEncodeBfloat], ['F16', refEncodeHalf]] as const) {
    const expected = patterns.map(reference);
    it(`encodes ${patterns.length.toLocaleString('en')} float32 patterns (every edge class) to ${dtype} bit for bit`, () => {
      const values = new Float32Array(patterns.buffer.slice(0));
      // Warm the encoder first (V8 optimises it after some hundreds of calls), so the
      // checks below run the code a long run spends its time in.
      const warm = new Uint8Array(2 * 4096);
      for (let call = 0; call < 1500; call++) encodeFromFloat32(dtype, values.subarray(0, 4096), warm);
      // Output offsets 0, 2 and 1 bytes: 4-byte aligned (pairs), 2-byte aligned, misaligned;
      // lengths even and odd.
      for (const offset of [0, 2, 1]) {
        for (const cut of [0, 1]) {
          const n = values.length - cut;
          const storage = new Uint8Array(2 * n + offset);
          assert.equal(encodeFromFloat32(dtype, values.subarray(0, n), storage.subarray(offset)), 2 * n);
          const got = new Uint16Array(storage.slice(offset).buffer);
          for (let i = 0; i < n; i++) {
            if (got[i] !== expected[i]) assert.fail(`${dtype} of ${hex(patterns[i]!)} (offset ${offset}): ${got[i]!.toString(16)} != ${expected[i]!.toString(16)}`);
          }
        }
      }
    });
  }

  it('short and odd lengths, and starts inside a buffer, go through the same rounding', () => {
    for (const dtype of ['BF16', 'F16'] as const) {
      const reference = dtype === 'BF16' ? refEncodeBfloat : refEncodeHalf;
      for (let n = 0; n <= 7; n++) {
        for (const start of [0, 1, 2, 3]) {
          const bits = Uint32Array.from({ length: start + n }, (_, i) => [0x3f808000, 0x3f818000, 0x7f800001, 0xff812345, 0x477ff000, 0x33000001, 0x00000001, 0xbf7fffff][i % 8]!);
          const values = new Float32Array(bits.buffer).subarray(start);
          for (const offset of [0, 1, 2]) {
            const storage = new Uint8Array(2 * n + offset);
            encodeFromFloat32(dtype, values, storage.subarray(offset));
            const got = new Uint16Array(storage.slice(offset).buffer);
            for (let i = 0; i < n; i++) assert.equal(got[i], reference(bits[start + i]!), `${dtype} n ${n} start ${start} offset ${offset} i ${i}`);
          }
        }
      }
    }
  });
});
