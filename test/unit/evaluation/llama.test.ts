// The built-in Llama evaluator against an independent numpy implementation
// (llama_reference.py, reading the same folder itself): logits to a relative error under
// 1e-4 in float32 across the configurations transformers' LlamaConfig allows (tied and
// untied heads, grouped-query attention, head_dim, rope_theta, biases, rope_scaling
// "llama3", transformers 5's rope_parameters), every tensor used, precise refusals, and the
// sliding-window scoring of documents longer than the context.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { LlamaWeights, llamaConfig } from '../../../server/src/engine/evaluation/transformers/llama.ts';
import type { LlamaConfig } from '../../../server/src/engine/evaluation/transformers/llama.ts';
import { transformerFamily } from '../../../server/src/engine/evaluation/transformers/registry.ts';
import { loadTextModel } from '../../../server/src/engine/evaluation/text-models.ts';
import { CausalLm } from '../../../server/src/engine/evaluation/text-lm.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { TfRuntime } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { MaterializedTensor } from '../../../server/src/engine/materialize.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { computeOnce, floatTensors, relativeError, runReference } from '../../helpers/reference-compare.ts';
import type { HfFolder } from '../../helpers/hf-fixtures.ts';
import { writeLlamaFolder } from './llama-fixtures.ts';
import type { LlamaFixtureOptions } from './llama-fixtures.ts';

const REFERENCE = fileURLToPath(new URL('./llama_reference.py', import.meta.url));

function logitsOf(runtime: TfRuntime, config: LlamaConfig, weights: Map<string, MaterializedTensor>, ids: readonly number[]): Promise<Float32Array> {
  return computeOnce(() => LlamaWeights.upload(runtime.tf, config, weights, 'test'), (model) => model.logits(Int32Array.from(ids), 1, ids.length));
}

const LLAMA3_SCALING = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 8, original_max_position_embeddings: 128 };

/**
 * The configurations checked against the reference. With head_dim 8 and theta 10000 the
 * rotary wavelengths are 6.3, 63, 628 and 6283 positions: "llama3" scaling with an original
 * context of 128 keeps the first, interpolates the second and slows the last two.
 */
const FOLDERS: Record<string, LlamaFixtureOptions> = {
  'tied, 4 heads sharing 2 key/value heads': { seed: 3, tied: true },
  'untied, no num_key_value_heads (a key/value head per head)': { seed: 4, kvHeads: 4, config: { num_key_value_heads: undefined } },
  'one key/value head for 4 heads': { seed: 5, kvHeads: 1 },
  'head_dim 6, not hidden_size / heads; 1 layer': { seed: 6, headDim: 6, layers: 1 },
  'rope_theta 100': { seed: 7, config: { rope_theta: 100 } },
  'attention_bias': { seed: 8, attentionBias: true },
  'mlp_bias': { seed: 9, mlpBias: true },
  'rope_scaling "llama3", head_dim 8': { seed: 10, headDim: 8, heads: 2, kvHeads: 1, config: { rope_scaling: LLAMA3_SCALING } },
  'transformers 5 rope_parameters, theta 100': { seed: 11, config: { rope_theta: undefined, rope_scaling: undefined, rope_parameters: { rope_type: 'default', rope_theta: 100 } } },
};

describe('Llama forward pass against a numpy reference', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  const folders = new Map<string, HfFolder>();
  before(async () => {
    runtime = await tfRuntimeFor('js');
    Object.entries(FOLDERS).forEach(([name, options], i) => folders.set(name, writeLlamaFolder(join(dir, `m${i}`), options)));
  });
  after(cleanup);

  const IDS = [40, 259, 12, 256, 276, 3, 3, 100, 258, 99, 7, 270, 41, 5];
  for (const name of Object.keys(FOLDERS)) {
    it(`logits match to a relative error under 1e-4 (${name})`, async () => {
      const folder = folders.get(name)!;
      const expected = runReference<{ logits: number[][] }>(REFERENCE, folder.dir, { ids: IDS }).logits;
      const actual = await logitsOf(runtime, llamaConfig(folder.config, 'test'), floatTensors(folder.model), IDS);
      assert.equal(actual.length, IDS.length * expected[0]!.length);
      const error = relativeError(actual, expected.flat());
      assert.ok(error < 1e-4, `relative error ${error} (${runtime.name})`);
    });
  }

  it('the rotary settings change the logits: rope_theta, rope_scaling and rope_parameters are read', async () => {
    const cases = [
      { name: 'rope_theta 100', without: { rope_theta: 10000 } },
      { name: 'rope_scaling "llama3", head_dim 8', without: { rope_scaling: null } },
      { name: 'transformers 5 rope_parameters, theta 100', without: { rope_parameters: null } },
    ];
    for (const c of cases) {
      const folder = folders.get(c.name)!;
      const weights = floatTensors(folder.model);
      const as = await logitsOf(runtime, llamaConfig(folder.config, 'test'), weights, IDS);
      const plain = await logitsOf(runtime, llamaConfig({ ...folder.config, ...c.without }, 'test'), weights, IDS);
      const moved = relativeError(plain, [...as]);
      assert.ok(moved > 1e-2, `${c.name}: ${moved}`);
    }
  });

  it('uses every tensor: perturbing any one of them changes the logits', async () => {
    for (const name of ['tied, 4 heads sharing 2 key/value heads', 'untied, no num_key_value_heads (a key/value head per head)', 'attention_bias', 'mlp_bias']) {
      const folder = folders.get(name)!;
      const config = llamaConfig(folder.config, 'test');
      const weights = floatTensors(folder.model);
      const reference = await logitsOf(runtime, config, weights, IDS);
      for (const [tensorName, tensor] of weights) {
        const values = tensor.values!.map((v, i) => v + 0.3 * Math.sin(i * 1.7 + 0.4));
        const changed = await logitsOf(runtime, config, new Map(weights).set(tensorName, { ...tensor, values }), IDS);
        const moved = changed.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
        assert.ok(moved > 1e-4, `${name}: perturbing ${tensorName} left the logits unchanged (${moved})`);
      }
    }
  });

  it('ignores the rotary inv_freq buffers older checkpoints saved', async () => {
    const folder = folders.get('tied, 4 heads sharing 2 key/value heads')!;
    const config = llamaConfig(folder.config, 'test');
    const weights = floatTensors(folder.model);
    const withBuffers = new Map(weights);
    for (const layer of [0, 1]) {
      const name = `model.layers.${layer}.self_attn.rotary_emb.inv_freq`;
      withBuffers.set(name, { name, shape: [2], dtype: 'F32', values: Float32Array.of(7, 7) });
    }
    assert.deepEqual(await logitsOf(runtime, config, withBuffers, IDS), await logitsOf(runtime, config, weights, IDS));
  });

  it('refuses weights that are not exactly the configured Llama, naming the tensor', () => {
    const folder = folders.get('tied, 4 heads sharing 2 key/value heads')!;
    const config = llamaConfig(folder.config, 'm');
    const upload = (weights: Map<string, MaterializedTensor>) => () => LlamaWeights.upload(runtime.tf, config, weights, 'm');
    const without = floatTensors(folder.model);
    without.delete('model.layers.1.mlp.up_proj.weight');
    assert.throws(upload(without), /m: a Llama of 2 layers needs model\.layers\.1\.mlp\.up_proj\.weight, which the model lacks/);
    const extra = floatTensors(folder.model).set('model.layers.2.input_layernorm.weight', { name: 'x', shape: [16], dtype: 'F32', values: new Float32Array(16) });
    assert.throws(upload(extra), /m: model\.layers\.2\.input_layernorm\.weight is not part of a Llama of 2 layers \(config\.json\)/);
    const bias = floatTensors(folder.model).set('model.layers.0.self_attn.q_proj.bias', { name: 'x', shape: [16], dtype: 'F32', values: new Float32Array(16) });
    assert.throws(upload(bias), /m: model\.layers\.0\.self_attn\.q_proj\.bias is not part of a Llama of 2 layers/);
    // A key projection for 4 key/value heads where config.json says 2.
    const heads = floatTensors(folder.model).set('model.layers.0.self_attn.k_proj.weight', { name: 'x', shape: [16, 16], dtype: 'F32', values: new Float32Array(256) });
    assert.throws(upload(heads), /m: model\.layers\.0\.self_attn\.k_proj\.weight is \[16, 16\] but config\.json implies \[8, 16\]/);
  });
});

describe('Llama configurations the built-in evaluator refuses, with the reason', () => {
  const { dir, cleanup } = fixtureDir();
  let base: Readonly<Record<string, unknown>>;
  before(() => {
    base = writeLlamaFolder(join(dir, 'm'), { seed: 1 }).config;
  });
  after(cleanup);

  const cases: { name: string; config: Record<string, unknown>; expected: RegExp }[] = [
    {
      name: 'rope_scaling "yarn"',
      config: { rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 8 } },
      expected: /^m: config\.json's rope_scaling has rope_type "yarn"; the built-in Llama evaluator computes rotary embeddings without scaling or with rope_type "llama3"; evaluate it with task\(\.\.\., command="\.\.\."\)$/,
    },
    {
      name: 'rope_scaling "linear" (the older "type" key)',
      config: { rope_scaling: { type: 'linear', factor: 2 } },
      expected: /^m: config\.json's rope_scaling has rope_type "linear"; .*task\(\.\.\., command="\.\.\."\)$/,
    },
    {
      name: 'rope_parameters "dynamic" (transformers 5)',
      config: { rope_scaling: undefined, rope_parameters: { rope_type: 'dynamic', factor: 2, rope_theta: 10000 } },
      expected: /^m: config\.json's rope_parameters has rope_type "dynamic"; /,
    },
    {
      name: 'rope_scaling "llama3" without factor',
      config: { rope_scaling: { ...LLAMA3_SCALING, factor: undefined } },
      expected: /^m: config\.json's rope_scaling\.factor is undefined, not a positive number$/,
    },
    {
      name: 'hidden_act "gelu"',
      config: { hidden_act: 'gelu' },
      expected: /^m: config\.json's hidden_act is "gelu"; the built-in Llama evaluator computes "silu"; evaluate it with task\(\.\.\., command="\.\.\."\)$/,
    },
    {
      name: '4 heads, 3 key/value heads',
      config: { num_key_value_heads: 3 },
      expected: /^m: config\.json's num_attention_heads 4 is not a multiple of num_key_value_heads 3$/,
    },
    {
      name: 'odd head_dim',
      config: { head_dim: 5 },
      expected: /^m: the attention heads are 5 wide; rotary position embeddings need an even width$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const config = { ...base, ...c.config };
      assert.throws(() => llamaConfig(config, 'm'), (e: unknown) => e instanceof EvaluationError && c.expected.test(e.message));
    });
  }

  it('a config without rope_scaling, rope_theta, num_key_value_heads and head_dim gets LlamaConfig\'s defaults', () => {
    const { rope_scaling: _s, rope_theta: _t, num_key_value_heads: _k, head_dim: _h, ...bare } = base;
    const config = llamaConfig(bare, 'm');
    assert.equal(config.kvHeads, 4);
    assert.equal(config.headDim, 4);
    assert.deepEqual(config.inverseFrequencies, [1, 0.01]);
  });
});

describe('Llama text scoring: token-weighted loss over documents, long ones by sliding window', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  before(async () => {
    runtime = await tfRuntimeFor('js');
  });
  after(cleanup);

  for (const tied of [true, false]) {
    it(`matches the reference on documents shorter and longer than the context (8 positions, ${tied ? 'tied' : 'untied'})`, async () => {
      const folder = writeLlamaFolder(join(dir, tied ? 'tied' : 'untied'), { seed: 12, tied, contextLength: 8 });
      const lm = await loadTextModel(runtime, folder.dir, 'test');
      assert.ok(lm instanceof CausalLm);
      const texts = ['the cat sat on the mat', 'in the winter she wrote forty letters to her brother in the city', 'a', 'is'];
      const documents = lm.tokenize(texts.map((text, i) => ({ text, line: i + 1 })), 'x.jsonl');
      assert.ok(documents[1]!.length > 2 * 8, `the long document has ${documents[1]!.length} tokens`);
      const expected = runReference<{ loss: number; accuracy: number; scored: number }>(REFERENCE, folder.dir, { documents: documents.map((d) => [...d]) });
      // Small batches too: windows of one length split across batches.
      for (const tokensPerBatch of [4096, 8]) {
        const measured = await lm.evaluate(floatTensors(folder.model), documents, { tokensPerBatch });
        assert.equal(measured.scored, documents.reduce((n, d) => n + Math.max(0, d.length - 1), 0));
        assert.equal(measured.scored, expected.scored);
        assert.ok(Math.abs(measured.loss - expected.loss) < 1e-4 * expected.loss, `loss ${measured.loss} vs ${expected.loss}`);
        assert.ok(Math.abs(measured.perplexity - Math.exp(expected.loss)) < 1e-3 * Math.exp(expected.loss));
        assert.equal(measured.accuracy, expected.accuracy);
        assert.equal(measured.documents, 4);
      }
    });
  }
});

describe('Llama architecture choice from config.json', () => {
  for (const config of [{ model_type: 'llama' }, { architectures: ['LlamaForCausalLM'] }, { model_type: 'llama', architectures: ['LlamaForCausalLM'] }]) {
    it(JSON.stringify(config), () => assert.equal(transformerFamily(config, 'm').name, 'Llama'));
  }

  it('a model folder nothing runs lists Llama among the built-in evaluators', () => {
    assert.throws(() => transformerFamily({ model_type: 'mamba' }, 'm'), /the built-in text evaluators run .*Llama \(model_type "llama", LlamaForCausalLM\).*, but config\.json says model_type "mamba"/);
  });
});
