// Method arguments that vary by tensor, from recipe text to the saved file: a gradient over
// layers and by_tensor(...) filters, against float64 references at the values mergekit's rules
// give each tensor (written out by hand below, not computed by the code under test), held in
// memory and streamed in chunks.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gradientAt, gradientPosition, layerIndex, valueGroups } from '../../../server/src/language/tensor-numbers.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { ties, slerp, worstError } from '../engine/helpers.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';
import { plainText } from '../../../server/src/language/ide/markup.ts';
import { analyzeRecipe, runToTensors } from './method-fixtures.ts';

/** A three-layer model with tensors outside the layers (embedding, final norm, head). */
const SPECS = [
  { name: 'model.embed_tokens.weight', shape: [6, 4] },
  ...[0, 1, 2].flatMap((l) => [
    { name: `model.layers.${l}.self_attn.q_proj.weight`, shape: [4, 4] },
    { name: `model.layers.${l}.mlp.up_proj.weight`, shape: [8, 4] },
  ]),
  { name: 'model.norm.weight', shape: [4] },
  { name: 'lm_head.weight', shape: [6, 4] },
] as const;

describe('per-tensor arguments', () => {
  const fixture = fixtureDir();
  const base = makeModel(SPECS.map((s) => ({ ...s, shape: [...s.shape], dtype: 'F32' as const })), { seed: 1 });
  const a = perturbModel(base, { seed: 2, scale: 0.1 });
  const b = perturbModel(base, { seed: 3, scale: 0.1 });
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    writeSafetensors(join(fixture.dir, 'a.safetensors'), a);
    writeSafetensors(join(fixture.dir, 'b.safetensors'), b);
  });
  after(() => fixture.cleanup());

  const delta = (model: typeof a, t: number) => Float64Array.from(model.tensors[t]!.values, (v, i) => v - base.tensors[t]!.values[i]!);

  // density=[0.2, 0.8] over L = 3 layers: t = l / 2, tensors without a layer index at t = 0.
  const gradientDensity: Record<string, number> = {
    'model.embed_tokens.weight': 0.2,
    'model.layers.0.self_attn.q_proj.weight': 0.2, 'model.layers.0.mlp.up_proj.weight': 0.2,
    'model.layers.1.self_attn.q_proj.weight': 0.5, 'model.layers.1.mlp.up_proj.weight': 0.5,
    'model.layers.2.self_attn.q_proj.weight': 0.8, 'model.layers.2.mlp.up_proj.weight': 0.8,
    'model.norm.weight': 0.2, 'lm_head.weight': 0.2,
  };
  // by_tensor("self_attn", [0, 1], "mlp", 0.25, default=0.7)
  const filteredT: Record<string, number> = {
    'model.embed_tokens.weight': 0.7,
    'model.layers.0.self_attn.q_proj.weight': 0, 'model.layers.0.mlp.up_proj.weight': 0.25,
    'model.layers.1.self_attn.q_proj.weight': 0.5, 'model.layers.1.mlp.up_proj.weight': 0.25,
    'model.layers.2.self_attn.q_proj.weight': 1, 'model.layers.2.mlp.up_proj.weight': 0.25,
    'model.norm.weight': 0.7, 'lm_head.weight': 0.7,
  };

  for (const chunkElements of [undefined, 8]) {
    const how = chunkElements ? 'streamed in chunks of 8' : 'held in memory';
    test(`ties with density=[0.2, 0.8]: each tensor trimmed at its layer's density (${how})`, async () => {
      const recipe = 'base = load("base.safetensors")\nsave(base + ties(load("a.safetensors") - base, load("b.safetensors") - base, density=[0.2, 0.8]), "out.safetensors")\n';
      const got = await runToTensors(fixture.dir, recipe, chunkElements);
      for (const [t, tensor] of base.tensors.entries()) {
        const want = ties([delta(a, t), delta(b, t)], gradientDensity[tensor.name]!).map((v, i) => v + tensor.values[i]!);
        const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
      }
    });

    test(`slerp with t=by_tensor(...): the first matching filter, a gradient within it, the default elsewhere (${how})`, async () => {
      const recipe = 'save(slerp(load("a.safetensors"), load("b.safetensors"), t=by_tensor("self_attn", [0, 1], "mlp", 0.25, default=0.7)), "out.safetensors")\n';
      const got = await runToTensors(fixture.dir, recipe, chunkElements);
      for (const [t, tensor] of a.tensors.entries()) {
        const want = slerp(Float64Array.from(tensor.values), Float64Array.from(b.tensors[t]!.values), filteredT[tensor.name]!);
        const { error, index } = worstError(got.get(tensor.name)!, want, 1);
        assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
      }
    });
  }

  test('hover on the argument lists the value each group of tensors takes', async () => {
    const text = 'base = load("base.safetensors")\nm = slerp(base, load("a.safetensors"), t=by_tensor("self_attn", [0, 1], "mlp", 0.25, default=0.7))\n';
    const analysis = await analyzeRecipe(fixture.dir, text);
    const contents = hover(analysis, text.indexOf('t=by_tensor'), { markup: plainText })?.contents ?? '';
    const rows = contents.split('\n').slice(contents.split('\n').findIndex((line) => line.startsWith('Per tensor'))).map((line) => line.trim().split(/\s{2,}/).join(' | '));
    assert.deepEqual(rows, [
      'Per tensor, over 3 layers:', '',
      'filter | layer | tensors | t',
      '"self_attn" | 0 | 1 | 0', '"self_attn" | 1 | 1 | 0.5', '"self_attn" | 2 | 1 | 1',
      '"mlp" | 0 | 1 | 0.25', '"mlp" | 1 | 1 | 0.25', '"mlp" | 2 | 1 | 0.25',
      'other tensors | none | 3 | 0.7',
    ]);
  });

  test('a per-tensor argument is part of the results-cache key: two gradients give two outputs', async () => {
    const run = (density: string) => runToTensors(fixture.dir, `base = load("base.safetensors")\nsave(base + ties(load("a.safetensors") - base, load("b.safetensors") - base, density=${density}), "out.safetensors")\n`);
    const [low, high] = [await run('[0.2, 0.8]'), await run('[0.8, 0.2]')];
    assert.notDeepEqual([...low.get('model.layers.0.mlp.up_proj.weight')!], [...high.get('model.layers.0.mlp.up_proj.weight')!]);
  });
});

test('gradients as mergekit evaluates them: positions, interpolation, one layer, names without an index', () => {
  const rows: readonly [string, number, number][] = [
    // name, layers, position
    ['model.layers.0.mlp.up_proj.weight', 5, 0],
    ['model.layers.3.mlp.up_proj.weight', 5, 0.75],
    ['model.layers.4.mlp.up_proj.weight', 5, 1],
    ['transformer.h.2.attn.c_attn.weight', 3, 1],
    ['model.layers.0.mlp.up_proj.weight', 1, 1],
    ['model.embed_tokens.weight', 5, 0],
    ['lm_head.weight', 5, 0],
  ];
  for (const [name, layers, position] of rows) assert.equal(gradientPosition(name, layers), position, `${name} of ${layers} layers`);
  const values = [0, 0.5, 0.3, 0.7, 1];
  assert.deepEqual([0, 0.125, 0.25, 0.375, 0.5, 1].map((t) => gradientAt(values, t)), [0, 0.25, 0.5, 0.4, 0.3, 1]);
  assert.equal(gradientAt([0.4], 0.9), 0.4);
  assert.equal(layerIndex('encoder.layer.11.output.dense.weight'), 11);
});

test('value groups for hover: one per rule and layer, counting tensors, in rule order', () => {
  const names = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.weight', 'model.layers.1.self_attn.q_proj.weight', 'model.layers.1.mlp.up_proj.weight'];
  const groups = valueGroups({ rules: [{ filter: 'self_attn', values: [0, 1] }, { filter: null, values: [0.5] }] }, names, 2);
  assert.deepEqual(groups, [
    { filter: 'self_attn', layer: 0, value: 0, tensors: 2 },
    { filter: 'self_attn', layer: 1, value: 1, tensors: 1 },
    { filter: null, layer: undefined, value: 0.5, tensors: 1 },
    { filter: null, layer: 1, value: 0.5, tensors: 1 },
  ]);
});
