// breadcrumbs_ties() from recipe text to the saved file, against a float64 reference written
// from the method's definition (per vector: rank the magnitudes, drop the top gamma
// fraction, keep the next density fraction; then elect each element's sign by the sum of
// the masked values and average the masked values of that sign), on tensors held in memory
// and streamed, and on hand-written values with ties and a sum of exactly zero.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { METHOD_SPECS, breadcrumbsByRank, runToTensors } from './method-fixtures.ts';

/** TIES's election and disjoint mean, in float64: 0 where the sum is 0 or no value agrees. */
function disjointMean(masked: readonly Float64Array[]): Float64Array {
  const n = masked[0]!.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const sign = Math.sign(masked.reduce((s, m) => s + m[i]!, 0));
    const agree = masked.map((m) => m[i]!).filter((v) => v !== 0 && Math.sign(v) === sign);
    out[i] = agree.length === 0 ? 0 : agree.reduce((s, v) => s + v, 0) / agree.length;
  }
  return out;
}

describe('breadcrumbs_ties', () => {
  const fixture = fixtureDir();
  const base = makeModel(METHOD_SPECS, { seed: 1 });
  const finetuned = [2, 3, 4].map((seed) => perturbModel(base, { seed, scale: 0.1 }));
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    finetuned.forEach((model, i) => writeSafetensors(join(fixture.dir, `ft${i}.safetensors`), model));
  });
  after(() => fixture.cleanup());

  const header = 'base = load("base.safetensors")\na = load("ft0.safetensors") - base\nb = load("ft1.safetensors") - base\nc = load("ft2.safetensors") - base\n';
  const cases = [
    { density: 0.3, gamma: 0.1, why: 'a band in the middle' },
    { density: 0.95, gamma: 0.1, why: 'density + gamma > 1: fewer outliers dropped' },
    { density: 0.5, gamma: 0, why: 'no outliers: TIES' },
  ];
  for (const { density, gamma, why } of cases) {
    for (const chunkElements of [undefined, 64]) {
      test(`density=${density}, gamma=${gamma} (${why}), ${chunkElements ? 'streamed in chunks of 64' : 'held in memory'}`, async () => {
        const recipe = `${header}save(base + 0.7*breadcrumbs_ties(a, b, c, density=${density}, gamma=${gamma}), "out.safetensors")\n`;
        const got = await runToTensors(fixture.dir, recipe, chunkElements);
        for (const [t, tensor] of base.tensors.entries()) {
          // The engine's deltas are float32 (each value is rounded once); the reference ranks those.
          const deltas = finetuned.map((ft) => ft.tensors[t]!.values.map((v, i) => Math.fround(v - tensor.values[i]!)));
          const merged = disjointMean(deltas.map((d) => breadcrumbsByRank(d, density, gamma)));
          const want = merged.map((v, i) => tensor.values[i]! + 0.7 * v);
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
          assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
        }
      });
    }
  }

  test('one vector: its breadcrumbs band', async () => {
    const got = await runToTensors(fixture.dir, `${header}save(breadcrumbs_ties(a, density=0.4, gamma=0.05) - breadcrumbs(a, density=0.4, gamma=0.05), "out.safetensors")\n`);
    for (const values of got.values()) assert.ok(values.every((v) => v === 0));
  });

  test('ties at the thresholds follow breadcrumbs; an element whose masked values sum to 0 is 0', async () => {
    const dir = fixtureDir();
    try {
      const model = (v: readonly number[]): FixtureModel => ({ tensors: [{ name: 'w', dtype: 'F32', shape: [10], values: Float64Array.from(v) }] });
      writeSafetensors(join(dir.dir, 'base.safetensors'), model(new Array<number>(10).fill(0)));
      // gamma 0.1 and density 0.3 over 10 elements: k_top = 1, k = 3.
      // x: the two 5s are both outliers, the 4th largest magnitude (3) is held three times: all kept.
      writeSafetensors(join(dir.dir, 'x.safetensors'), model([-5, 5, 4, -3, 3, 3, 2, -1, 1, 0]));
      // y: 9 is the outlier; 2, -2, 2 are the next three (kept); the rest dropped.
      writeSafetensors(join(dir.dir, 'y.safetensors'), model([0, 1, -2, 2, 9, 1, -1, 2, 1, 0]));
      // x band: [0, 0, 4, -3, 3, 3, 0, 0, 0, 0]; y band: [0, 0, -2, 2, 0, 0, 0, 2, 0, 0].
      // Sums: [0, 0, 2, -1, 3, 3, 0, 2, 0, 0]: element 2 elects +, keeps 4; element 3 elects -, keeps -3.
      const recipe = 'base = load("base.safetensors")\nsave(breadcrumbs_ties(load("x.safetensors") - base, load("y.safetensors") - base, density=0.3, gamma=0.1), "out.safetensors")\n';
      for (const chunkElements of [undefined, 4]) {
        assert.deepEqual([...(await runToTensors(dir.dir, recipe, chunkElements)).get('w')!], [0, 0, 4, -3, 3, 3, 0, 2, 0, 0]);
      }
      // Masked values 2 and -2 sum to exactly 0: no sign is elected (mergekit would elect + and keep 2).
      writeSafetensors(join(dir.dir, 'x.safetensors'), model([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      writeSafetensors(join(dir.dir, 'y.safetensors'), model([-2, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      const zero = 'base = load("base.safetensors")\nsave(breadcrumbs_ties(load("x.safetensors") - base, load("y.safetensors") - base, density=0.5, gamma=0), "out.safetensors")\n';
      assert.deepEqual([...(await runToTensors(dir.dir, zero)).get('w')!], new Array<number>(10).fill(0));
    } finally {
      dir.cleanup();
    }
  });

  test('the checker keeps density and gamma in range and wants Vectors', async () => {
    const recipe = `${header}p = breadcrumbs_ties(a, b, density=0)\nq = breadcrumbs_ties(a, b, gamma=1)\nr = breadcrumbs_ties(a, base)\n`;
    const analysis = await analyzeFile(recipe, join(fixture.dir, 'recipe.tvr'), new HeaderCache());
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['invalid-value', 'invalid-value', 'type-mismatch']);
    assert.match(errors[0]!.message, /'density' of breadcrumbs_ties\(\) must be > 0/);
    assert.match(errors[1]!.message, /'gamma' of breadcrumbs_ties\(\) must be < 1/);
  });
});
