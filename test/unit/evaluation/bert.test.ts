// The built-in BERT and RoBERTa sequence-classifier evaluators against an independent numpy
// implementation (bert_reference.py, reading the same folder itself and classifying each
// example alone, unpadded): logits to a relative error under 1e-4 in float32 for batches
// padded to their longest example, with and without text_pair; accuracy and loss; every
// tensor used; tokenization with special tokens and segments; truncation to the model's
// positions; and the refusals, with their messages.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hfConfigFacts } from '../../../server/src/checkpoints/hf-config.ts';
import { parseStrictJson } from '../../../server/src/checkpoints/strict-json.ts';
import { parseTextData } from '../../../server/src/checkpoints/text-data.ts';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { paddedBatch, TextClassifier, truncatedLengths } from '../../../server/src/engine/evaluation/text-classifier.ts';
import type { ClassifierExample, LabelledText } from '../../../server/src/engine/evaluation/text-classifier.ts';
import { loadTextModel } from '../../../server/src/engine/evaluation/text-models.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { TfRuntime } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import { bert } from '../../../server/src/engine/evaluation/transformers/bert.ts';
import type { ClassifierFamily } from '../../../server/src/engine/evaluation/transformers/family.ts';
import { transformerFamily } from '../../../server/src/engine/evaluation/transformers/registry.ts';
import { roberta, robertaPositions } from '../../../server/src/engine/evaluation/transformers/roberta.ts';
import type { MaterializedTensor } from '../../../server/src/engine/materialize.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { computeOnce, floatTensors, relativeError, runReference } from '../../helpers/reference-compare.ts';
import { writeClassifierFolder } from './bert-fixtures.ts';
import type { ClassifierFamilyName, ClassifierFolder } from './bert-fixtures.ts';

const REFERENCE = fileURLToPath(new URL('./bert_reference.py', import.meta.url));

interface Reference {
  readonly logits: number[][];
  readonly loss?: number;
  readonly accuracy?: number;
}

function python(folder: string, examples: readonly ClassifierExample[], labels?: readonly number[]): Reference {
  const request = { examples: examples.map((e) => ({ ids: [...e.ids], type_ids: [...e.typeIds] })), ...(labels ? { labels } : {}) };
  return runReference<Reference>(REFERENCE, folder, request);
}

const FAMILIES: Record<ClassifierFamilyName, ClassifierFamily> = { bert, roberta };

async function classifierOf(runtime: TfRuntime, folder: ClassifierFolder): Promise<TextClassifier> {
  const model = await loadTextModel(runtime, folder.dir, 'test');
  assert.ok(model instanceof TextClassifier, `${folder.family} loads as a sequence classifier`);
  return model;
}

/** Logits [examples, labels] of `examples` run as one batch padded to the longest. */
function batchLogits(runtime: TfRuntime, folder: ClassifierFolder, weights: Map<string, MaterializedTensor>, examples: readonly ClassifierExample[]): Promise<Float32Array> {
  const family = FAMILIES[folder.family];
  return computeOnce(() => family.upload(runtime.tf, family.config(folder.config, 'test'), weights, 'test'), (model) => model.logits(paddedBatch(examples, examples.map((_, i) => i))));
}

const SINGLE: LabelledText[] = [
  { text: 'the film was very good', label: 2, line: 1 },
  { text: 'bad', label: 0, line: 2 },
  { text: 'the cat sat on the mat and it was not a good cat', label: 1, line: 3 },
];
const PAIRS: LabelledText[] = [
  { text: 'the cat sat', textPair: 'a cat sat on a mat', label: 1, line: 1 },
  { text: 'it was good', textPair: 'bad', label: 0, line: 2 },
  { text: 'dog', textPair: 'the dog is not a cat and the film was bad', label: 2, line: 3 },
];

describe('BERT and RoBERTa classifiers against a numpy reference', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  const folders = new Map<string, ClassifierFolder>();
  before(async () => {
    runtime = await tfRuntimeFor('js');
    folders.set('bert', writeClassifierFolder(join(dir, 'bert'), 'bert', { seed: 31 }));
    folders.set('bert (BertProcessing, 1 layer, 4 heads, 2 classes)', writeClassifierFolder(join(dir, 'bert-1'), 'bert', { seed: 32, processor: 'bert', layers: 1, heads: 4, labels: 2 }));
    folders.set('roberta', writeClassifierFolder(join(dir, 'roberta'), 'roberta', { seed: 33 }));
  });
  after(cleanup);

  for (const name of ['bert', 'bert (BertProcessing, 1 layer, 4 heads, 2 classes)', 'roberta']) {
    for (const [kind, examples] of [['single texts', SINGLE], ['text pairs', PAIRS]] as const) {
      it(`logits of a padded batch match each example alone to a relative error under 1e-4 (${name}, ${kind})`, async () => {
        const folder = folders.get(name)!;
        const classes = Object.keys(folder.config['id2label'] as object).length;
        const encoded = (await classifierOf(runtime, folder)).tokenize(examples.map((e) => ({ ...e, label: e.label! % classes })), 'x.jsonl');
        const lengths = encoded.map((e) => e.ids.length);
        assert.ok(Math.min(...lengths) < Math.max(...lengths), `lengths ${lengths.join(', ')}: the batch holds padding`);
        const expected = python(folder.dir, encoded).logits;
        const actual = await batchLogits(runtime, folder, floatTensors(folder.model), encoded);
        assert.equal(actual.length, examples.length * expected[0]!.length);
        const error = relativeError(actual, expected.flat());
        assert.ok(error < 1e-4, `relative error ${error} (${runtime.name})`);
      });
    }
  }

  for (const name of ['bert', 'roberta']) {
    it(`accuracy and loss over a split match the reference, whatever the batch size (${name})`, async () => {
      const folder = folders.get(name)!;
      const classifier = await classifierOf(runtime, folder);
      const examples = [...SINGLE, ...PAIRS].map((e, i) => ({ ...e, line: i + 1 }));
      const encoded = classifier.tokenize(examples, 'x.jsonl');
      const expected = python(folder.dir, encoded, examples.map((e) => e.label!));
      for (const tokensPerBatch of [4096, 20]) {
        const measured = await classifier.evaluate(floatTensors(folder.model), encoded, { tokensPerBatch });
        assert.equal(measured.scored, examples.length);
        assert.equal(measured.documents, examples.length);
        assert.ok(Math.abs(measured.loss - expected.loss!) < 1e-4 * expected.loss!, `loss ${measured.loss} vs ${expected.loss}`);
        assert.equal(measured.accuracy, expected.accuracy);
      }
    });
  }

  it('uses every tensor: perturbing any one of them changes the logits', async () => {
    for (const name of ['bert', 'roberta']) {
      const folder = folders.get(name)!;
      const encoded = (await classifierOf(runtime, folder)).tokenize(PAIRS, 'x.jsonl');
      const weights = floatTensors(folder.model);
      const reference = await batchLogits(runtime, folder, weights, encoded);
      for (const [tensorName, tensor] of weights) {
        // A key bias adds the same score to every key of a query, which the softmax cancels: transformers' models carry it unused too.
        if (tensorName.endsWith('attention.self.key.bias')) continue;
        const values = tensor.values!.map((v, i) => v + 0.3 * Math.sin(i * 1.7 + 0.4));
        const changed = await batchLogits(runtime, folder, new Map(weights).set(tensorName, { ...tensor, values }), encoded);
        const moved = changed.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
        assert.ok(moved > 1e-4, `${name}: perturbing ${tensorName} left the logits unchanged (${moved})`);
      }
    }
  });

  it('refuses weights that are not exactly the configured classifier, naming the tensor', () => {
    const folder = folders.get('roberta')!;
    const config = roberta.config(folder.config, 'm');
    const without = floatTensors(folder.model);
    without.delete('roberta.encoder.layer.1.output.LayerNorm.bias');
    assert.throws(() => roberta.upload(runtime.tf, config, without, 'm'), /a RoBERTa sequence classifier of 2 layers and 3 classes needs roberta\.encoder\.layer\.1\.output\.LayerNorm\.bias, which the model lacks/);
    const pooler = floatTensors(folder.model).set('roberta.pooler.dense.bias', { name: 'x', shape: [8], dtype: 'F32', values: new Float32Array(8) });
    assert.throws(() => roberta.upload(runtime.tf, config, pooler, 'm'), /roberta\.pooler\.dense\.bias is not part of a RoBERTa sequence classifier/);
    const bertFolder = folders.get('bert')!;
    const twoClasses = bert.config({ ...bertFolder.config, id2label: { 0: 'a', 1: 'b' } }, 'm');
    assert.throws(() => bert.upload(runtime.tf, twoClasses, floatTensors(bertFolder.model), 'm'), /classifier\.weight is \[3, 8\] but config\.json implies \[2, 8\]/);
  });

  it('ignores the position_ids and token_type_ids buffers older checkpoints hold', async () => {
    const folder = folders.get('bert')!;
    const encoded = (await classifierOf(runtime, folder)).tokenize(SINGLE, 'x.jsonl');
    const buffer = (name: string): MaterializedTensor => ({ name, shape: [1, 32], dtype: 'I64', values: undefined } as unknown as MaterializedTensor);
    const weights = floatTensors(folder.model).set('bert.embeddings.position_ids', buffer('p')).set('bert.embeddings.token_type_ids', buffer('t'));
    assert.deepEqual(await batchLogits(runtime, folder, weights, encoded), await batchLogits(runtime, folder, floatTensors(folder.model), encoded));
  });

  it('refuses a tokenizer whose segment ids the model has no rows for', async () => {
    const folder = folders.get('bert')!;
    const encoded = (await classifierOf(runtime, folder)).tokenize(PAIRS, 'x.jsonl');
    const weights = floatTensors(folder.model);
    const table = weights.get('bert.embeddings.token_type_embeddings.weight')!;
    weights.set(table.name, { ...table, shape: [1, 8], values: table.values!.slice(0, 8) });
    const config = bert.config({ ...folder.config, type_vocab_size: 1 }, 'm');
    const model = bert.upload(runtime.tf, config, weights, 'm');
    try {
      assert.throws(() => model.logits(paddedBatch(encoded, [0])), /m: the tokenizer gives segment id 1, but config\.json's type_vocab_size is 1: the tokenizer does not belong to this model/);
    } finally {
      model.dispose();
    }
  });
});

describe('classifier tokenization: special tokens, segments, labels', () => {
  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  before(async () => {
    runtime = await tfRuntimeFor('js');
  });
  after(cleanup);

  for (const processor of ['template', 'bert'] as const) {
    it(`BERT (${processor === 'bert' ? 'BertProcessing' : 'TemplateProcessing'}): [CLS] text [SEP] pair [SEP], segments 0 then 1`, async () => {
      const folder = writeClassifierFolder(join(dir, `bert-${processor}`), 'bert', { seed: 1, processor });
      const [single, pair] = (await classifierOf(runtime, folder)).tokenize([{ text: 'The cat', label: 0, line: 1 }, { text: 'the cat', textPair: 'a dog', label: 1, line: 2 }], 'x.jsonl');
      const tokens = (ids: Int32Array): string[] => [...ids].map((id) => folder.vocab[id]!);
      assert.deepEqual(tokens(single!.ids), ['[CLS]', 'the', 'cat', '[SEP]']);
      assert.deepEqual([...single!.typeIds], [0, 0, 0, 0]);
      assert.deepEqual(tokens(pair!.ids), ['[CLS]', 'the', 'cat', '[SEP]', 'a', 'dog', '[SEP]']);
      assert.deepEqual([...pair!.typeIds], [0, 0, 0, 0, 1, 1, 1]);
      assert.equal(pair!.label, 1);
    });
  }

  it('RoBERTa: <s> text </s></s> pair </s>, positions from pad_token_id + 1 over non-padding tokens', async () => {
    const folder = writeClassifierFolder(join(dir, 'roberta'), 'roberta', { seed: 1 });
    const [pair, single] = (await classifierOf(runtime, folder)).tokenize([{ text: 'the cat', textPair: 'film', label: 0, line: 1 }, { text: 'the', label: 0, line: 2 }], 'x.jsonl');
    assert.deepEqual([...pair!.ids].map((id) => folder.vocab[id]), ['<s>', 'the', 'Ġcat', '</s>', '</s>', 'film', '</s>']);
    const batch = paddedBatch([pair!, single!], [0, 1]);
    assert.deepEqual([...robertaPositions(batch, 1)], [2, 3, 4, 5, 6, 7, 8, /* padded */ 2, 3, 4, 1, 1, 1, 1]);
  });

  it('stops on a label outside the head\'s classes or a missing label, naming the line', async () => {
    const classifier = await classifierOf(runtime, writeClassifierFolder(join(dir, 'labels'), 'bert', { seed: 1, labels: 2 }));
    assert.throws(() => classifier.tokenize([{ text: 'a', label: 1, line: 1 }, { text: 'b', label: 2, line: 4 }], 'sst.jsonl'),
      (e: unknown) => e instanceof EvaluationError && e.code === 'data' && /line 4 of sst\.jsonl has label 2, outside the 2 classes of the model's head \(config\.json id2label or num_labels\): labels are 0 to 1/.test(e.message));
    assert.throws(() => classifier.tokenize([{ text: 'a', line: 3 }], 'sst.jsonl'),
      (e: unknown) => e instanceof EvaluationError && e.code === 'data' && /line 3 of sst\.jsonl has no "label": a sequence classifier's examples need one, an integer class from 0 to 1/.test(e.message));
  });

  it('stops on a token id beyond the model\'s vocabulary, naming the line', async () => {
    const folder = writeClassifierFolder(join(dir, 'small-vocab'), 'bert', { seed: 1 });
    writeFileSync(join(folder.dir, 'config.json'), JSON.stringify({ ...folder.config, vocab_size: 10 }));
    const classifier = await classifierOf(runtime, folder);
    assert.throws(() => classifier.tokenize([{ text: 'very good', label: 0, line: 5 }], 'x.jsonl'), /line 5 of x\.jsonl gives token id 17, outside the model's vocabulary of 10 \(config\.json vocab_size\)/);
  });
});

describe('truncation to the model\'s positions', () => {
  const table: [number, number, number, [number, number]][] = [
    [5, 0, 10, [5, 0]], [12, 0, 10, [10, 0]], [3, 3, 10, [3, 3]], [3, 20, 10, [3, 7]], [20, 3, 10, [7, 3]],
    [8, 9, 10, [5, 5]], [9, 8, 10, [5, 5]], [8, 8, 9, [4, 5]], [9, 9, 9, [4, 5]], [6, 6, 11, [5, 6]],
  ];
  for (const [text, pair, budget, kept] of table) {
    it(`text ${text}, pair ${pair}, room for ${budget}: keeps ${kept.join(' and ')} (the longer loses tokens first)`, () => {
      assert.deepEqual(truncatedLengths(text, pair, budget), kept);
    });
  }

  const { dir, cleanup } = fixtureDir();
  let runtime: TfRuntime;
  before(async () => {
    runtime = await tfRuntimeFor('js');
  });
  after(cleanup);

  const long = 'the cat sat on the mat and the dog sat on the cat';
  it('BERT: a long text and pair are cut to the positions, keeping [CLS] and both [SEP], and score', async () => {
    const folder = writeClassifierFolder(join(dir, 'bert'), 'bert', { seed: 2, positions: 10 });
    const classifier = await classifierOf(runtime, folder);
    const [single, pair] = classifier.tokenize([{ text: long, label: 0, line: 1 }, { text: long, textPair: 'a good film', label: 1, line: 2 }], 'x.jsonl');
    const tokens = (ids: Int32Array): string[] => [...ids].map((id) => folder.vocab[id]!);
    assert.deepEqual(tokens(single!.ids), ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', 'and', 'the', '[SEP]']);
    // 3 special tokens leave 7: the pair (3 tokens) is the shorter and whole, the text keeps 4.
    assert.deepEqual(tokens(pair!.ids), ['[CLS]', 'the', 'cat', 'sat', 'on', '[SEP]', 'a', 'good', 'film', '[SEP]']);
    assert.deepEqual([...pair!.typeIds], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    const expected = python(folder.dir, [single!, pair!]).logits;
    assert.ok(relativeError(await batchLogits(runtime, folder, floatTensors(folder.model), [single!, pair!]), expected.flat()) < 1e-4);
  });

  it('RoBERTa: cut to max_position_embeddings - pad_token_id - 1 tokens', async () => {
    const folder = writeClassifierFolder(join(dir, 'roberta'), 'roberta', { seed: 2, positions: 6 });
    assert.equal(folder.config['max_position_embeddings'], 8);
    const [single] = (await classifierOf(runtime, folder)).tokenize([{ text: long, label: 0, line: 1 }], 'x.jsonl');
    assert.deepEqual([...single!.ids].map((id) => folder.vocab[id]), ['<s>', 'the', 'Ġcat', 'Ġ', 's', '</s>']);
    const expected = python(folder.dir, [single!]).logits;
    assert.ok(relativeError(await batchLogits(runtime, folder, floatTensors(folder.model), [single!]), expected.flat()) < 1e-4);
  });
});

describe('classifier configurations refused, with messages', () => {
  const base = { model_type: 'bert', architectures: ['BertForSequenceClassification'], hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 8, max_position_embeddings: 16, vocab_size: 50 };
  const cases: { name: string; config: Record<string, unknown>; message: RegExp }[] = [
    { name: 'another activation', config: { hidden_act: 'relu' }, message: /m: config\.json's hidden_act is "relu"; the built-in BERT evaluator computes "gelu" or "gelu_new"; evaluate it with task\(\.\.\., command="\.\.\."\)/ },
    { name: 'relative position embeddings', config: { position_embedding_type: 'relative_key' }, message: /position_embedding_type is "relative_key"; the built-in BERT evaluator computes "absolute"/ },
    { name: 'a multi-label head', config: { problem_type: 'multi_label_classification' }, message: /problem_type is "multi_label_classification"; the built-in BERT evaluator scores single-label classification \(accuracy, cross-entropy\); evaluate it with task\(\.\.\., command="\.\.\."\)/ },
    { name: 'a regression head (num_labels 1)', config: { num_labels: 1 }, message: /problem_type is "regression" \(num_labels 1\); the built-in BERT evaluator scores single-label classification/ },
    { name: 'a decoder', config: { is_decoder: true }, message: /is_decoder is true \(causal attention\)/ },
    { name: 'hidden_size not a multiple of the heads', config: { num_attention_heads: 3 }, message: /hidden_size 8 is not a multiple of num_attention_heads 3/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.throws(() => bert.config({ ...base, ...c.config }, 'm'), (e: unknown) => e instanceof EvaluationError && c.message.test(e.message));
    });
  }

  it('RoBERTa: positions leave pad_token_id + 1 rows; a table without room is refused', () => {
    const config = roberta.config({ ...base, model_type: 'roberta', max_position_embeddings: 514, pad_token_id: 1 }, 'm');
    assert.equal(config.positions, 512);
    assert.throws(() => roberta.config({ ...base, max_position_embeddings: 2, pad_token_id: 1 }, 'm'), /max_position_embeddings 2 leaves no position for text after the first 2/);
  });

  it('classes: id2label\'s size, else num_labels, else 2 (as transformers reads them)', () => {
    assert.equal(bert.config({ ...base, id2label: { 0: 'a', 1: 'b', 2: 'c' }, num_labels: 5 }, 'm').labels, 3);
    assert.equal(bert.config({ ...base, num_labels: 5 }, 'm').labels, 5);
    assert.equal(bert.config(base, 'm').labels, 2);
    const facts = (json: unknown) => hfConfigFacts('/m/config.json', parseStrictJson(JSON.stringify(json), 64)).numLabels;
    assert.deepEqual([facts({ id2label: { 0: 'a', 1: 'b', 2: 'c' }, num_labels: 5 }), facts({ num_labels: 5 }), facts({})], [3, 5, 2]);
  });

  it('the registry picks BERT and RoBERTa classifiers by architecture, and refuses a masked LM', () => {
    assert.equal(transformerFamily({ architectures: ['BertForSequenceClassification'] }, 'm').name, 'BERT');
    assert.equal(transformerFamily({ model_type: 'roberta', architectures: ['RobertaForSequenceClassification'] }, 'm').name, 'RoBERTa');
    assert.throws(() => transformerFamily({ model_type: 'bert', architectures: ['BertForMaskedLM'] }, 'm'), /config\.json says model_type "bert", architectures "BertForMaskedLM"/);
  });
});

describe('text data: labels and text pairs', () => {
  it('reads "label" and "text_pair", and reports bad ones by line', () => {
    const data = parseTextData('x.jsonl', [
      '{"text": "a", "text_pair": "b", "label": 2, "split": "validation"}',
      '{"text": "c", "split": "test"}',
      '{"text": "d", "label": -1, "split": "test"}',
      '{"text": "e", "label": 1.5, "split": "test"}',
      '{"text": "f", "label": "pos", "split": "test"}',
      '{"text": "g", "text_pair": 3, "split": "test"}',
    ].join('\n'));
    assert.deepEqual(data.documents.map((d) => [d.text, d.textPair, d.label, d.line]), [['a', 'b', 2, 1], ['c', undefined, undefined, 2]]);
    assert.deepEqual(data.problems.map((p) => [p.line, p.message]), [
      [3, 'has "label": -1; a label is a class index, an integer 0 or more'],
      [4, 'has "label": 1.5; a label is a class index, an integer 0 or more'],
      [5, 'has "label": "pos"; a label is a class index, an integer 0 or more'],
      [6, 'has "text_pair": 3, not a string'],
    ]);
  });
});
