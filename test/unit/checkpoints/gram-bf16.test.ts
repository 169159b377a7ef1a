// The norm of a bf16 task vector with bf16 decoded inside the WebAssembly loops (issue 17)
// against the way before it (decoded in JavaScript, then the float32 loops): the same
// sums, bit for bit, for every bf16 pattern, at every chunking, with and without the
// reference's own norm (tvr inspect), for sharded bf16 checkpoints and for a bf16 model
// against a float32 one; and the reference-pair loop against the JavaScript one.
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

describe('bf16 norms decoded in the WebAssembly loop', () => {
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

  it('sums every bf16 pattern as the float32 loop sums its decoding, both kernel variants', () => {
    const n = 65536;
    const patterns = Uint16Array.from({ length: n }, (_, i) => i);
    const zeros = new Uint16Array(n);
    const decoded = new Float32Array(n);
    decodeToFloat32('BF16', new Uint8Array(patterns.buffer), decoded);
    for (const fused of [true, false]) {
      const kernel = createWasmGramKernel(Math.ceil((n * 12) / 65536), fused)!;
      const memory = new Uint8Array(kernel.memory.buffer);
      // Laid out: bf16 patterns, bf16 zeros, their float32 decoding, float32 zeros.
      memory.set(new Uint8Array(patterns.buffer), 0);
      memory.set(new Uint8Array(zeros.buffer), 2 * n);
      memory.set(new Uint8Array(decoded.buffer), 4 * n);
      memory.fill(0, 8 * n, 12 * n);
      // One loop step at a time, so that a wrong lane shows (a NaN or an infinity only hides its own step).
      for (let at = 0; at < n; at += WASM_STEP) {
        for (const [r, dtypes] of [[2 * n + 2 * at, ['BF16', 'BF16']], [8 * n + 4 * at, ['F32', 'BF16']]] as const) {
          const got = kernel.sumSquaredDifferences(r, 2 * at, WASM_STEP, dtypes);
          const want = kernel.sumSquaredDifferences(8 * n + 4 * at, 4 * n + 4 * at, WASM_STEP);
          assert.ok(Object.is(got, want), `fused ${fused}, ${dtypes.join(' - ')}, patterns 0x${at.toString(16)}..: ${got} vs ${want}`);
        }
        // And as the reference: r the patterns, x zero.
        assert.ok(Object.is(kernel.sumSquaredDifferences(2 * at, 2 * n + 2 * at, WASM_STEP, ['BF16', 'BF16']), kernel.sumSquaredDifferences(4 * n + 4 * at, 8 * n + 4 * at, WASM_STEP)));
        const pair = kernel.referencePair(2 * at, 2 * n + 2 * at, WASM_STEP, ['BF16', 'BF16']);
        const pairWant = kernel.referencePair(4 * n + 4 * at, 8 * n + 4 * at, WASM_STEP);
        pair.forEach((v, i) => assert.ok(Object.is(v, pairWant[i]), `fused ${fused}, reference pair ${i}, patterns 0x${at.toString(16)}..: ${v} vs ${pairWant[i]}`));
      }
    }
  });

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

  for (const [name, dtypes] of [['bf16 sharded', ['BF16', 'BF16']], ['bf16 against f32', ['F32', 'BF16']]] as const) {
    it(`${name}: the same norms, tensor by tensor, at every chunking`, async () => {
      const base = makeModel(specs('BF16'), { seed: 31 });
      const models = [base, perturbModel(base, { seed: 32, scale: 0.01 })].map((m, i) => as(m, dtypes[i]!));
      const paths = models.map((m, i) => (dtypes[i] === 'BF16' && i === 0 ? writeShardedSafetensors(join(dir, `${name}-${i}`), m, { shards: 2 }) : writeSafetensors(join(dir, `${name}-${i}.safetensors`), m)));
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
