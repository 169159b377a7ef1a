// config.json and tokenizer.json of Hugging Face model folders: the facts read, the family
// defaults for tied embeddings, the vocabulary shapes, and the limits.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hfConfigFacts, MAX_CONFIG_BYTES, readHfFolderConfig, vocabularyOf } from '../../../server/src/checkpoints/hf-config.ts';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { parseStrictJson } from '../../../server/src/checkpoints/strict-json.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { hfConfig, writeHfFolder } from '../../helpers/hf-fixtures.ts';

const facts = (json: unknown) => hfConfigFacts('/m/config.json', parseStrictJson(JSON.stringify(json), 64));

const configRows: { name: string; config: unknown; expected: Record<string, unknown> }[] = [
  {
    name: 'GPT-2 as transformers writes it: n_layer, n_embd, tied by default',
    config: hfConfig('gpt2', { layers: 3, hiddenSize: 8, vocabSize: 1003 }),
    expected: { modelType: 'gpt2', architectures: ['GPT2LMHeadModel'], layers: 3, hiddenSize: 8, vocabSize: 1003, tieWordEmbeddings: true, tieStated: false, torchDtype: 'float32' },
  },
  {
    name: 'GPT-2 untied states it',
    config: hfConfig('gpt2', {}, false),
    expected: { tieWordEmbeddings: false, tieStated: true },
  },
  {
    name: 'Llama: num_hidden_layers, hidden_size, untied',
    config: hfConfig('llama', { layers: 4, hiddenSize: 32 }),
    expected: { modelType: 'llama', layers: 4, hiddenSize: 32, tieWordEmbeddings: false, tieStated: true },
  },
  { name: 'Llama without the key unties (LlamaConfig default)', config: { model_type: 'llama' }, expected: { tieWordEmbeddings: false, tieStated: false } },
  { name: 'Mistral without the key unties', config: { model_type: 'mistral' }, expected: { tieWordEmbeddings: false } },
  { name: 'an unknown family ties (PretrainedConfig default)', config: { model_type: 'bert' }, expected: { tieWordEmbeddings: true } },
  { name: 'the newer "dtype" key', config: { model_type: 'llama', dtype: 'bfloat16' }, expected: { torchDtype: 'bfloat16' } },
  { name: 'null values count as absent', config: { model_type: 'gpt2', n_layer: null, architectures: null }, expected: { architectures: [], layers: undefined } },
];

for (const row of configRows) {
  test(`config.json: ${row.name}`, () => {
    const got = facts(row.config) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(row.expected)) assert.deepEqual(got[key], value, key);
  });
}

const badRows: { config: string; message: RegExp }[] = [
  { config: '[1, 2]', message: /config\.json must be a JSON object, not an array/ },
  { config: '{"architectures": "GPT2LMHeadModel"}', message: /"architectures" must be a list of strings, not "GPT2LMHeadModel"/ },
  { config: '{"vocab_size": -1}', message: /"vocab_size" must be a non-negative integer, not -1/ },
  { config: '{"tie_word_embeddings": "yes"}', message: /"tie_word_embeddings" must be true or false, not "yes"/ },
];

for (const row of badRows) {
  test(`config.json refused: ${row.config}`, () => {
    assert.throws(() => hfConfigFacts('/m/config.json', parseStrictJson(row.config, 64)), (e: unknown) => e instanceof CheckpointError && e.code === 'bad-config' && row.message.test(e.message));
  });
}

const vocabRows: { name: string; tokenizer: unknown; expected: (string | undefined)[] | undefined }[] = [
  { name: 'a BPE/WordLevel map, by id', tokenizer: { model: { type: 'BPE', vocab: { b: 1, a: 0, c: 2 } } }, expected: ['a', 'b', 'c'] },
  { name: 'a sparse map keeps holes', tokenizer: { model: { vocab: { a: 0, c: 2 } } }, expected: ['a', undefined, 'c'] },
  { name: 'a Unigram list of [token, score]', tokenizer: { model: { type: 'Unigram', vocab: [['<unk>', 0], ['x', -1.5]] } }, expected: ['<unk>', 'x'] },
  { name: 'no model: not compared', tokenizer: { added_tokens: [] }, expected: undefined },
  { name: 'a non-integer id: not compared', tokenizer: { model: { vocab: { a: 0.5 } } }, expected: undefined },
  { name: 'an id past the limit: not compared', tokenizer: { model: { vocab: { a: 2 ** 21 } } }, expected: undefined },
];

for (const row of vocabRows) {
  test(`tokenizer.json vocabulary: ${row.name}`, () => {
    assert.deepEqual(vocabularyOf(parseStrictJson(JSON.stringify(row.tokenizer), 64)), row.expected);
  });
}

test('a folder header carries its config, tokenizer vocabulary and the files read; a plain folder has none', async () => {
  const { dir, cleanup } = fixtureDir();
  try {
    writeHfFolder(join(dir, 'm'), { family: 'llama', vocabSize: 40, generationConfig: false });
    const header = await readCheckpointHeader(join(dir, 'm'));
    assert.equal(header.hfConfig?.modelType, 'llama');
    assert.equal(header.hfConfig?.vocabulary?.length, 40);
    assert.equal(header.hfConfig?.vocabulary?.[3], 'the');
    assert.equal(header.hfConfig?.hasTokenizer, true);
    assert.equal(header.hfConfig?.hasGenerationConfig, false);
    assert.deepEqual(header.hfConfig?.files.map((f) => f.path.replace(/^.*\//, '')), ['config.json', 'tokenizer.json']);
    // Naming the weights file itself reads no configuration: the folder is the model.
    assert.equal((await readCheckpointHeader(join(dir, 'm', 'model.safetensors'))).hfConfig, undefined);
    writeHfFolder(join(dir, 'plain'), { family: 'gpt2', vocab: false, generationConfig: false, config: {} });
    writeFileSync(join(dir, 'plain', 'config.json'), '{}');
    assert.equal((await readHfFolderConfig(join(dir, 'plain')))?.tieWordEmbeddings, true);
  } finally {
    cleanup();
  }
});

test('a config.json past the size limit is refused before it is parsed', async () => {
  const { dir, cleanup } = fixtureDir();
  try {
    writeHfFolder(join(dir, 'm'), { family: 'gpt2' });
    writeFileSync(join(dir, 'm', 'config.json'), ' '.repeat(MAX_CONFIG_BYTES + 1));
    await assert.rejects(readCheckpointHeader(join(dir, 'm')), (e: unknown) => e instanceof CheckpointError && e.code === 'bad-config' && /more than the 1048576-byte limit/.test(e.message));
  } finally {
    cleanup();
  }
});

test('the header cache reads config.json again when it changes', async () => {
  const { dir, cleanup } = fixtureDir();
  try {
    const { HeaderCache } = await import('../../../server/src/checkpoints/read-header.ts');
    const { utimesSync } = await import('node:fs');
    const folder = join(dir, 'm');
    writeHfFolder(folder, { family: 'gpt2' });
    const cache = new HeaderCache();
    assert.equal((await cache.get(folder)).hfConfig?.layers, 2);
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...hfConfig('gpt2'), n_layer: 5 }));
    utimesSync(join(folder, 'config.json'), new Date(), new Date(Date.now() + 5000));
    assert.equal((await cache.get(folder)).hfConfig?.layers, 5);
  } finally {
    cleanup();
  }
});
