import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DTYPE_BYTES, decodeToFloat32, encodeFromFloat32, floatBitsToBfloatBits, floatBitsToHalfBits,
  halfBitsToFloatBits, isFloatDtype,
} from '../../../server/src/checkpoints/dtypes.ts';
import type { FloatDtype } from '../../../server/src/checkpoints/dtypes.ts';
import type { Dtype } from '../../../server/src/checkpoints/types.ts';
import { seededRandom } from '../../helpers/checkpoint-fixtures.ts';

const bits = new DataView(new ArrayBuffer(8));
const f32Bits = (value: number) => { bits.setFloat32(0, value); return bits.getUint32(0); };
const f32OfBits = (u: number) => { bits.setUint32(0, u); return bits.getFloat32(0); };
const sameValue = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

describe('dtype table', () => {
  const rows: [Dtype, number, boolean][] = [
    ['BOOL', 1, false], ['U8', 1, false], ['I8', 1, false], ['F8_E5M2', 1, false], ['F8_E4M3', 1, false],
    ['I16', 2, false], ['U16', 2, false], ['F16', 2, true], ['BF16', 2, true],
    ['I32', 4, false], ['U32', 4, false], ['F32', 4, true], ['I64', 8, false], ['U64', 8, false], ['F64', 8, true],
  ];
  for (const [dtype, size, float] of rows) {
    it(`${dtype}: ${size} bytes, ${float ? 'float' : 'copied as bytes'}`, () => {
      assert.equal(DTYPE_BYTES[dtype], size);
      assert.equal(isFloatDtype(dtype), float);
    });
  }
});

describe('half precision', () => {
  it('decodes all 65,536 bit patterns like DataView.getFloat16', () => {
    const view = new DataView(new ArrayBuffer(2));
    for (let h = 0; h < 65536; h++) {
      view.setUint16(0, h);
      const expected = view.getFloat16(0);
      const actual = f32OfBits(halfBitsToFloatBits(h));
      assert.ok(sameValue(actual, expected), `0x${h.toString(16)}: ${actual} != ${expected}`);
    }
  });

  const encodeRows: [string, number, number][] = [
    ['one', 1, 0x3c00],
    ['1 + 2^-11 ties to even (down)', 1 + 2 ** -11, 0x3c00],
    ['1 + 3 * 2^-11 ties to even (up)', 1 + 3 * 2 ** -11, 0x3c02],
    ['just above a tie rounds up', Math.fround(1 + 2 ** -11 + 2 ** -20), 0x3c01],
    ['largest half', 65504, 0x7bff],
    ['65519 rounds down to 65504', 65519, 0x7bff],
    ['65520 ties to even: infinity', 65520, 0x7c00],
    ['smallest normal', 2 ** -14, 0x0400],
    ['largest subnormal', 2 ** -14 - 2 ** -24, 0x03ff],
    ['smallest subnormal', 2 ** -24, 0x0001],
    ['2^-25 ties to even: zero', 2 ** -25, 0x0000],
    ['3 * 2^-25 ties to even: 2 * 2^-24', 3 * 2 ** -25, 0x0002],
    ['just above 2^-25 rounds up', Math.fround(2 ** -25 * (1 + 2 ** -20)), 0x0001],
    ['subnormal rounding up into the smallest normal', 2 ** -14 - 2 ** -26, 0x0400],
    ['negative zero', -0, 0x8000],
    ['negative', -2.5, 0xc100],
    ['infinity', Infinity, 0x7c00],
    ['minus infinity', -Infinity, 0xfc00],
    ['float32 max overflows', 3.4028234663852886e38, 0x7c00],
  ];
  for (const [name, value, expected] of encodeRows) {
    it(`encodes ${name}`, () => assert.equal(floatBitsToHalfBits(f32Bits(value)), expected));
  }

  it('keeps nan a nan (never infinity), quiet, with its sign', () => {
    for (const nan of [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f802000]) {
      const h = floatBitsToHalfBits(nan);
      assert.equal(h & 0x7c00, 0x7c00, `0x${nan.toString(16)}`);
      assert.ok((h & 0x3ff) !== 0 && (h & 0x200) !== 0, `0x${nan.toString(16)} -> 0x${h.toString(16)} must be a quiet nan`);
      assert.equal(h >>> 15, nan >>> 31);
    }
  });

  it('rounds 200,000 random float32 values like Math.f16round', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 200_000; i++) {
      // Mostly values in the half range, some anywhere in float32.
      const u = i % 4 === 0 ? Math.floor(random() * 2 ** 32) : f32Bits((random() - 0.5) * 2 ** Math.floor(random() * 44 - 28));
      const value = f32OfBits(u >>> 0);
      const expected = Math.f16round(value);
      const actual = f32OfBits(halfBitsToFloatBits(floatBitsToHalfBits(u >>> 0)));
      assert.ok(sameValue(actual, expected), `${value}: ${actual} != ${expected}`);
    }
  });
});

/** Nearest bfloat16 by exact float64 arithmetic on the two neighbours, ties to even. */
function nearestBfloat(u: number): number {
  const value = f32OfBits(u);
  const down = u >>> 16;
  const up = (down + 1) & 0xffff;
  const a = f32OfBits(down << 16);
  const b = f32OfBits(up << 16);
  const da = Math.abs(value - a);
  const db = Number.isFinite(b) ? Math.abs(b - value) : Math.abs(Math.sign(value) * 2 ** 128 - value); // infinity counts as 2^128
  if (da < db) return down;
  if (db < da) return up;
  return down % 2 === 0 ? down : up;
}

describe('bfloat16', () => {
  const rows: [string, number, number][] = [
    ['one', 0x3f800000, 0x3f80],
    ['tie to even (down)', 0x3f808000, 0x3f80],
    ['tie to even (up)', 0x3f818000, 0x3f82],
    ['above a tie', 0x3f808001, 0x3f81],
    ['below a tie', 0x3f807fff, 0x3f80],
    ['negative tie', 0xbf818000, 0xbf82],
    ['largest float32 rounds to infinity', 0x7f7fffff, 0x7f80],
    ['infinity', 0x7f800000, 0x7f80],
    ['minus infinity', 0xff800000, 0xff80],
    ['quiet nan', 0x7fc00000, 0x7fc0],
    ['signalling nan stays nan', 0x7f800001, 0x7fc0],
    ['negative nan with payload', 0xff812345, 0xffc1],
    ['smallest subnormal', 0x00000001, 0x0000],
  ];
  for (const [name, input, expected] of rows) {
    it(`encodes ${name}`, () => assert.equal(floatBitsToBfloatBits(input), expected));
  }

  it('matches the exact nearest-even neighbour on 200,000 random finite values', () => {
    const random = seededRandom(11);
    for (let i = 0; i < 200_000; i++) {
      const u = Math.floor(random() * 2 ** 32) >>> 0;
      if ((u & 0x7f800000) === 0x7f800000) continue;
      assert.equal(floatBitsToBfloatBits(u), nearestBfloat(u), `0x${u.toString(16)}`);
    }
  });
});

describe('decode and encode buffers', () => {
  const values = Float32Array.from([0, -0, 1, -2.5, 0.1, 65504, 2 ** -24, 1e-8, 3.4e38, Infinity, -Infinity, NaN, 1 + 2 ** -11]);
  const cases: [FloatDtype, (v: number) => number][] = [
    ['F32', (v) => v],
    ['F64', (v) => v],
    ['F16', (v) => Math.f16round(v)],
    ['BF16', (v) => f32OfBits(nearestBfloat(f32Bits(v)) << 16)],
  ];
  for (const [dtype, expected] of cases) {
    for (const misalign of [0, 1]) {
      it(`${dtype} round trip through ${misalign ? 'misaligned' : 'aligned'} bytes`, () => {
        const size = DTYPE_BYTES[dtype];
        const storage = new Uint8Array(values.length * size + misalign);
        const bytes = storage.subarray(misalign);
        assert.equal(encodeFromFloat32(dtype, values, bytes), values.length * size);
        const back = new Float32Array(values.length);
        decodeToFloat32(dtype, bytes, back);
        values.forEach((v, i) => {
          const want = Math.fround(expected(v));
          assert.ok(sameValue(back[i]!, want), `${dtype} ${v}: ${back[i]} != ${want}`);
        });
      });
    }
  }

  it('F32 bytes are little-endian IEEE', () => {
    const bytes = new Uint8Array(4);
    encodeFromFloat32('F32', Float32Array.of(1), bytes);
    assert.deepEqual([...bytes], [0x00, 0x00, 0x80, 0x3f]);
  });

  it('rejects a byte count that is not whole elements and a short output', () => {
    assert.throws(() => decodeToFloat32('F16', new Uint8Array(3), new Float32Array(2)), RangeError);
    assert.throws(() => decodeToFloat32('F32', new Uint8Array(8), new Float32Array(1)), RangeError);
    assert.throws(() => encodeFromFloat32('F64', new Float32Array(2), new Uint8Array(15)), RangeError);
  });
});
