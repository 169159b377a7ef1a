// The built-in GPT-2 evaluator against an independent numpy implementation
// (gpt2_reference.py, reading the same folder itself): logits to a relative error under
// 1e-4 in float32, every tensor used, and the sliding-window scoring of documents longer
// than the context (token-weighted loss, each token scored once).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { Gpt2Weights, gpt2Config } from '../../../server/src/engine/evaluation/transformers/gpt2.ts';
import { transformerFamily } from '../../../server/src/engine/evaluation/transformers/registry.ts';
import { loadTextModel } from '../../../server/src/engine/evaluation/text-models.ts';
import { CausalLm, MAX_WINDOW, slidingWindows } from '../../../server/src/engine/evaluation/text-lm.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { TfRuntime } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { MaterializedTensor } from '../../../server/src/engine/materialize.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { computeOnce, floatTensors, relativeError, runReference } from '../../helpers/reference-compare.ts';
import type { HfFolder } from '../../helpers/hf-fixtures.ts';
import { writeGpt2Folder } from './gpt2-fixtures.ts';

const REFERENCE = fileURLToPath(new URL('./gpt2_reference.py', import.meta.url));

function logitsOf(runtime: TfRuntime, folder: HfFolder, weights: Map<string, MaterializedTensor>, ids: readonly number[]): Promise<Float32Array> {
  return computeOnce(() => Gpt2Weights.upload(runtime.tf, gpt2Config(folder.config, 'test'), weights, 'test'), (model) => model.logits(Int32Array.from(ids), 1, ids.length));
}

describe('GPT-2 forward pass against a numpy reference', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  const folders = new Map<string, HfFolder>();
  before(async () => {
    runtime = await tfRuntimeFor('js');
    folders.set('tied', writeGpt2Folder(join(dir, 'tied'), { seed: 3 }));
    folders.set('untied', writeGpt2Folder(join(dir, 'untied'), { seed: 4, tied: false }));
    folders.set('n_inner 12, 1 layer, 4 heads', writeGpt2Folder(join(dir, 'inner'), { seed: 5, layers: 1, heads: 4, intermediateSize: 12 }));
  });
  after(cleanup);

  const IDS = [40, 259, 12, 256, 276, 3, 3, 100, 258, 99, 7, 270];
  for (const name of ['tied', 'untied', 'n_inner 12, 1 layer, 4 heads']) {
    it(`logits match to a relative error under 1e-4 (${name})`, async () => {
      const folder = folders.get(name)!;
      const expected = runReference<{ logits: number[][] }>(REFERENCE, folder.dir, { ids: IDS }).logits;
      const actual = await logitsOf(runtime, folder, floatTensors(folder.model), IDS);
      assert.equal(actual.length, IDS.length * expected[0]!.length);
      const error = relativeError(actual, expected.flat());
      assert.ok(error < 1e-4, `relative error ${error} (${runtime.name})`);
    });
  }

  it('uses every tensor: perturbing any one of them changes the logits', async () => {
    for (const name of ['tied', 'untied']) {
      const folder = folders.get(name)!;
      const weights = floatTensors(folder.model);
      const reference = await logitsOf(runtime, folder, weights, IDS);
      for (const [tensorName, tensor] of weights) {
        const values = tensor.values!.map((v, i) => v + 0.3 * Math.sin(i * 1.7 + 0.4));
        const changed = await logitsOf(runtime, folder, new Map(weights).set(tensorName, { ...tensor, values }), IDS);
        const moved = changed.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
        assert.ok(moved > 1e-4, `${name}: perturbing ${tensorName} left the logits unchanged (${moved})`);
      }
    }
  });

  it('refuses weights that are not exactly the configured GPT-2, naming the tensor', () => {
    const folder = folders.get('tied')!;
    const config = gpt2Config(folder.config, 'm');
    const without = floatTensors(folder.model);
    without.delete('transformer.h.1.mlp.c_fc.bias');
    assert.throws(() => Gpt2Weights.upload(runtime.tf, config, without, 'm'), /needs transformer\.h\.1\.mlp\.c_fc\.bias/);
    const extra = floatTensors(folder.model).set('transformer.h.2.ln_1.weight', { name: 'x', shape: [8], dtype: 'F32', values: new Float32Array(8) });
    assert.throws(() => Gpt2Weights.upload(runtime.tf, config, extra, 'm'), /transformer\.h\.2\.ln_1\.weight is not part of a GPT-2 of 2 layers/);
  });
});

describe('sliding windows', () => {
  const cases = [
    { length: 0, context: 8 }, { length: 1, context: 8 }, { length: 2, context: 8 }, { length: 8, context: 8 },
    { length: 9, context: 8 }, { length: 12, context: 8 }, { length: 13, context: 8 }, { length: 40, context: 8 },
    { length: 41, context: 7 }, { length: 100, context: 2 }, { length: 3, context: 3 },
  ];
  for (const { length, context } of cases) {
    it(`${length} tokens, context ${context}: every token after the first scored once, windows within the context`, () => {
      const scored = new Array<number>(length).fill(0);
      const windows = slidingWindows(length, context);
      for (const w of windows) {
        assert.ok(w.end - w.start <= context && w.start < w.scoreFrom && w.scoreFrom <= w.end, JSON.stringify(w));
        for (let t = w.scoreFrom; t < w.end; t++) scored[t]!++;
      }
      assert.deepEqual(scored, Array.from({ length }, (_, t) => (t === 0 ? 0 : 1)));
      if (length > context && context > 1) {
        // Stride half the context: each window after the first starts half a context later.
        windows.slice(1).forEach((w, i) => assert.equal(w.start - windows[i]!.start, Math.floor(context / 2)));
      }
    });
  }

  it('refuses a context of one position (nothing to predict from)', () => {
    assert.throws(() => slidingWindows(5, 1), RangeError);
  });
});

describe('text scoring: token-weighted loss over documents, long ones by sliding window', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  let folder: HfFolder;
  before(async () => {
    runtime = await tfRuntimeFor('js');
    folder = writeGpt2Folder(join(dir, 'm'), { seed: 9, contextLength: 8 });
  });
  after(cleanup);

  it('matches the reference on documents shorter and longer than the context (8 positions)', async () => {
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

  it('stops on a token id beyond the model\'s vocabulary, naming the line (a tokenizer from another model)', async () => {
    const other = join(dir, 'small-vocab');
    writeGpt2Folder(other, { seed: 9, contextLength: 8 });
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...folder.config, vocab_size: 100 }));
    const lm = await loadTextModel(runtime, other, 'test');
    assert.throws(() => lm.tokenize([{ text: 'ab', line: 1 }, { text: 'the', line: 7 }], 'x.jsonl'), /line 7 of x\.jsonl gives token id 116, outside the model's vocabulary of 100/);
  });

  it('tokenizes without special tokens (no <|endoftext|> added)', async () => {
    const lm = await loadTextModel(runtime, folder.dir, 'test');
    assert.ok(lm instanceof CausalLm);
    const [ids] = lm.tokenize([{ text: 'the', line: 1 }], 'x.jsonl');
    assert.deepEqual([...ids!], [116, 257]);
  });
});

describe('architecture choice from config.json', () => {
  const cases: { config: Record<string, unknown> | undefined; expected: RegExp | string }[] = [
    { config: { model_type: 'gpt2' }, expected: 'GPT-2' },
    { config: { architectures: ['GPT2LMHeadModel'] }, expected: 'GPT-2' },
    { config: { model_type: 'mamba', architectures: ['MambaForCausalLM'] }, expected: /config\.json says model_type "mamba", architectures "MambaForCausalLM"; evaluate this model with an external evaluator, task\(\.\.\., command="\.\.\."\)/ },
    { config: {}, expected: /no model_type or architectures/ },
    { config: undefined, expected: /has no config\.json beside its weights.*task\(\.\.\., command="\.\.\."\)/ },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.config) ?? 'no config.json', () => {
      if (typeof c.expected === 'string') assert.equal(transformerFamily(c.config, 'm').name, c.expected);
      else assert.throws(() => transformerFamily(c.config, 'm'), (e: unknown) => e instanceof EvaluationError && c.expected instanceof RegExp && c.expected.test(e.message));
    });
  }
});

describe('long contexts: windows of at most MAX_WINDOW tokens', () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);

  it(`a model of ${2 * MAX_WINDOW} positions scores a long document as one of ${MAX_WINDOW} would`, async () => {
    const runtime = await tfRuntimeFor('js');
    const wide = writeGpt2Folder(join(dir, 'wide'), { seed: 11, contextLength: 2 * MAX_WINDOW, layers: 1 });
    // The reference reads n_positions for its windows only: the same weights with the capped context.
    const capped = writeGpt2Folder(join(dir, 'capped'), { seed: 11, contextLength: 2 * MAX_WINDOW, layers: 1 });
    writeFileSync(join(capped.dir, 'config.json'), JSON.stringify({ ...capped.config, n_positions: MAX_WINDOW }));
    const lm = await loadTextModel(runtime, wide.dir, 'test');
    assert.ok(lm instanceof CausalLm);
    const [document] = lm.tokenize([{ text: 'the cat sat on the mat and '.repeat(200), line: 1 }], 'x.jsonl');
    assert.ok(document!.length > MAX_WINDOW * 1.2 && document!.length < 2 * MAX_WINDOW, `${document!.length} tokens`);
    const expected = runReference<{ loss: number; scored: number }>(REFERENCE, capped.dir, { documents: [[...document!]] });
    const measured = await lm.evaluate(floatTensors(wide.model), [document!]);
    assert.equal(measured.scored, expected.scored);
    assert.ok(Math.abs(measured.loss - expected.loss) < 1e-4 * expected.loss, `loss ${measured.loss} vs ${expected.loss}`);
  });
});
