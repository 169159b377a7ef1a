import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { gramTables, mergeGramResults, runGramPass } from '../../../server/src/checkpoints/gram-pass.ts';
import { accumulateGram, createChunkKernel } from '../../../server/src/checkpoints/gram-kernel.ts';
import { createWasmGramKernel } from '../../../server/src/checkpoints/gram-wasm.ts';
import { HeaderCache, readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { combinationNormSquared, computeGram, GramCache, tensorNorms } from '../../../server/src/checkpoints/statistics.ts';
import type { GramResult } from '../../../server/src/checkpoints/statistics.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, isFixtureFloat, makeModel, perturbModel, seededRandom, writeSafetensors, writeShardedSafetensors, writeTfjsModel, mlpSpecs } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const SPECS = [
  { name: 'embed', shape: [40, 16] },
  { name: 'half', shape: [33], dtype: 'F16' as const },
  { name: 'brain', shape: [7, 9], dtype: 'BF16' as const },
  { name: 'double', shape: [21], dtype: 'F64' as const },
  { name: 'step', shape: [2], dtype: 'I64' as const },
  { name: 'head', shape: [16, 3] },
];
const base = makeModel(SPECS, { seed: 1, scale: 0.5 });
const tuned = [perturbModel(base, { seed: 2, scale: 0.01 }), perturbModel(base, { seed: 3, scale: 0.02 }), perturbModel(base, { seed: 4, scale: 0.005 })];
const paths: string[] = [];
before(() => {
  paths.push(writeSafetensors(join(dir, 'base.safetensors'), base));
  tuned.forEach((m, i) => paths.push(writeSafetensors(join(dir, `tuned-${i}.safetensors`), m)));
});

/** Independent reference: float64 inner products of float32 differences of the float32-decoded values. */
function referenceGram(models: readonly FixtureModel[], includeReference: boolean): Map<string, number[][]> {
  const out = new Map<string, number[][]>();
  base.tensors.forEach((t, ti) => {
    if (!isFixtureFloat(t.dtype)) return;
    const r = Array.from(models[0]!.tensors[ti]!.values, Math.fround);
    const vectors = [
      ...(includeReference ? [r] : []),
      ...models.slice(1).map((m) => Array.from(m.tensors[ti]!.values, (v, i) => Math.fround(Math.fround(v) - r[i]!))),
    ];
    out.set(t.name, vectors.map((a) => vectors.map((b) => a.reduce((sum, x, i) => sum + x * b[i]!, 0))));
  });
  return out;
}

function assertClose(actual: number, expected: number, relative: number, what: string): void {
  const scale = Math.max(Math.abs(expected), 1e-300);
  assert.ok(Math.abs(actual - expected) <= relative * scale, `${what}: ${actual} vs ${expected}`);
}

function assertMatches(result: GramResult, expected: Map<string, number[][]>, relative = 1e-12): void {
  assert.deepEqual(result.tensors.map((t) => t.name), [...expected.keys()]);
  const size = result.size;
  const total = Array.from({ length: size * size }, () => 0);
  for (const t of result.tensors) {
    const g = expected.get(t.name)!;
    assert.equal(t.gram.length, size * size);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        assertClose(t.gram[i * size + j]!, g[i]![j]!, relative, `${t.name}[${i}][${j}]`);
        total[i * size + j]! += g[i]![j]!;
      }
    }
  }
  total.forEach((v, k) => assertClose(result.total[k]!, v, relative, `total[${k}]`));
}

describe('Gram matrices', () => {
  for (const includeReference of [false, true]) {
    for (const k of [1, 3]) {
      it(`${k} task vector(s)${includeReference ? ' with the reference' : ''} match an independent float64 computation`, async () => {
        const result = await computeGram(paths.slice(0, k + 1), { includeReference });
        assert.equal(result.size, includeReference ? k + 1 : k);
        assert.equal(result.includesReference, includeReference);
        assert.deepEqual(result.paths, paths.slice(0, k + 1));
        assert.deepEqual(result.skipped, [{ name: 'step', dtype: 'I64', reason: 'not a float tensor' }]);
        assertMatches(result, referenceGram([base, ...tuned.slice(0, k)], includeReference));
      });
    }
  }

  it('keeps full precision when fine-tuned weights differ from the base by a few ulps', async () => {
    const specs = [{ name: 'w', shape: [100_000] }];
    const near = makeModel(specs, { seed: 8 });
    const ones = { tensors: [{ ...near.tensors[0]!, values: near.tensors[0]!.values.map((v) => Math.fround(1 + v / 8)) }] };
    const nudged = perturbModel(ones, { seed: 9, scale: 3e-7 });
    const a = writeSafetensors(join(dir, 'near-a.safetensors'), ones);
    const b = writeSafetensors(join(dir, 'near-b.safetensors'), nudged);
    const result = await computeGram([a, b], { includeReference: true });
    // Exact differences (no float32 rounding here): near 1 the float32 subtraction is exact.
    let dd = 0;
    ones.tensors[0]!.values.forEach((r, i) => { const d = nudged.tensors[0]!.values[i]! - r; dd += d * d; });
    assert.ok(dd > 0);
    assertClose(result.total[3]!, dd, 1e-12, '||b - a||^2');
    assertClose((await computeGram([a, b])).total[0]!, dd, 1e-12, '||b - a||^2 through the WebAssembly kernel');
  });

  it('gives the same matrices whatever the chunking, worker split or kernel', async () => {
    const headers = await Promise.all(paths.map((p) => readCheckpointHeader(p)));
    for (const includeReference of [false, true]) {
      for (const inputs of [2, 4]) {
        const group = headers.slice(0, inputs);
        const whole = runGramPass(group, { includeReference });
        for (const chunkElements of [1, 7, 100, 1 << 12]) {
          const parts = [0, 1, 2].map((index) => runGramPass(group, { includeReference, chunkElements, part: { index, count: 3 } }));
          const merged = mergeGramResults(parts);
          whole.tensors.forEach((t, i) => t.gram.forEach((v, j) => assertClose(merged.tensors[i]!.gram[j]!, v, 1e-12, `chunk ${chunkElements} ${t.name}`)));
          assert.equal(merged.bytesRead, whole.bytesRead);
        }
      }
    }
    const inWorkers = await computeGram(paths, { workers: 2, chunkElements: 50 });
    assertMatches(inWorkers, referenceGram([base, ...tuned], false));
  });

  it('both WebAssembly kernel variants agree with the JavaScript loop', () => {
    const n = 4096 + 16 * 7;
    const random = seededRandom(13);
    const r = Float32Array.from({ length: n }, () => random() - 0.5);
    const x = r.map((v) => v + (random() - 0.5) * 1e-2);
    const plain = new Float64Array(1);
    accumulateGram([r, x], n, plain, false);
    for (const fused of [true, false]) {
      const kernel = createWasmGramKernel(Math.ceil((2 * n * 4) / 65536), fused);
      assert.ok(kernel, `WebAssembly SIMD kernel (fused ${fused}) must instantiate on Node >= 22`);
      new Float32Array(kernel.memory.buffer, 0, n).set(r);
      new Float32Array(kernel.memory.buffer, n * 4, n).set(x);
      assertClose(kernel.sumSquaredDifferences(0, n * 4, n), plain[0]!, 1e-12, `fused ${fused}`);
    }
  });

  it('the chunk kernel agrees with the JavaScript one at every length and offset', () => {
    const random = seededRandom(12);
    for (const n of [0, 1, 7, 8, 9, 4097, 65_536]) {
      const kernel = createChunkKernel(2, Math.max(1, n), false);
      const [r, x] = kernel.buffers as [Float32Array, Float32Array];
      for (let i = 0; i < n; i++) { r[i] = random() - 0.5; x[i] = r[i]! + (random() - 0.5) * 1e-3; }
      const fast = new Float64Array(1);
      kernel.accumulate(0, n, fast);
      const plain = new Float64Array(1);
      accumulateGram([r.slice(0, n), x.slice(0, n)], n, plain, false);
      assertClose(fast[0]!, plain[0]!, 1e-12, `n=${n}`);
      if (n > 9) {
        const part = new Float64Array(1);
        kernel.accumulate(3, n - 5, part);
        const plainPart = new Float64Array(1);
        accumulateGram([r.slice(3, n - 2), x.slice(3, n - 2)], n - 5, plainPart, false);
        assertClose(part[0]!, plainPart[0]!, 1e-12, `n=${n} offset 3`);
      }
    }
  });

  it('reads sharded and TensorFlow.js checkpoints, including weights straddling shards', async () => {
    const index = writeShardedSafetensors(join(dir, 'sharded-tuned'), tuned[0]!, { shards: 3 });
    assertMatches(await computeGram([paths[0]!, index]), referenceGram([base, tuned[0]!], false));
    const mlpBase = makeModel(mlpSpecs([8, 6, 4]), { seed: 20 });
    const mlpTuned = perturbModel(mlpBase, { seed: 21, scale: 0.1 });
    const a = writeTfjsModel(join(dir, 'mlp-a'), mlpBase, { shardBytes: 30 });
    const b = writeTfjsModel(join(dir, 'mlp-b'), mlpTuned, { shardBytes: 44 });
    const result = await computeGram([a, b]);
    mlpBase.tensors.forEach((t, i) => {
      const expected = t.values.reduce((sum, v, j) => sum + Math.fround(mlpTuned.tensors[i]!.values[j]! - v) ** 2, 0);
      assertClose(result.tensors[i]!.gram[0]!, expected, 1e-12, t.name);
    });
  });

  it('reports progress up to the total bytes of the float tensors', async () => {
    const seen: [number, number][] = [];
    await computeGram(paths.slice(0, 2), { chunkElements: 64, onProgress: (done, total) => seen.push([done, total]) });
    const floatBytes = 40 * 16 * 4 + 33 * 2 + 63 * 2 + 21 * 8 + 16 * 3 * 4;
    assert.ok(seen.length > 0);
    assert.deepEqual(seen.at(-1), [2 * floatBytes, 2 * floatBytes]);
    seen.forEach(([done], i) => assert.ok(i === 0 || done >= seen[i - 1]![0]));
  });

  it('norms of any linear combination follow from the matrix', async () => {
    const result = await computeGram(paths.slice(0, 3));
    const [a, b] = [0.5, -1.25];
    let direct = 0;
    base.tensors.forEach((t, ti) => {
      if (!isFixtureFloat(t.dtype)) return;
      t.values.forEach((r, i) => {
        const r32 = Math.fround(r);
        const v = a * Math.fround(Math.fround(tuned[0]!.tensors[ti]!.values[i]!) - r32) + b * Math.fround(Math.fround(tuned[1]!.tensors[ti]!.values[i]!) - r32);
        direct += v * v;
      });
    });
    assertClose(combinationNormSquared(result.total, 2, [a, b]), direct, 1e-10, 'combination');
  });

  it('refuses checkpoints that share no float tensor alike', async () => {
    const other = writeSafetensors(join(dir, 'other.safetensors'), makeModel([{ name: 'embed', shape: [40, 15] }], { seed: 1 }));
    await assert.rejects(computeGram([paths[0]!, other]),
      (e: unknown) => e instanceof CheckpointError && e.code === 'table-mismatch' && e.message.includes('"embed" has shape [40, 15] instead of [40, 16]'));
    const headers = await Promise.all([paths[0]!, other].map((p) => readCheckpointHeader(p)));
    assert.throws(() => gramTables(headers), /"half" is missing/);
  });

  it('covers the tensors all inputs share and lists the others (a task head) as skipped', async () => {
    const withHead = writeSafetensors(join(dir, 'with-head.safetensors'), {
      tensors: [...tuned[0]!.tensors, ...makeModel([{ name: 'task_head', shape: [3, 2] }], { seed: 2 }).tensors],
    });
    const shared = await computeGram([paths[0]!, paths[1]!]);
    const partial = await computeGram([paths[0]!, withHead]);
    assert.deepEqual(partial.tensors.map((t) => t.name), shared.tensors.map((t) => t.name));
    assert.deepEqual(partial.skipped.filter((s) => s.reason.includes('shared')).map((s) => s.name), ['task_head']);
  });

  it('reports a file that changed after its header was read, from inside the worker', async () => {
    const victim = writeSafetensors(join(dir, 'victim.safetensors'), tuned[2]!);
    const header = await readCheckpointHeader(victim);
    appendFileSync(victim, new Uint8Array(4));
    // Headers as a cache would hand them out just before the change.
    const stale = { get: async (p: string) => (p === victim ? header : readCheckpointHeader(p)) } as unknown as HeaderCache;
    const error = await computeGram([paths[0]!, victim], { headers: stale }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof CheckpointError && error.code === 'changed-on-disk', String(error));
    assert.ok(error.message.includes(victim));
  });
});

describe('cancellation and caching', () => {
  let bigA: string;
  let bigB: string;
  before(() => {
    const specs = Array.from({ length: 8 }, (_, i) => ({ name: `w${i}`, shape: [256, 1024] }));
    const bigBase = makeModel(specs, { seed: 30 });
    bigA = writeSafetensors(join(dir, 'big-a.safetensors'), bigBase);
    bigB = writeSafetensors(join(dir, 'big-b.safetensors'), perturbModel(bigBase, { seed: 31, scale: 0.01 }));
  });

  it('stops at the next chunk when aborted, and the worker serves the next request', async () => {
    const controller = new AbortController();
    const progress: number[] = [];
    const started = performance.now();
    const pending = computeGram([bigA, bigB], {
      signal: controller.signal,
      chunkElements: 256,
      onProgress: (done) => { progress.push(done); controller.abort(); },
    });
    await assert.rejects(pending, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    assert.ok(progress.length >= 1 && progress[0]! < 2 * 8 * 256 * 1024 * 4, 'stopped before the end');
    assert.ok(performance.now() - started < 20_000);
    const again = await computeGram([bigA, bigB]);
    assert.equal(again.tensors.length, 8);
  });

  it('rejects at once when already aborted', async () => {
    await assert.rejects(computeGram([bigA, bigB], { signal: AbortSignal.abort() }), (e: unknown) => e instanceof Error && e.name === 'AbortError');
  });

  it('GramCache reuses results for unchanged files and shares a pass between concurrent callers', async () => {
    const cache = new GramCache({ headers: new HeaderCache() });
    const [first, second] = await Promise.all([cache.get(paths.slice(0, 2)), cache.get(paths.slice(0, 2))]);
    assert.equal(first, second);
    assert.equal(await cache.get(paths.slice(0, 2)), first);
    assert.notEqual(await cache.get(paths.slice(0, 2), { includeReference: true }), first);
    const moved = writeSafetensors(join(dir, 'moving.safetensors'), tuned[1]!);
    const before = await cache.get([paths[0]!, moved]);
    writeSafetensors(moved, perturbModel(tuned[1]!, { seed: 77, scale: 0.5 }));
    const afterChange = await cache.get([paths[0]!, moved]);
    assert.notEqual(afterChange, before);
    assert.ok(afterChange.total[0]! > before.total[0]!);
  });

  it('GramCache keeps a shared pass running while one caller still waits', async () => {
    const cache = new GramCache({ headers: new HeaderCache() });
    const quitter = new AbortController();
    const leaving = cache.get([bigA, bigB], { signal: quitter.signal });
    const staying = cache.get([bigA, bigB]);
    quitter.abort();
    await assert.rejects(leaving, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    const result = await staying;
    assert.equal(result.tensors.length, 8);
  });

  it('tensorNorms gives per-tensor norms of a checkpoint and of its difference from another', async () => {
    const norms = await tensorNorms(paths[1]!, { relativeTo: paths[0]! });
    const alone = await tensorNorms(paths[1]!);
    let total = 0;
    let totalDifference = 0;
    base.tensors.forEach((t, ti) => {
      if (!isFixtureFloat(t.dtype)) return;
      const mine = Array.from(tuned[0]!.tensors[ti]!.values, Math.fround);
      const norm = Math.sqrt(mine.reduce((s, v) => s + v * v, 0));
      const difference = Math.sqrt(mine.reduce((s, v, i) => s + Math.fround(Math.fround(t.values[i]!) - v) ** 2, 0));
      const entry = norms.tensors.find((n) => n.name === t.name)!;
      assert.deepEqual([entry.dtype, entry.shape], [t.dtype, t.shape]);
      assertClose(entry.norm, norm, 1e-12, `${t.name} norm`);
      assertClose(entry.differenceNorm!, difference, 1e-12, `${t.name} difference`);
      assertClose(alone.tensors.find((n) => n.name === t.name)!.norm, norm, 1e-12, `${t.name} alone`);
      total += norm ** 2;
      totalDifference += difference ** 2;
    });
    assertClose(norms.norm, Math.sqrt(total), 1e-12, 'total');
    assertClose(norms.differenceNorm!, Math.sqrt(totalDifference), 1e-12, 'total difference');
    assert.equal(alone.differenceNorm, undefined);
    assert.deepEqual(norms.skipped, [{ name: 'step', dtype: 'I64', reason: 'not a float tensor' }]);
  });
});
