// karcher() from recipe text to the saved file, against a float64 reference written from
// mergekit's karcher_merge_tensors (equal weights) on the tensors themselves, where the
// engine iterates on coefficients from the Gram matrix: held in memory and streamed, on
// Models and on Vectors, with a zero input, colinear inputs and one input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, dot, finetunedModels, runToTensors, withOneTensorModels } from './method-fixtures.ts';

const norm = (x: Float64Array): number => Math.sqrt(dot(x, x));
const scaled = (x: Float64Array, s: number): Float64Array => x.map((v) => v * s);
const plus = (x: Float64Array, y: Float64Array, s = 1): Float64Array => x.map((v, i) => v + s * y[i]!);

function karcherReference(xs: readonly Float64Array[], maxIter = 10, tol = 1e-5): Float64Array {
  if (xs.length === 1) return xs[0]!;
  const alpha = 1 / xs.length;
  const norms = xs.map(norm);
  const valid = xs.flatMap((x, i) => (norms[i]! > tol ? [scaled(x, 1 / norms[i]!)] : []));
  if (valid.length === 0) return new Float64Array(xs[0]!.length);
  const a = 1 / valid.length;
  let u = valid.reduce((sum, ui) => plus(sum, ui, a), new Float64Array(xs[0]!.length));
  u = norm(u) < tol ? valid[0]! : scaled(u, 1 / norm(u));
  for (let iter = 0; iter < maxIter; iter++) {
    let step: Float64Array = new Float64Array(u.length);
    for (const ui of valid) {
      const d = Math.min(1, Math.max(-1, dot(u, ui)));
      const theta = Math.acos(d);
      if (theta < tol) continue;
      step = plus(step, plus(ui, u, -d), (a * theta) / Math.sin(theta));
    }
    const length = norm(step);
    if (length < tol) break;
    u = plus(scaled(u, Math.cos(length)), step, Math.sin(length) / length);
    if (norm(u) > tol) u = scaled(u, 1 / norm(u));
  }
  return scaled(u, norms.reduce((s, n) => s + alpha * n, 0));
}

describe('karcher', () => {
  const fixture = finetunedModels(3, 0.5);
  const { base } = fixture;
  const models = fixture.finetuned;

  for (const chunkElements of [undefined, 64]) {
    const how = chunkElements ? 'streamed in chunks of 64' : 'held in memory';
    test(`three Models, ${how}`, async () => {
      const got = await runToTensors(fixture.dir, 'save(karcher(load("ft1.safetensors"), load("ft2.safetensors"), load("ft3.safetensors")), "out.safetensors")\n', chunkElements);
      for (const [t, tensor] of base.tensors.entries()) {
        const want = karcherReference(models.map((m) => m.tensors[t]!.values));
        const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
      }
    });

    test(`two Vectors and fewer iterations, ${how}: a Vector`, async () => {
      const recipe = 'base = load("base.safetensors")\nv = karcher(load("ft1.safetensors") - base, load("ft2.safetensors") - base, max_iter=2, tol=1e-3)\nsave(base + v, "out.safetensors")\n';
      const analysis = await analyzeRecipe(fixture.dir, recipe);
      assert.equal(analysis.diagnostics.filter((d) => d.severity === 'error').length, 0);
      const got = await runToTensors(fixture.dir, recipe, chunkElements);
      for (const [t, tensor] of base.tensors.entries()) {
        const deltas = models.slice(0, 2).map((m) => m.tensors[t]!.values.map((v, i) => Math.fround(v - tensor.values[i]!)));
        const want = plus(tensor.values, karcherReference(deltas, 2, 1e-3));
        // The Vector is rounded to float32 before the base is added: errors are float32 steps of values near 1.
        const { error, index } = worstError(got.get(tensor.name)!, want, 1);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
      }
    });
  }

  test('a zero input takes no part in the direction but counts in the mean norm; colinear inputs give their common direction', async () => {
    await withOneTensorModels({ zero: [0, 0, 0, 0], a: [1, 2, -2, 4], b: [3, 6, -6, 12], c: [4, -1, 0.5, 2] }, async (save) => {
      const run = async (names: string) => new Map([['w', await save(`save(karcher(${names.split(' ').map((n) => `load("${n}.safetensors")`).join(', ')}), "out.safetensors")\n`)]]);
      // |a| = 5, |b| = 15, |0| = 0: the direction of a, scaled by (5 + 15 + 0) / 3.
      const colinear = (await run('a b zero')).get('w')!;
      assert.ok(worstError(colinear, [1, 2, -2, 4].map((v) => (v * 20) / 15), 1).error <= 1e-7, `${[...colinear]}`);
      const inputs = ['zero', 'a', 'c'].map((n) => ({ zero: [0, 0, 0, 0], a: [1, 2, -2, 4], c: [4, -1, 0.5, 2] })[n]!).map((v) => Float64Array.from(v));
      const mixed = (await run('zero a c')).get('w')!;
      assert.ok(worstError(mixed, karcherReference(inputs), 1).error <= 1e-7, `${[...mixed]}`);
      assert.deepEqual([...(await run('zero zero')).get('w')!], [0, 0, 0, 0]);
      assert.deepEqual([...(await run('c')).get('w')!], [4, -1, 0.5, 2]);
    });
  });

  test('the checker wants inputs of one kind', async () => {
    const recipe = 'base = load("base.safetensors")\nm = karcher(base, load("ft1.safetensors") - base)\n';
    const errors = (await analyzeRecipe(fixture.dir, recipe)).diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['type-mismatch']);
    assert.match(errors[0]!.message, /karcher\(\) averages values of one kind: the first is a Model but this is a Vector/);
  });
});
