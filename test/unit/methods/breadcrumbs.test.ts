// breadcrumbs() from recipe text to the saved file, against a float64 reference written
// from the method's definition (rank the magnitudes, drop the top gamma fraction, keep the
// next density fraction), on tensors held in memory and streamed, and on a tensor whose
// magnitudes tie at both thresholds.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { METHOD_SPECS, breadcrumbsByRank, runToTensors } from './method-fixtures.ts';

describe('breadcrumbs', () => {
  const fixture = fixtureDir();
  const base = makeModel(METHOD_SPECS, { seed: 1 });
  const finetuned = perturbModel(base, { seed: 2, scale: 0.1 });
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    writeSafetensors(join(fixture.dir, 'ft.safetensors'), finetuned);
  });
  after(() => fixture.cleanup());

  const cases = [
    { density: 0.3, gamma: 0.1, why: 'a band in the middle' },
    { density: 0.95, gamma: 0.1, why: 'density + gamma > 1: fewer outliers dropped' },
    { density: 0.5, gamma: 0, why: 'no outliers: magnitude pruning' },
  ];
  for (const { density, gamma, why } of cases) {
    for (const chunkElements of [undefined, 64]) {
      test(`density=${density}, gamma=${gamma} (${why}), ${chunkElements ? 'streamed in chunks of 64' : 'held in memory'}`, async () => {
        const recipe = `base = load("base.safetensors")\nv = load("ft.safetensors") - base\nsave(base + breadcrumbs(v, density=${density}, gamma=${gamma}), "out.safetensors")\n`;
        const got = await runToTensors(fixture.dir, recipe, chunkElements);
        for (const [t, tensor] of base.tensors.entries()) {
          const delta = finetuned.tensors[t]!.values.map((v, i) => v - tensor.values[i]!);
          const want = breadcrumbsByRank(delta, density, gamma).map((v, i) => v + tensor.values[i]!);
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
          assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
        }
      });
    }
  }

  test('density + gamma > 1: the outliers of a difference are exactly 0, not its float32 rounding error', async () => {
    // The band is then everything but the outliers; ft - base is a linear node, which must not be
    // flattened into the band's difference (that left (ft - base) - round32(ft - base) at the outliers).
    const got = await runToTensors(fixture.dir, 'base = load("base.safetensors")\nsave(breadcrumbs(load("ft.safetensors") - base, density=0.95, gamma=0.1), "out.safetensors")\n');
    for (const [t, tensor] of base.tensors.entries()) {
      const delta = finetuned.tensors[t]!.values.map((v, i) => Math.fround(v - tensor.values[i]!));
      const want = breadcrumbsByRank(delta, 0.95, 0.1);
      assert.deepEqual([...got.get(tensor.name)!], [...want], tensor.name);
    }
  });

  test('ties: all of a tie at the outlier threshold dropped, all of a tie at the lower threshold kept', async () => {
    const dir = fixtureDir();
    try {
      const values = Float64Array.from([-5, 5, 4, -3, 3, 3, 2, -1, 1, 0]);
      const model = (v: Float64Array): FixtureModel => ({ tensors: [{ name: 'w', dtype: 'F32', shape: [10], values: v }] });
      writeSafetensors(join(dir.dir, 'base.safetensors'), model(new Float64Array(10)));
      writeSafetensors(join(dir.dir, 'ft.safetensors'), model(values));
      // gamma 0.1: the largest magnitude is 5, held twice: both are outliers. density 0.3: the
      // 1 + 3 = 4th largest is 3, held three times: all are kept (4 elements, not 3).
      const recipe = 'base = load("base.safetensors")\nsave(breadcrumbs(load("ft.safetensors") - base, density=0.3, gamma=0.1), "out.safetensors")\n';
      for (const chunkElements of [undefined, 4]) {
        assert.deepEqual([...(await runToTensors(dir.dir, recipe, chunkElements)).get('w')!], [0, 0, 4, -3, 3, 3, 0, 0, 0, 0]);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('the checker keeps density and gamma in range and wants a Vector', async () => {
    const recipe = 'base = load("base.safetensors")\nv = load("ft.safetensors") - base\na = breadcrumbs(v, density=0)\nb = breadcrumbs(v, gamma=1)\nc = breadcrumbs(base)\n';
    const analysis = await analyzeFile(recipe, join(fixture.dir, 'recipe.tvr'), new HeaderCache());
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['invalid-value', 'invalid-value', 'type-mismatch']);
    assert.match(errors[0]!.message, /'density' of breadcrumbs\(\) must be > 0/);
    assert.match(errors[1]!.message, /'gamma' of breadcrumbs\(\) must be < 1/);
  });
});
