// lora(): PEFT adapters written by the test, applied by recipes and saved, against ΔW
// computed from the stored factors in float64 (scale · B·A, per-module rank and alpha from
// rank_pattern and alpha_pattern, rsLoRA, fan_in_fan_out and embeddings transposed); the
// checks before anything runs (shapes against the base, DoRA and other variants refused).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import { PROVENANCE_KEYS } from '../../../server/src/engine/provenance.ts';
import { analyzeFile, type Analysis } from '../../../server/src/language/analysis.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';
import { isMethodNode, methodOf } from '../../../server/src/methods/registry.ts';
import { fixtureDir, makeModel, writeSafetensors, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { deltaW, writeAdapter, type AdapterModule } from '../../helpers/lora-fixtures.ts';
import { readSafetensorsOutput, worstError } from '../engine/helpers.ts';

const BASE_SPECS = [
  { name: 'model.embed_tokens.weight', shape: [10, 6] },
  { name: 'model.layers.0.self_attn.q_proj.weight', shape: [8, 6] },
  { name: 'model.layers.0.self_attn.v_proj.weight', shape: [4, 6] },
  { name: 'model.layers.0.self_attn.v_proj.bias', shape: [4] },
  // GPT-2's Conv1D stores [in, out].
  { name: 'model.layers.0.mlp.c_fc.weight', shape: [6, 12] },
  { name: 'lm_head.weight', shape: [10, 6] },
];

const q: AdapterModule = { module: 'model.layers.0.self_attn.q_proj', rank: 4, inputs: 6, outputs: 8 };
const v: AdapterModule = { module: 'model.layers.0.self_attn.v_proj', rank: 2, inputs: 6, outputs: 4 };
const fc: AdapterModule = { module: 'model.layers.0.mlp.c_fc', rank: 3, inputs: 6, outputs: 12 };
const embedding: AdapterModule = { module: 'model.embed_tokens', rank: 2, inputs: 10, outputs: 6, embedding: true };

/** Expected ΔW per base tensor: the module, its scale and whether the base stores it transposed. */
interface Expected {
  readonly factors: FixtureModel;
  readonly modules: readonly { readonly m: AdapterModule; readonly scale: number; readonly transposed: boolean }[];
}

describe('lora()', () => {
  const fixture = fixtureDir();
  const dir = fixture.dir;
  const base = makeModel(BASE_SPECS, { seed: 1 });
  const adapters: Record<string, Expected> = {};
  const headers = new HeaderCache();

  before(() => {
    writeSafetensors(join(dir, 'base.safetensors'), base);
    // r = 4 and lora_alpha = 8, but v_proj has rank 2 (rank_pattern) and alpha 3 (alpha_pattern, matched as a dotted suffix).
    adapters.sci = {
      factors: writeAdapter(join(dir, 'adapters/sci'), { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], rank_pattern: { v_proj: 2 }, alpha_pattern: { 'self_attn.v_proj': 3 }, base_model_name_or_path: 'tiny-base' }, [q, v], { seed: 2 }),
      modules: [{ m: q, scale: 8 / 4, transposed: false }, { m: v, scale: 3 / 2, transposed: false }],
    };
    adapters.rs = {
      factors: writeAdapter(join(dir, 'adapters/rs'), { r: 4, lora_alpha: 8, use_rslora: true, target_modules: ['q_proj'] }, [q], { seed: 3, dtype: 'BF16' }),
      modules: [{ m: q, scale: 8 / Math.sqrt(4), transposed: false }],
    };
    adapters.conv = {
      factors: writeAdapter(join(dir, 'adapters/conv'), { r: 3, lora_alpha: 6, fan_in_fan_out: true, target_modules: ['c_fc'] }, [fc], { seed: 4 }),
      modules: [{ m: fc, scale: 2, transposed: true }],
    };
    adapters.embed = {
      factors: writeAdapter(join(dir, 'adapters/embed'), { r: 2, lora_alpha: 5, target_modules: ['embed_tokens'] }, [embedding], { seed: 5, dtype: 'F16' }),
      modules: [{ m: embedding, scale: 5 / 2, transposed: true }],
    };
    writeAdapter(join(dir, 'adapters/wrong'), { r: 4, lora_alpha: 8 }, [{ ...q, inputs: 5 }]);
    writeAdapter(join(dir, 'adapters/extra'), { r: 4, lora_alpha: 8 }, [{ ...q, module: 'model.layers.0.self_attn.k_proj' }]);
    writeAdapter(join(dir, 'adapters/dora'), { r: 4, lora_alpha: 8, use_dora: true }, [q]);
    writeAdapter(join(dir, 'adapters/loha'), { peft_type: 'LOHA', r: 4 }, [q]);
    writeAdapter(join(dir, 'adapters/badrank'), { r: 8, lora_alpha: 8 }, [q]);
  });
  after(() => fixture.cleanup());

  const analyze = (recipe: string): Promise<Analysis> => analyzeFile(recipe, join(dir, 'recipe.tvr'), headers);
  const errors = (analysis: Analysis) => analysis.diagnostics.filter((d) => d.severity === 'error');

  async function run(recipe: string, options: { chunkElements?: number; backend?: 'js' | 'js-workers'; placedMinBytes?: number } = {}): Promise<ReturnType<typeof readSafetensorsOutput>> {
    const analysis = await analyze(recipe);
    assert.deepEqual(errors(analysis).map((d) => d.message), []);
    await runProgram(analysis.checked.program, { backend: options.backend ?? 'js', recipeText: recipe, overwrite: true, ...options });
    return readSafetensorsOutput(join(dir, 'out.safetensors'));
  }

  /** base + sum of coef * ΔW of each adapter, per base tensor, in float64. */
  function expected(terms: readonly (readonly [number, Expected])[]): Map<string, Float64Array> {
    const out = new Map(base.tensors.map((t) => [t.name, Float64Array.from(t.values)]));
    for (const [coef, adapter] of terms) {
      for (const { m, scale, transposed } of adapter.modules) {
        const delta = deltaW(adapter.factors, m, scale, transposed);
        const target = out.get(`${m.module}.weight`)!;
        delta.forEach((d, i) => { target[i]! += coef * d; });
      }
    }
    return out;
  }

  function assertClose(got: ReturnType<typeof readSafetensorsOutput>, want: Map<string, Float64Array>): void {
    assert.deepEqual([...got.tensors.keys()], BASE_SPECS.map((s) => s.name), 'every base tensor, in the base order');
    for (const [name, values] of want) {
      const { error, index } = worstError(got.tensors.get(name)!.values, values, 1e-2);
      assert.ok(error <= 1e-6, `${name}[${index}]: got ${got.tensors.get(name)!.values[index]}, want ${values[index]}`);
    }
  }

  for (const chunkElements of [undefined, 5]) {
    test(`base + lora(...): per-module rank and alpha from the patterns${chunkElements ? ', computed in chunks of 5 elements' : ''}`, async () => {
      const got = await run('base = load("base.safetensors")\nsave(base + lora("adapters/sci"), "out.safetensors")\n', chunkElements ? { chunkElements } : {});
      assertClose(got, expected([[1, adapters.sci!]]));
    });
  }

  test('rsLoRA scales by alpha / sqrt(r); BF16 factors', async () => {
    assertClose(await run('base = load("base.safetensors")\nsave(base + lora("adapters/rs"), "out.safetensors")\n'), expected([[1, adapters.rs!]]));
  });

  test('fan_in_fan_out (Conv1D, [in, out]) and embeddings get (B·A) transposed', async () => {
    const recipe = 'base = load("base.safetensors")\nsave(base + lora("adapters/conv") + 0.5*lora("adapters/embed"), "out.safetensors")\n';
    assertClose(await run(recipe, { chunkElements: 7 }), expected([[1, adapters.conv!], [0.5, adapters.embed!]]));
  });

  test('adapters of different modules combine with task arithmetic and with each other', async () => {
    const recipe = 'base = load("base.safetensors")\nboth = mean(lora("adapters/sci"), lora("adapters/conv"))\nsave(base + 0.6*both - 0.2*lora("adapters/rs"), "out.safetensors")\n';
    assertClose(await run(recipe), expected([[0.3, adapters.sci!], [0.3, adapters.conv!], [-0.2, adapters.rs!]]));
  });

  test('the I/O threads, which read files in place, leave a product to the pipeline', async () => {
    const recipe = 'base = load("base.safetensors")\nsave(base + lora("adapters/sci"), "out.safetensors")\n';
    assertClose(await run(recipe, { backend: 'js-workers', placedMinBytes: 0 }), expected([[1, adapters.sci!]]));
  });

  test('the adapter is an input of the output\'s provenance', async () => {
    const got = await run('base = load("base.safetensors")\nsave(base + lora("adapters/sci"), "out.safetensors")\n');
    const inputs = JSON.parse(got.metadata[PROVENANCE_KEYS.inputs]!) as { path: string }[];
    assert.deepEqual(inputs.map((i) => i.path), [join(dir, 'base.safetensors'), join(dir, 'adapters/sci')]);
  });

  const rows: { name: string; recipe: string; code: string; fragments: string[] }[] = [
    {
      name: 'a ΔW whose shape differs from the base names the module and both shapes',
      recipe: 'base = load("base.safetensors")\nm = base + lora("adapters/wrong")\n',
      code: 'shape-mismatch',
      fragments: ['"model.layers.0.self_attn.q_proj.weight" is [8, 5] F32 here but [8, 6] F32 in \'base\'', 'module model.layers.0.self_attn.q_proj: lora_B [8, 4] · lora_A [4, 5]'],
    },
    {
      name: 'a module the base does not have',
      recipe: 'base = load("base.safetensors")\nm = base + lora("adapters/extra")\n',
      code: 'shape-mismatch',
      fragments: ['"model.layers.0.self_attn.k_proj.weight" is missing in \'base\''],
    },
    {
      name: 'adapters disagreeing on a module\'s shape',
      recipe: 'm = mean(lora("adapters/sci"), lora("adapters/wrong"))\n',
      code: 'shape-mismatch',
      fragments: ['is [8, 5] F32 here but [8, 6] F32 in'],
    },
    { name: 'DoRA is refused', recipe: 'm = lora("adapters/dora")\n', code: 'unsupported-adapter', fragments: ['DoRA adapter (use_dora: true): DoRA rescales every column'] },
    { name: 'other PEFT methods are refused', recipe: 'm = lora("adapters/loha")\n', code: 'unsupported-adapter', fragments: ['peft_type is "LOHA"'] },
    { name: 'a rank the configuration does not give', recipe: 'm = lora("adapters/badrank")\n', code: 'bad-checkpoint', fragments: ['gives rank 8 (r) but its factors have rank 4'] },
    { name: 'a model folder is not an adapter', recipe: 'm = lora("base.safetensors")\n', code: 'bad-checkpoint', fragments: ['is not a PEFT LoRA adapter folder'] },
    { name: 'load() of an adapter says to use lora()', recipe: 'm = load("adapters/sci")\n', code: 'type-mismatch', fragments: ['lora("adapters/sci") gives its ΔW as a Vector'] },
    { name: 'an adapter alone cannot be saved', recipe: 'save(lora("adapters/sci"), "out.safetensors")\n', code: 'type-mismatch', fragments: ['save(base + lora(...), ...)'] },
  ];
  for (const row of rows) {
    test(`checked before anything runs: ${row.name}`, async () => {
      const found = errors(await analyze(row.recipe));
      assert.deepEqual(found.map((d) => d.code), [row.code], found.map((d) => d.message).join('\n'));
      for (const fragment of row.fragments) assert.ok(found[0]!.message.includes(fragment), `${JSON.stringify(fragment)} not in: ${found[0]!.message}`);
    });
  }

  test('the quick fix of load() on an adapter calls lora() instead', async () => {
    const [diagnostic] = errors(await analyze('m = load("adapters/sci")\n'));
    assert.equal(diagnostic!.fixes?.[0]?.edits[0]?.newText, 'lora');
  });

  test('hover facts: rank, alpha, scale rule, target modules, base model', async () => {
    const analysis = await analyze('sci = lora("adapters/sci")\n');
    const value = analysis.checked.values.get(analysis.resolution.bindings[0]!) as { node: WeightNode };
    assert.ok(isMethodNode(value.node));
    assert.deepEqual(methodOf(value.node).facts?.(value.node), [
      'LoRA adapter, 2 modules: rank 2/4, alpha 3/8, scale alpha / r',
      'target_modules q_proj, v_proj',
      'trained on tiny-base',
    ]);
    // The hover shows them.
    const contents = hover(analysis, analysis.text.indexOf('sci'))!.contents;
    for (const line of ['LoRA adapter, 2 modules: rank 2/4, alpha 3/8, scale alpha / r', 'target_modules q_proj, v_proj']) assert.ok(contents.includes(line), contents);
  });
});
