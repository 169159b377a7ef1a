// nuslerp() from recipe text to the saved file, against a float64 reference written from
// mergekit's nuslerp with flatten=True on the tensors themselves: held in memory and
// streamed, with a sweep of t, a zero tensor (not linear, unlike slerp), exactly colinear
// tensors (linear) and nearly colinear ones (spherical, unlike slerp).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, combination, dot, finetunedModels, runToTensors, withOneTensorModels } from './method-fixtures.ts';

function nuslerpReference(a: Float64Array, b: Float64Array, t: number): Float64Array {
  const unitOf = (x: Float64Array) => { const n = Math.max(1e-7, Math.sqrt(dot(x, x))); return x.map((v) => v / n); };
  const theta = Math.acos(Math.min(1, Math.max(-1, dot(unitOf(a), unitOf(b)))));
  const sin = Math.sin(theta);
  if (Math.abs(sin) < 1e-8) return combination([1 - t, t], [a, b]);
  return combination([Math.sin((1 - t) * theta) / sin, Math.sin(t * theta) / sin], [a, b]);
}

describe('nuslerp', () => {
  const fixture = finetunedModels(2, 0.5);
  const { base } = fixture;
  const models = fixture.finetuned;

  for (const t of [0.3, 0.5]) {
    for (const chunkElements of [undefined, 64]) {
      test(`t=${t}, ${chunkElements ? 'streamed in chunks of 64' : 'held in memory'}`, async () => {
        const got = await runToTensors(fixture.dir, `save(nuslerp(load("ft1.safetensors"), load("ft2.safetensors"), t=${t}), "out.safetensors")\n`, chunkElements);
        for (const [i, tensor] of base.tensors.entries()) {
          const want = nuslerpReference(models[0]!.tensors[i]!.values, models[1]!.tensors[i]!.values, t);
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
          assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (error ${error})`);
        }
      });
    }
  }

  test('guards: a zero tensor scales the other by sin(t pi/2); colinear tensors are linear; nearly colinear ones spherical', async () => {
    const tensors = { zero: [0, 0, 0, 0], a: [1, 2, -2, 4], twice: [2, 4, -4, 8], near: [1, 2, -2, 4.01] };
    await withOneTensorModels(tensors, async (save) => {
      const run = (a: string, b: string, t: number) => save(`save(nuslerp(load("${a}.safetensors"), load("${b}.safetensors"), t=${t}), "out.safetensors")\n`);
      const zero = await run('zero', 'a', 0.3);
      assert.ok(worstError(zero, tensors.a.map((v) => v * Math.sin(0.3 * Math.PI / 2)), 1).error <= 1e-7, `${[...zero]}`);
      assert.deepEqual([...(await run('a', 'twice', 0.5))], [1.5, 3, -3, 6]);
      // |cos| > 0.9995: slerp would interpolate linearly; nuslerp stays on the arc, whose middle is longer.
      const near = await run('a', 'near', 0.5);
      const want = nuslerpReference(Float64Array.from(tensors.a), Float64Array.from(tensors.near), 0.5);
      assert.ok(worstError(near, want, 1).error <= 1e-7, `${[...near]} against ${[...want]}`);
      assert.notDeepEqual([...near], [...combination([0.5, 0.5], [Float64Array.from(tensors.a), Float64Array.from(tensors.near)])].map(Math.fround));
    });
  });

  test('t may be a sweep; the checker wants a and b of one kind and t in [0, 1]', async () => {
    const recipe = 'base = load("base.safetensors")\nlam = sweep(0, 1, 0.5)\nm = nuslerp(load("ft1.safetensors"), load("ft2.safetensors"), t=lam)\na = nuslerp(base, load("ft1.safetensors") - base)\nb = nuslerp(base, base, t=2)\n';
    const errors = (await analyzeRecipe(fixture.dir, recipe)).diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['type-mismatch', 'invalid-value']);
    assert.match(errors[0]!.message, /nuslerp\(\) interpolates two values of one kind: a is a Model but b is a Vector/);
  });
});
