// lines() (LiNeS) from recipe text to the saved file, against a float64 reference written
// from the method's definition: layer l of L scaled by alpha + (beta - alpha) l / (L - 1),
// tensors without a layer index by alpha. The engine computes each output element in
// float64 and rounds it once to float32, so the result is the reference to float32 rounding.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { layerIndex } from '../../../server/src/language/tensor-numbers.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, runToTensors } from './method-fixtures.ts';

/** A Llama-named vector of four layers, with tensors outside any layer (embedding, head). */
const SPECS = [
  { name: 'model.embed_tokens.weight', shape: [16, 8] },
  { name: 'model.layers.0.mlp.up_proj.weight', shape: [12, 8] },
  { name: 'model.layers.1.mlp.up_proj.weight', shape: [12, 8] },
  { name: 'model.layers.2.mlp.up_proj.weight', shape: [12, 8] },
  { name: 'model.layers.3.mlp.up_proj.weight', shape: [12, 8] },
  { name: 'model.layers.3.input_layernorm.weight', shape: [8] },
  { name: 'lm_head.weight', shape: [16, 8] },
];

/** The scale the definition gives a tensor: its layer by name, written out here rather than parsed. */
const LAYER: Readonly<Record<string, number | undefined>> = {
  'model.layers.0.mlp.up_proj.weight': 0,
  'model.layers.1.mlp.up_proj.weight': 1,
  'model.layers.2.mlp.up_proj.weight': 2,
  'model.layers.3.mlp.up_proj.weight': 3,
  'model.layers.3.input_layernorm.weight': 3,
};

function scaleOf(name: string, alpha: number, beta: number, layers: number): number {
  const l = LAYER[name];
  return l === undefined || layers <= 1 ? alpha : alpha + (beta - alpha) * l / (layers - 1);
}

test('layer indices from tensor names', () => {
  const cases: [string, number | undefined][] = [
    ['model.layers.3.mlp.up_proj.weight', 3],
    ['model.layers.10.mlp.experts.0.w1.weight', 10],
    ['transformer.h.11.attn.c_attn.weight', 11],
    ['h.0.ln_1.weight', 0],
    ['bert.encoder.layer.5.attention.self.query.weight', 5],
    ['blocks.2.attn.qkv.weight', 2],
    ['vision/blocks/7/mlp/kernel', 7],
    ['model.layers.03.x', 3],
    ['model.embed_tokens.weight', undefined],
    ['lm_head.weight', undefined],
    ['model.mylayers.3.weight', undefined],
    ['model.layers.x.weight', undefined],
    ['model.layers.3', undefined],
    ['transformer.wte.weight', undefined],
  ];
  for (const [name, want] of cases) assert.equal(layerIndex(name), want, name);
});

describe('lines', () => {
  const fixture = fixtureDir();
  const base = makeModel(SPECS, { seed: 1 });
  const finetuned = perturbModel(base, { seed: 2, scale: 0.1 });
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    writeSafetensors(join(fixture.dir, 'ft.safetensors'), finetuned);
  });
  after(() => fixture.cleanup());

  const header = 'base = load("base.safetensors")\nv = load("ft.safetensors") - base\n';
  const cases = [
    { args: '', alpha: 0, beta: 1, layers: 4, why: 'the defaults: 0 at the first layer, 1 at the last, L counted from the names' },
    { args: ', alpha=0.2, beta=0.9', alpha: 0.2, beta: 0.9, layers: 4, why: 'increasing' },
    { args: ', alpha=1.5, beta=-0.5', alpha: 1.5, beta: -0.5, layers: 4, why: 'decreasing through zero' },
    { args: ', alpha=0.25, beta=1, layers=7', alpha: 0.25, beta: 1, layers: 7, why: 'L given: the vector holds the first four of seven layers' },
  ];
  for (const { args, alpha, beta, layers, why } of cases) {
    for (const chunkElements of [undefined, 8]) {
      test(`${why}, ${chunkElements ? 'streamed in chunks of 8' : 'held in memory'}`, async () => {
        const got = await runToTensors(fixture.dir, `${header}save(lines(v${args}), "out.safetensors")\n`, chunkElements);
        for (const [t, tensor] of base.tensors.entries()) {
          const scale = scaleOf(tensor.name, alpha, beta, layers);
          const want = finetuned.tensors[t]!.values.map((v, i) => scale * (v - tensor.values[i]!));
          // One rounding to float32: at most 2^-24 relative (a tiny floor for exact zeros).
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-30);
          assert.ok(error <= 2 ** -24 * 1.0001, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]} (scale ${scale})`);
        }
      });
    }
  }

  test('added to its base, then merged models: base + lines(ft - base)', async () => {
    const got = await runToTensors(fixture.dir, `${header}save(base + lines(v, alpha=0.5, beta=1), "out.safetensors")\n`);
    for (const [t, tensor] of base.tensors.entries()) {
      const scale = scaleOf(tensor.name, 0.5, 1, 4);
      const want = tensor.values.map((b, i) => b + scale * (finetuned.tensors[t]!.values[i]! - b));
      const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
      assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
    }
  });

  test('the checker: layers must cover the deepest layer; a vector without layer names is warned of', async () => {
    const analysis = await analyzeRecipe(fixture.dir, `${header}a = lines(v, layers=3)\nb = lines(v, layers=2.5)\nc = lines(base)\nd = lines(select(v, "lm_head.weight"))\n`);
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.code), ['invalid-value', 'invalid-value', 'type-mismatch']);
    assert.match(errors[0]!.message, /layers=3, but tensor model\.layers\.3\.\S+ of this vector is in layer 3 .*layers=4/);
    const warnings = analysis.diagnostics.filter((d) => d.severity === 'warning' && d.code === 'invalid-value');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /no tensor name of this vector gives a layer index/);
  });
});
