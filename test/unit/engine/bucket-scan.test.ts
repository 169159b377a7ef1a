// The in-memory top-k selection's scan as a WebAssembly loop (kernels/bucket-scan.ts)
// against the JavaScript selection: the same candidates in the same order, and the same
// thresholds, for random magnitudes with every special value among them, at lengths that
// leave 0-3 values past the loop's last step.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLinKernels } from '../../../server/src/engine/kernels/lin-wasm.ts';
import { bucketScan } from '../../../server/src/engine/kernels/bucket-scan.ts';
import { selectInMemory, TOP_BINS } from '../../../server/src/engine/plan/resolve.ts';
import { seededRandom } from '../../helpers/checkpoint-fixtures.ts';
import { float32Patterns } from '../../helpers/float-patterns.ts';

const lin = createLinKernels()!;
const scan = bucketScan(lin.memory);

/** `values` copied into the loop's memory (the scan overwrites them). */
function placed(values: Float32Array): Float32Array {
  const copy = lin.allocate(values.length)!;
  copy.set(values);
  return copy;
}

/** Every magnitude in `bucket`, in order, as the JavaScript selection gathers them. */
function expected(values: Float32Array, bucket: number): number[] {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return [...bits].map((b) => b & 0x7fffffff).filter((m) => m >>> 20 === bucket && m <= 0x7f800000);
}

function gaussians(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random()) * 0.01);
}

describe('the bucket scan of in-memory top-k selections', () => {
  const patterns = new Float32Array(float32Patterns().buffer);

  test('gathers every magnitude of the bucket in order, NaN left out, infinity kept, at any length', () => {
    for (const n of [patterns.length, patterns.length - 1, patterns.length - 2, patterns.length - 3, 3, 0]) {
      const values = patterns.subarray(0, n);
      // Buckets of zeros and subnormals, of ordinary numbers, the largest finite and infinity's.
      for (const bucket of [0, 0x3f0, 0x3c4, 0x7f7, 0x7f8]) {
        const buffer = placed(values);
        assert.deepEqual([...scan(buffer, bucket)], expected(values, bucket), `${n} values, bucket 0x${bucket.toString(16)}`);
        lin.release(buffer);
      }
    }
  });

  test('thresholds as the JavaScript selection gives them, with and without the kernel\'s top histogram', () => {
    const values = gaussians(300_001, 5);
    values[17] = Number.NaN;
    values[1000] = -Infinity;
    values[2000] = 0;
    // The top-11-bit histogram a kernel takes while it computes the values.
    const top = new Uint32Array(TOP_BINS);
    for (const b of new Uint32Array(values.buffer)) if ((b & 0x7fffffff) <= 0x7f800000) top[(b & 0x7fffffff) >>> 20]!++;
    for (const k of [1, 2, 1000, 60_000, 150_000, 299_999, 300_000, 300_001]) {
      const want = selectInMemory(values, k);
      for (const given of [undefined, top]) {
        const buffer = placed(values);
        assert.equal(selectInMemory(buffer, k, given, scan), want, `k = ${k}${given ? ', top histogram given' : ''}`);
        lin.release(buffer);
      }
    }
  });
});
