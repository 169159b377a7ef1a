// multislerp() from recipe text to the saved file, against a float64 reference written from
// mergekit's multislerp on the tensors themselves (the engine works on coefficients from
// the Gram matrix): held in memory and streamed, about a base (mergekit's base_model), the
// linear fallback of two antipodal inputs, the error of more, and the checker's rules.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runProgram } from '../../../server/src/engine/index.ts';
import { fixtureDir, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, combination, dot, finetunedModels, oneTensor, runToTensors } from './method-fixtures.ts';

const norm = (x: ArrayLike<number>): number => Math.sqrt(dot(x, x));

function multislerpReference(inputs: readonly Float64Array[], given: readonly number[], base?: Float64Array, eps = 1e-8): Float64Array {
  const xs = base ? inputs.map((x) => x.map((v, i) => v - base[i]!)) : inputs;
  const total = given.reduce((a, b) => a + b, 0);
  const w = given.map((x) => x / total);
  const norms = xs.map(norm);
  const units = xs.map((x, i) => x.map((v) => v / (norms[i]! + eps)));
  const sum = combination(w, units);
  const sumNorm = norm(sum);
  const withBase = (r: Float64Array) => (base ? r.map((v, i) => v + base[i]!) : r);
  if (sumNorm < eps) {
    assert.equal(xs.length, 2, 'the reference raises for more than two');
    return withBase(combination(w, xs));
  }
  const mean = sum.map((v) => v / sumNorm);
  const tangents = units.map((u) => { const d = dot(u, mean); return u.map((v, i) => v - d * mean[i]!); });
  const tangent = combination(w, tangents);
  const angle = norm(tangent) + eps;
  const scale = norms.reduce((s, n, i) => s + n * w[i]!, 0);
  return withBase(combination([scale * Math.cos(angle), (scale * Math.sin(angle)) / angle], [mean, tangent]));
}

describe('multislerp', () => {
  const fixture = finetunedModels(3, 0.5);
  const { base } = fixture;
  const models = fixture.finetuned;

  const weights = [0.5, 0.3, 0.4];
  for (const chunkElements of [undefined, 64]) {
    const how = chunkElements ? 'streamed in chunks of 64' : 'held in memory';
    test(`three Models, weights normalised, ${how}`, async () => {
      const got = await runToTensors(fixture.dir, `save(multislerp(load("ft1.safetensors"), load("ft2.safetensors"), load("ft3.safetensors"), weights=[${weights}]), "out.safetensors")\n`, chunkElements);
      for (const [t, tensor] of base.tensors.entries()) {
        const want = multislerpReference(models.map((m) => m.tensors[t]!.values), weights);
        const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
      }
    });

    test(`about a base (mergekit's base_model), ${how}`, async () => {
      const recipe = 'base = load("base.safetensors")\nsave(base + multislerp(load("ft1.safetensors") - base, load("ft2.safetensors") - base, weights=[1, 3]), "out.safetensors")\n';
      const got = await runToTensors(fixture.dir, recipe, chunkElements);
      for (const [t, tensor] of base.tensors.entries()) {
        const want = multislerpReference(models.slice(0, 2).map((m) => m.tensors[t]!.values), [1, 3], tensor.values);
        // The interpolated Vector is rounded to float32 before the base is added.
        const { error, index } = worstError(got.get(tensor.name)!, want, 1);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
      }
    });
  }

  test('two antipodal inputs whose weights balance are interpolated linearly; three stop the run naming the tensor', async () => {
    const dir = fixtureDir();
    try {
      writeSafetensors(join(dir.dir, 'a.safetensors'), oneTensor([1, 2, -2, 4]));
      writeSafetensors(join(dir.dir, 'b.safetensors'), oneTensor([-2, -4, 4, -8]));
      writeSafetensors(join(dir.dir, 'c.safetensors'), oneTensor([4, -1, 0.5, 2]));
      writeSafetensors(join(dir.dir, 'zero.safetensors'), oneTensor([0, 0, 0, 0]));
      const load = (n: string) => `load("${n}.safetensors")`;
      const two = await runToTensors(dir.dir, `save(multislerp(${load('a')}, ${load('b')}, weights=[1, 1]), "out.safetensors")\n`);
      assert.deepEqual([...two.get('w')!], [-0.5, -1, 1, -2]);
      // A zero input has no direction and norm 0: with c it is c's direction at half c's norm.
      const zero = await runToTensors(dir.dir, `save(multislerp(${load('zero')}, ${load('c')}, weights=[1, 1]), "out.safetensors")\n`);
      assert.ok(worstError(zero.get('w')!, multislerpReference([new Float64Array(4), Float64Array.from([4, -1, 0.5, 2])], [1, 1]), 1).error <= 1e-7);
      const recipe = `save(multislerp(${load('a')}, ${load('b')}, ${load('c')}, weights=[1, 1, 0]), "out.safetensors")\n`;
      const analysis = await analyzeRecipe(dir.dir, recipe);
      await assert.rejects(runProgram(analysis.checked.program, { backend: 'js', recipeText: recipe, overwrite: true }),
        /line 1: tensor w: the weighted mean of the inputs' directions is zero .*multislerp\(\)/);
    } finally {
      dir.cleanup();
    }
  });

  test('without weights, every input weighs the same', async () => {
    const got = await runToTensors(fixture.dir, 'save(multislerp(load("ft1.safetensors"), load("ft2.safetensors")), "out.safetensors")\n');
    for (const [t, tensor] of base.tensors.entries()) {
      const want = multislerpReference(models.slice(0, 2).map((m) => m.tensors[t]!.values), [1, 1]);
      assert.ok(worstError(got.get(tensor.name)!, want, 1e-2).error <= 1e-6, tensor.name);
    }
  });

  test('the checker wants a weight per input, not summing to 0, and inputs of one kind', async () => {
    const recipe = 'base = load("base.safetensors")\na = multislerp(base, load("ft1.safetensors"), weights=[1])\nb = multislerp(base, load("ft1.safetensors"), weights=[1, -1])\nc = multislerp(base, base - base, weights=[1, 1])\n';
    const errors = (await analyzeRecipe(fixture.dir, recipe)).diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['invalid-value', 'invalid-value', 'type-mismatch']);
    assert.match(errors[0]!.message, /multislerp\(\) takes a weight per input: it was given 1 weight for 2 inputs/);
    assert.match(errors[1]!.message, /the weights of multislerp\(\) sum to 0/);
    assert.match(errors[2]!.message, /multislerp\(\) interpolates values of one kind/);
  });
});
