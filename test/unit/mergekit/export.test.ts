// `tvr export mergekit`: checked recipes -> mergekit configurations (as data), and back through
// `tvr import mergekit` to the same merge: per-tensor arguments as mergekit's gradients and filter
// lists, and the interpolating methods of loaded models.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { exportMergekit } from '../../../server/src/mergekit/export.ts';
import { importMergekit } from '../../../server/src/mergekit/import.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { analyzeRecipe } from '../methods/method-fixtures.ts';

const loads = 'base = load("base.safetensors")\na = load("a.safetensors")\nb = load("b.safetensors")\n';

const cases: readonly { name: string; merged: string; config: Record<string, unknown>; imported: string }[] = [
  {
    name: 'slerp with t by tensor: a filter list of gradients, the default last',
    merged: 'slerp(a, b, t=by_tensor("self_attn", [0, 1], default=0.5), zero="angle")',
    config: { merge_method: 'slerp', base_model: 'a.safetensors', models: [{ model: 'a.safetensors' }, { model: 'b.safetensors' }], parameters: { t: [{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }] }, dtype: 'float32' },
    imported: 'merged = slerp(base, model_1, t=by_tensor("self_attn", [0, 1], default=0.5), zero="angle")',
  },
  {
    name: 'ties with a gradient density and mergekit\'s consensus and rounding: the same merge back',
    merged: 'base + 0.5*ties(a - base, b - base, density=[0.2, 0.8], zero_sum="plus", rounding="float")',
    config: { merge_method: 'ties', base_model: 'base.safetensors', models: [{ model: 'a.safetensors', parameters: { weight: 1, density: [0.2, 0.8] } }, { model: 'b.safetensors', parameters: { weight: 1, density: [0.2, 0.8] } }], parameters: { normalize: true, lambda: 0.5 }, dtype: 'float32' },
    imported: 'merged = base + 0.5*ties(model_1 - base, model_2 - base, density=[0.2, 0.8], rounding="float", zero_sum="plus")',
  },
  {
    name: 'model_stock of loaded models',
    merged: 'model_stock(base, a, b)',
    config: { merge_method: 'model_stock', base_model: 'base.safetensors', models: [{ model: 'a.safetensors' }, { model: 'b.safetensors' }], dtype: 'float32' },
    imported: 'merged = model_stock(base, model_1, model_2)',
  },
  {
    name: 'nuslerp: t as the two models\' weights',
    merged: 'nuslerp(a, b, t=0.25)',
    config: { merge_method: 'nuslerp', models: [{ model: 'a.safetensors', parameters: { weight: 0.75 } }, { model: 'b.safetensors', parameters: { weight: 0.25 } }], dtype: 'float32' },
    imported: 'merged = nuslerp(model_1, model_2, t=0.25)',
  },
];

describe('tvr export mergekit: recipe -> configuration -> recipe', () => {
  const fixture = fixtureDir();
  before(() => {
    const base = makeModel([{ name: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 4] }, { name: 'model.layers.1.mlp.up_proj.weight', shape: [4, 4] }], { seed: 1 });
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    writeSafetensors(join(fixture.dir, 'a.safetensors'), perturbModel(base, { seed: 2, scale: 0.1 }));
    writeSafetensors(join(fixture.dir, 'b.safetensors'), perturbModel(base, { seed: 3, scale: 0.1 }));
  });
  after(() => fixture.cleanup());

  for (const c of cases) {
    it(c.name, async () => {
      const analysis = await analyzeRecipe(fixture.dir, `${loads}merged = ${c.merged}\nsave(merged, "out.safetensors")\n`);
      const exported = exportMergekit(analysis.checked.program, { configDir: fixture.dir });
      assert.ok(exported.yaml !== null, JSON.stringify(exported.reports));
      assert.deepEqual(parse(exported.yaml), c.config);
      const back = importMergekit(exported.yaml, { configDir: fixture.dir, recipeDir: fixture.dir, configName: 'config.yml' });
      assert.ok(back.recipe?.split('\n').includes(c.imported), back.recipe ?? JSON.stringify(back.reports));
    });
  }
});
