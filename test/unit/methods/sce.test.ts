// sce() from recipe text to the saved file, against a float64 reference written from
// mergekit's sce (select by variance, weigh by mean square, erase minority signs, weighted
// mean): held in memory and streamed, on the JS loops and tfjs, with weights from mean squares
// and the 1/k fallback of tiny vectors, a zero vector, select_topk at its bounds.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BackendName } from '../../../server/src/engine/index.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { METHOD_SPECS, analyzeRecipe, dot, oneTensor, runToTensors } from './method-fixtures.ts';

function sceReference(taus: readonly Float64Array[], selectTopk: number): Float64Array {
  const n = taus[0]!.length;
  let selected = taus;
  if (selectTopk < 1) {
    const variance = taus[0]!.map((_, i) => {
      const mean = taus.reduce((s, t) => s + t[i]!, 0) / taus.length;
      return taus.reduce((s, t) => s + (t[i]! - mean) ** 2, 0) / taus.length;
    });
    // No element of these tensors has variance 0, so mergekit's int(nonzero * density) is floor(n * density).
    const k = Math.floor(n * selectTopk + 1e-9);
    const top = new Set([...variance.keys()].sort((i, j) => variance[j]! - variance[i]!).slice(0, k));
    selected = taus.map((t) => t.map((v, i) => (top.has(i) ? v : 0)));
  }
  const meanSquares = selected.map((t) => dot(t, t) / n);
  const total = meanSquares.reduce((a, b) => a + b, 0);
  const weights = Math.abs(total) < 1e-6 ? selected.map(() => 1 / selected.length) : meanSquares.map((m) => m / total);
  return new Float64Array(n).map((_, i) => {
    const sign = selected.reduce((s, t) => s + t[i]!, 0) >= 0 ? 1 : -1;
    let sum = 0, weight = 0;
    selected.forEach((t, j) => { if (Math.sign(t[i]!) === sign) { sum += weights[j]! * t[i]!; weight += weights[j]!; } });
    return sum / Math.max(weight, 1e-6);
  });
}

describe('sce', () => {
  const fixture = fixtureDir();
  const base = makeModel(METHOD_SPECS, { seed: 1 });
  const scales = [0.1, 0.05, 0.2];
  const models = [2, 3, 4].map((seed, i) => perturbModel(base, { seed, scale: scales[i]! }));
  const tiny = [5, 6].map((seed) => perturbModel(base, { seed, scale: 1e-3 }));
  /** Deltas as the engine holds them: rounded to float32. */
  const deltas = (ms: typeof models, t: number) => ms.map((m) => m.tensors[t]!.values.map((v, i) => Math.fround(v - base.tensors[t]!.values[i]!)));
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    [...models, ...tiny].forEach((m, i) => writeSafetensors(join(fixture.dir, `ft${i + 1}.safetensors`), m));
  });
  after(() => fixture.cleanup());

  const header = 'base = load("base.safetensors")\n' + [1, 2, 3, 4, 5].map((i) => `t${i} = load("ft${i}.safetensors") - base\n`).join('');
  const check = (got: Map<string, Float64Array>, want: (t: number) => Float64Array) => {
    for (const [t, tensor] of base.tensors.entries()) {
      const { error, index } = worstError(got.get(tensor.name)!, want(t), 1e-3);
      assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want(t)[index]} (error ${error})`);
    }
  };

  const runs: { chunkElements?: number; backend?: BackendName }[] = [{}, { chunkElements: 64 }, { backend: 'tfjs-cpu' }];
  for (const { chunkElements, backend } of runs) {
    const how = `${chunkElements ? 'streamed in chunks of 64' : 'held in memory'} on ${backend ?? 'js'}`;
    for (const selectTopk of [1, 0.3]) {
      test(`select_topk=${selectTopk}, weights from mean squares, ${how}`, async () => {
        check(await runToTensors(fixture.dir, `${header}save(sce(t1, t2, t3, select_topk=${selectTopk}), "out.safetensors")\n`, chunkElements, backend), (t) => sceReference(deltas(models, t), selectTopk));
      });
    }
    test(`vectors whose mean squares sum below 1e-6 weigh 1/k, ${how}`, async () => {
      check(await runToTensors(fixture.dir, `${header}save(sce(t4, t5, select_topk=0.5), "out.safetensors")\n`, chunkElements, backend), (t) => sceReference(deltas(tiny, t), 0.5));
    });
  }

  test('select_topk=0 keeps nothing; one vector is itself; a zero vector and a zero sum', async () => {
    const dir = fixtureDir();
    try {
      writeSafetensors(join(dir.dir, 'base.safetensors'), oneTensor([0, 0, 0, 0]));
      writeSafetensors(join(dir.dir, 'a.safetensors'), oneTensor([1, -2, 0.5, 0]));
      writeSafetensors(join(dir.dir, 'b.safetensors'), oneTensor([-1, 3, 0.5, 0]));
      const head = 'base = load("base.safetensors")\na = load("a.safetensors") - base\nb = load("b.safetensors") - base\nz = base - base\n';
      const run = async (expression: string) => [...(await runToTensors(dir.dir, `${head}save(${expression}, "out.safetensors")\n`)).get('w')!];
      assert.deepEqual(await run('sce(a, b, select_topk=0)'), [0, 0, 0, 0]);
      assert.deepEqual(await run('sce(a)'), [1, -2, 0.5, 0]);
      // Mean squares 5.25/4 and 10.25/4: weights 5.25/15.5 and 10.25/15.5. Element 0 sums to 0: + is
      // elected and only a's 1 has it; element 3 is 0 everywhere. The zero vector changes nothing.
      const want = [1, 3, 0.5, 0];
      for (const expression of ['sce(a, b)', 'sce(a, b, z)']) {
        const got = await run(expression);
        assert.ok(worstError(got, want, 1).error <= 1e-7, `${expression}: ${got}`);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('the checker keeps select_topk in [0, 1] and wants Vectors', async () => {
    const errors = (await analyzeRecipe(fixture.dir, `${header}a = sce(t1, t2, select_topk=1.5)\nb = sce(base, t1)\n`)).diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['invalid-value', 'type-mismatch']);
    assert.match(errors[0]!.message, /'select_topk' of sce\(\) must be <= 1/);
  });
});
