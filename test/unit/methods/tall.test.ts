// tall() (Wang et al., ICML 2024) from recipe text to the saved file, against a float64
// reference written from the definition: tau_MTL = sum tau_i, m_t = 1{|tau_t| > lambda
// |tau_MTL - tau_t|}, the result m_t tau_MTL. Held in memory and streamed, on the JS loops,
// on threads and on tfjs (the `vote` node), with a zero task vector and the strict comparison.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeRecipe, assertDeltas, EVERY_RUN, finetunedModels, runToTensors, SIGNED_PAIR, SIGNED_PAIR_HEAD, taskVectorsOf, withOneTensorModels } from './method-fixtures.ts';

function tallReference(taus: readonly Float64Array[], task: number, lambda: number): Float64Array {
  const mtl = taus[0]!.map((_, i) => taus.reduce((s, tau) => s + tau[i]!, 0));
  const own = taus[task]!;
  return mtl.map((v, i) => (Math.abs(own[i]!) > lambda * Math.abs(v - own[i]!) ? v : 0));
}

describe('tall', () => {
  const fixture = finetunedModels(3, 0.1);
  const { base, header } = fixture;
  const taus = taskVectorsOf(fixture);
  const check = (got: Map<string, Float64Array>, want: (t: number) => Float64Array) => assertDeltas(base, got, want);

  for (const { chunkElements, backend, how } of EVERY_RUN) {
    for (const lambda of [0.4, 1]) {
      test(`tall of the second task, lambda=${lambda}, ${how}`, async () => {
        const got = await runToTensors(fixture.dir, `${header}save(base + tall(t2, t1, t2, t3, lambda=${lambda}), "out.safetensors")\n`, chunkElements, backend);
        check(got, (t) => tallReference(taus(t), 1, lambda));
      });
    }
  }

  test('a zero task vector never holds an element; the comparison is strict', async () => {
    await withOneTensorModels(SIGNED_PAIR, async (save) => {
      const run = async (expression: string) => [...(await save(`${SIGNED_PAIR_HEAD}save(${expression}, "out.safetensors")\n`))];
      assert.deepEqual(await run('tall(z, a, b, z)'), [0, 0, 0, 0]);
      // tau_MTL = (1.25, 1, 1, 0). a: |1| > 0.25, |-2| > 3 no, |0.5| > 0.5 no (strict), 0 > 0 no.
      assert.deepEqual(await run('tall(a, a, b, z)'), [1.25, 0, 0, 0]);
      // b: 0.25 > 1 no, 3 > 2, 0.5 > 0.5 no; with lambda 0 every non-zero element of b is its own.
      assert.deepEqual(await run('tall(b, a, b, z)'), [0, 1, 0, 0]);
      assert.deepEqual(await run('tall(b, a, b, z, lambda=0)'), [1.25, 1, 1, 0]);
    });
  });

  test('the checker warns when the task is not among the vectors merged, and wants Vectors', async () => {
    const analysis = await analyzeRecipe(fixture.dir, `${header}a = tall(t1, t2, t3)\nb = tall(base, t2)\n`);
    assert.deepEqual(analysis.diagnostics.filter((d) => d.code !== 'unused-binding').map((d) => [d.severity, d.code]), [['warning', 'invalid-value'], ['error', 'type-mismatch']]);
    assert.match(analysis.diagnostics.find((d) => d.severity === 'warning')!.message, /this task vector is not one of the vectors merged/);
  });
});
