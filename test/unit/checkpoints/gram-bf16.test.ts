// The norm of a bf16 or f16 task vector decoded inside the WebAssembly loops (issue 17)
// against the way before it (decoded in JavaScript, then the float32 loops): the same
// sums, bit for bit, for every bf16 and every f16 pattern, at every chunking, with and
// without the reference's own norm (tvr inspect), for sharded bf16 and f16 checkpoints,
// for a bf16 or f16 model against a float32 one and f16 against bf16; and the
// reference-pair loop against the JavaScript one.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeToFloat32 } from '../../../server/src/checkpoints/dtypes.ts';
import { runGramPass } from '../../../server/src/checkpoints/gram-pass.ts';
import type { GramPassOptions, GramResult } from '../../../server/src/checkpoints/gram-pass.ts';
import { accumulateGram, createChunkKernel } from '../../../server/src/checkpoints/gram-kernel.ts';
import { createWasmGramKernel, WASM_STEP } from '../../../server/src/checkpoints/gram-wasm.ts';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import type { CheckpointHeader } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, perturbModel, seededRandom, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureDtype, FixtureModel } from '../../helpers/checkpoint-fixtures.ts';

describe('bf16 and f16 norms decoded in the WebAssembly loop', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = fixtureDir()));
  after(() => cleanup());

  it('the reference-pair loop (tvr inspect: the norms of R and of M - R) gives the JavaScript loop\'s sums, bit for bit', () => {
    const random = seededRandom(14);
    const n = 3 * 4096 + 77;
    const r = Float32Array.from({ length: n }, () => (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4));
    const x = r.map((v) => v + (random() - 0.5) * 1e-2);
    const kernel = createChunkKernel(2, n, true);
    kernel.buffers[0]!.set(r);
    kernel.buffers[1]!.set(x);
    for (const [at, count] of [[0, n], [0, 0], [5, 1], [3, 2], [1, 4095], [0, 4096], [7, 4097], [2, 8193], [11, n - 11]] as const) {
      const got = new Float64Array(4);
      kernel.accumulate(at, count, got);
      const want = new Float64Array(4);
      accumulateGram([r.subarray(at, at + count), x.subarray(at, at + count)], count, want, true);
      got.forEach((v, i) => assert.ok(Object.is(v, want[i]), `elements ${at}+${count}, sum ${i}: ${v} vs ${want[i]}`));
    }
  });

  for (const dtype of ['BF16', 'F16'] as const) {
    it(`sums every ${dtype.toLowerCase()} pattern as the float32 loop sums its decoding, both kernel variants`, () => {
      // Pattern i alone in loop step i (at lane i mod 16, zeros elsewhere), so that no NaN hides
      // another pattern's lane (an infinity beside a NaN, say).
      const patternCount = 65536;
      const n = patternCount * WASM_STEP;
      const lane = (i: number) => i % WASM_STEP;
      const patterns = new Uint16Array(n);
      for (let i = 0; i < patternCount; i++) patterns[i * WASM_STEP + lane(i)] = i;
      const zeros = new Uint16Array(n);
      const decoded = new Float32Array(n);
      decodeToFloat32(dtype, new Uint8Array(patterns.buffer), decoded);
      // A float32 reference below the smallest f16 subnormal (2^-24): x - c is exact for every
      // subnormal and keeps the sign of x in r (x - r), so signs and subnormals show in the sums.
      const c = 2 ** -30;
      for (const fused of [true, false]) {
        const kernel = createWasmGramKernel(Math.ceil((n * 16) / 65536), fused)!;
        const memory = new Uint8Array(kernel.memory.buffer);
        // Laid out: the patterns, zeros of the dtype, their float32 decoding, float32 zeros, float32 c.
        const [stored, storedZeros, float, floatZeros, floatC] = [0, 2 * n, 4 * n, 8 * n, 12 * n];
        memory.set(new Uint8Array(patterns.buffer), stored);
        memory.set(new Uint8Array(zeros.buffer), storedZeros);
        memory.set(new Uint8Array(decoded.buffer), float);
        memory.fill(0, floatZeros, floatC);
        new Float32Array(kernel.memory.buffer, floatC, n).fill(c);
        for (let i = 0; i < patternCount; i++) {
          const at = i * WASM_STEP;
          const p = (base: number, size: number) => base + size * at;
          const what = `fused ${fused}, pattern 0x${i.toString(16)}`;
          // Up to the pattern: an odd count when it is the reference-pair loop's single last element.
          const upTo = lane(i) + 1;
          const cases = [
            [p(storedZeros, 2), [dtype, dtype], p(floatZeros, 4)],
            [p(floatZeros, 4), ['F32', dtype], p(floatZeros, 4)],
            [p(floatC, 4), ['F32', dtype], p(floatC, 4)],
          ] as const;
          for (const [r, dtypes, rWant] of cases) {
            const got = kernel.sumSquaredDifferences(r, p(stored, 2), WASM_STEP, dtypes);
            const want = kernel.sumSquaredDifferences(rWant, p(float, 4), WASM_STEP);
            assert.ok(Object.is(got, want), `${what}, ${dtypes.join(' - ')}: ${got} vs ${want}`);
            const pair = kernel.referencePair(r, p(stored, 2), upTo, dtypes);
            const pairWant = kernel.referencePair(rWant, p(float, 4), upTo);
            pair.forEach((v, k) => assert.ok(Object.is(v, pairWant[k]), `${what}, ${dtypes.join(' - ')}, reference pair ${k}: ${v} vs ${pairWant[k]}`));
          }
          // And as the reference: r the patterns, x zero or the float32 c.
          for (const [x, xDtype, xWant] of [[p(storedZeros, 2), dtype, p(floatZeros, 4)], [p(floatC, 4), 'F32', p(floatC, 4)]] as const) {
            const got = kernel.sumSquaredDifferences(p(stored, 2), x, WASM_STEP, [dtype, xDtype]);
            const want = kernel.sumSquaredDifferences(p(float, 4), xWant, WASM_STEP);
            assert.ok(Object.is(got, want), `${what}, as the reference against ${xDtype}: ${got} vs ${want}`);
            const pair = kernel.referencePair(p(stored, 2), x, upTo, [dtype, xDtype]);
            const pairWant = kernel.referencePair(p(float, 4), xWant, upTo);
            pair.forEach((v, k) => assert.ok(Object.is(v, pairWant[k]), `${what}, as the reference against ${xDtype}, reference pair ${k}: ${v} vs ${pairWant[k]}`));
          }
        }
      }
    });
  }

  const specs = (dtype: FixtureDtype) => [
    { name: 'embed', shape: [61, 97], dtype },
    { name: 'bias', shape: [13], dtype },
    { name: 'scale', shape: [], dtype },
    { name: 'proj', shape: [40, 33], dtype },
  ];
  const as = (model: FixtureModel, dtype: FixtureDtype): FixtureModel => ({ tensors: model.tensors.map((t) => ({ ...t, dtype })) });

  /** The pass with the loop's decoding and with TVR_JS_CONVERSION=1. */
  const both = (headers: readonly CheckpointHeader[], options: GramPassOptions): [GramResult, GramResult] => {
    const loop = runGramPass(headers, options);
    process.env.TVR_JS_CONVERSION = '1';
    try {
      return [loop, runGramPass(headers, options)];
    } finally {
      delete process.env.TVR_JS_CONVERSION;
    }
  };

  const pairs = [
    ['bf16 sharded', ['BF16', 'BF16']], ['bf16 against f32', ['F32', 'BF16']],
    ['f16 sharded', ['F16', 'F16']], ['f16 against f32', ['F32', 'F16']], ['f16 against bf16', ['BF16', 'F16']],
  ] as const;
  for (const [name, dtypes] of pairs) {
    it(`${name}: the same norms, tensor by tensor, at every chunking`, async () => {
      const base = makeModel(specs(dtypes[1]), { seed: 31 });
      // The first input of a 16-bit dtype is sharded (2 shards with an index).
      const sharded = dtypes.findIndex((d) => d !== 'F32');
      const models = [base, perturbModel(base, { seed: 32, scale: 0.01 })].map((m, i) => as(m, dtypes[i]!));
      const paths = models.map((m, i) => (i === sharded ? writeShardedSafetensors(join(dir, `${name}-${i}`), m, { shards: 2 }) : writeSafetensors(join(dir, `${name}-${i}.safetensors`), m)));
      const headers = await Promise.all(paths.map((p) => readCheckpointHeader(p)));
      for (const chunkElements of [1, 7, 100, 1 << 16]) {
        for (const includeReference of [false, true]) {
          const [loop, js] = both(headers, { chunkElements, includeReference });
          const what = `chunk ${chunkElements}${includeReference ? ', with the reference' : ''}`;
          assert.ok(loop.total[0]! > 0);
          loop.total.forEach((v, i) => assert.ok(Object.is(v, js.total[i]), `${what}, total ${i}: ${v} vs ${js.total[i]}`));
          loop.tensors.forEach((t, i) => assert.deepEqual(t.gram, js.tensors[i]!.gram, `${what}, ${t.name}`));
          assert.equal(loop.bytesRead, js.bytesRead);
        }
      }
    });
  }
});
