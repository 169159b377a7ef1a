// consensus() (Wang et al., ICML 2024) from recipe text to the saved file, against a float64
// reference written from the definition: tau_MTL = sum tau_i, each task's TALL mask m_t =
// 1{|tau_t| > lambda |tau_MTL - tau_t|}, the result 1{sum_t m_t >= k} tau_MTL. Held in memory
// and streamed, on the JS loops, on threads and on tfjs, with a zero task vector and k at and
// past its bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeRecipe, assertDeltas, EVERY_RUN, finetunedModels, runToTensors, SIGNED_PAIR, SIGNED_PAIR_HEAD, taskVectorsOf, withOneTensorModels } from './method-fixtures.ts';

function masks(taus: readonly Float64Array[], lambda: number): { mtl: Float64Array; masks: boolean[][] } {
  const mtl = taus[0]!.map((_, i) => taus.reduce((s, tau) => s + tau[i]!, 0));
  return { mtl, masks: taus.map((tau) => [...tau].map((v, i) => Math.abs(v) > lambda * Math.abs(mtl[i]! - v))) };
}

function consensusReference(taus: readonly Float64Array[], k: number, lambda: number): Float64Array {
  const { mtl, masks: m } = masks(taus, lambda);
  return mtl.map((v, i) => (m.filter((mask) => mask[i]).length >= k ? v : 0));
}

describe('consensus', () => {
  const fixture = finetunedModels(3, 0.1);
  const { base, header } = fixture;
  const taus = taskVectorsOf(fixture);
  const check = (got: Map<string, Float64Array>, want: (t: number) => Float64Array) => assertDeltas(base, got, want);

  for (const { chunkElements, backend, how } of EVERY_RUN) {
    for (const k of [1, 2, 3]) {
      test(`consensus k=${k}, lambda=0.5, ${how}`, async () => {
        const got = await runToTensors(fixture.dir, `${header}save(base + consensus(t1, t2, t3, k=${k}, lambda=0.5), "out.safetensors")\n`, chunkElements, backend);
        check(got, (t) => consensusReference(taus(t), k, 0.5));
      });
    }
  }

  test('consensus with k=0 is the sum, with k past the tasks nothing; the defaults are k=2, lambda=1', async () => {
    const mtl = (t: number) => taus(t).reduce((s, tau) => s.map((v, i) => v + tau[i]!));
    check(await runToTensors(fixture.dir, `${header}save(base + consensus(t1, t2, t3, k=0), "out.safetensors")\n`), mtl);
    check(await runToTensors(fixture.dir, `${header}save(base + consensus(t1, t2, t3, k=4), "out.safetensors")\n`), (t) => new Float64Array(taus(t)[0]!.length));
    check(await runToTensors(fixture.dir, `${header}save(base + consensus(t1, t2, t3), "out.safetensors")\n`), (t) => consensusReference(taus(t), 2, 1));
  });

  test('a zero task vector claims nothing; lambda 0 gives every task its non-zero elements', async () => {
    await withOneTensorModels(SIGNED_PAIR, async (save) => {
      const run = async (expression: string) => [...(await save(`${SIGNED_PAIR_HEAD}save(${expression}, "out.safetensors")\n`))];
      // tau_MTL = (1.25, 1, 1, 0). a's mask: |1| > 0.25, |-2| > 3 no, |0.5| > 0.5 no (strict), 0 > 0 no.
      // b's: 0.25 > 1 no, 3 > 2, 0.5 > 0.5 no: k=1 keeps what a or b holds; k=2 nothing (z votes for nothing).
      assert.deepEqual(await run('consensus(a, b, z, k=1)'), [1.25, 1, 0, 0]);
      assert.deepEqual(await run('consensus(a, b, z, k=2)'), [0, 0, 0, 0]);
      // lambda 0: every non-zero element of a task is its own.
      assert.deepEqual(await run('consensus(a, b, z, k=2, lambda=0)'), [1.25, 1, 1, 0]);
    });
  });

  test('the checker wants Vectors and a whole k >= 0', async () => {
    const errors = (await analyzeRecipe(fixture.dir, `${header}a = consensus(base, t2)\nb = consensus(t1, t2, k=1.5)\n`)).diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['type-mismatch', 'invalid-value']);
    assert.match(errors[1]!.message, /'k' of consensus\(\) must be a whole number/);
  });
});
