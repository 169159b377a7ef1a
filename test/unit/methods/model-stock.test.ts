// model_stock() from recipe text to the saved file, against a float64 reference written
// from the method's definition (Jang et al. 2024, as mergekit's filter_wise: false): per
// tensor, t = N c / (1 + (N - 1) c) from the mean pairwise cosine c of the offsets, then
// t mean(m_i) + (1 - t) base; held in memory and streamed; zero and colinear offsets.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { METHOD_SPECS, analyzeRecipe, combination, dot, oneTensor, runToTensors } from './method-fixtures.ts';

function modelStockReference(base: Float64Array, models: readonly Float64Array[]): Float64Array {
  const offsets = models.map((m) => m.map((v, i) => v - base[i]!));
  const cosines: number[] = [];
  for (let i = 0; i < offsets.length; i++) {
    for (let j = i + 1; j < offsets.length; j++) {
      const product = Math.sqrt(dot(offsets[i]!, offsets[i]!)) * Math.sqrt(dot(offsets[j]!, offsets[j]!));
      cosines.push(Math.min(1, Math.max(-1, dot(offsets[i]!, offsets[j]!) / Math.max(product, 1e-6))));
    }
  }
  const c = cosines.reduce((a, b) => a + b, 0) / cosines.length;
  const n = models.length;
  const t = (n * c) / (1 + (n - 1) * c);
  return combination([1 - t, ...models.map(() => t / n)], [base, ...models]);
}

describe('model_stock', () => {
  const fixture = fixtureDir();
  const base = makeModel(METHOD_SPECS, { seed: 1 });
  // Correlated fine-tunings: a shared direction plus each model's own noise, so c is well inside (0, 1).
  const shared = perturbModel(base, { seed: 2, scale: 0.1 });
  const models = [3, 4, 5].map((seed) => perturbModel(shared, { seed, scale: 0.1 }));
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    models.forEach((m, i) => writeSafetensors(join(fixture.dir, `ft${i + 1}.safetensors`), m));
  });
  after(() => fixture.cleanup());

  for (const count of [2, 3]) {
    for (const chunkElements of [undefined, 64]) {
      test(`${count} fine-tuned models, ${chunkElements ? 'streamed in chunks of 64' : 'held in memory'}`, async () => {
        const names = models.slice(0, count).map((_, i) => `load("ft${i + 1}.safetensors")`);
        const got = await runToTensors(fixture.dir, `save(model_stock(load("base.safetensors"), ${names.join(', ')}), "out.safetensors")\n`, chunkElements);
        for (const [t, tensor] of base.tensors.entries()) {
          const want = modelStockReference(tensor.values, models.slice(0, count).map((m) => m.tensors[t]!.values));
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
          assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
        }
      });
    }
  }

  test('a model equal to the base has cosine 0 with every other: with two models the result is the base', async () => {
    const dir = fixtureDir();
    try {
      writeSafetensors(join(dir.dir, 'base.safetensors'), oneTensor([1, 2, 3, 4]));
      writeSafetensors(join(dir.dir, 'ft.safetensors'), oneTensor([1.5, 2, 2, 4.25]));
      const got = await runToTensors(dir.dir, 'base = load("base.safetensors")\nsave(model_stock(base, load("base.safetensors"), load("ft.safetensors")), "out.safetensors")\n');
      assert.deepEqual([...got.get('w')!], [1, 2, 3, 4]);
    } finally {
      dir.cleanup();
    }
  });

  test('colinear offsets (cosine 1) give t = 1: the mean of the models', async () => {
    const dir = fixtureDir();
    try {
      writeSafetensors(join(dir.dir, 'base.safetensors'), oneTensor([1, 2, 3, 4]));
      writeSafetensors(join(dir.dir, 'a.safetensors'), oneTensor([1.5, 2, 2, 4.25]));
      writeSafetensors(join(dir.dir, 'b.safetensors'), oneTensor([2, 2, 1, 4.5]));
      const got = await runToTensors(dir.dir, 'save(model_stock(load("base.safetensors"), load("a.safetensors"), load("b.safetensors")), "out.safetensors")\n');
      const { error } = worstError(got.get('w')!, [1.75, 2, 1.5, 4.375], 1);
      assert.ok(error <= 1e-7, `error ${error}`);
    } finally {
      dir.cleanup();
    }
  });

  test('the checker wants two fine-tuned Models besides the base', async () => {
    const recipe = 'base = load("base.safetensors")\na = model_stock(base, load("ft1.safetensors"))\nb = model_stock(base, load("ft1.safetensors") - base, load("ft2.safetensors"))\n';
    const analysis = await analyzeRecipe(fixture.dir, recipe);
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['argument-count', 'type-mismatch']);
    assert.match(errors[0]!.message, /model_stock\(\) needs at least two fine-tuned models besides the base/);
  });
});
