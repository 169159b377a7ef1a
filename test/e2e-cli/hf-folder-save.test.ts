// The built CLI on two GPT-2-shaped Hugging Face folders: `tvr check` accepts a save to a
// folder path, and `tvr run` writes a complete model folder there (config, tokenizer,
// generation config, card, sharded weights with transformers' index), read back by
// numpy independently of tvr.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureDir, perturbModel } from '../helpers/checkpoint-fixtures.ts';
import { frontMatter, readWithNumpy } from '../helpers/hf-folder-reader.ts';
import { writeHfFolder } from '../helpers/hf-fixtures.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';

const RECIPE = `base   = load("gpt2-base")
sci    = load("gpt2-sci")
edited = base + 0.5*(sci - base)
save(edited, "out/edited", dtype="bf16", shard_size="40KB")
`;

describe('tvr check and tvr run with a Hugging Face folder save (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    const base = writeHfFolder(join(dir, 'gpt2-base'), { family: 'gpt2', tied: false, seed: 3 });
    writeHfFolder(join(dir, 'gpt2-sci'), { family: 'gpt2', tied: false, model: perturbModel(base.model, { seed: 4, scale: 0.05 }) });
    writeFileSync(join(dir, 'edit.tvr'), RECIPE);
  });
  after(cleanup);

  it('checks without diagnostics, then writes a folder the Hugging Face libraries load', async () => {
    const check = await runTvr(['check', '--json', 'edit.tvr'], dir);
    assert.equal(check.code, 0, check.stderr);
    assert.deepEqual(JSON.parse(check.stdout), []);

    const { code, stdout, stderr } = await runTvr(['run', 'edit.tvr'], dir);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /wrote \S*out\/edited \(Hugging Face model folder: config, tokenizer, card, safetensors, \d+ tensors, [\d.]+ KB\)/);
    const out = join(dir, 'out/edited');
    const files = readdirSync(out).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.deepEqual(files, ['README.md', 'config.json', 'generation_config.json', ...shards, 'model.safetensors.index.json', 'tokenizer.json'].sort());
    assert.ok(shards.length >= 2);

    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['torch_dtype'], 'bfloat16');
    assert.equal(config['vocab_size'], 1000);
    assert.equal(config['tie_word_embeddings'], false);
    assert.deepEqual(config['architectures'], ['GPT2LMHeadModel']);

    const read = readWithNumpy(out);
    assert.equal(Object.keys(read.index!.weight_map).length, Object.keys(read.tensors).length);
    assert.ok(Object.values(read.tensors).every((t) => t.dtype === 'BF16'));
    assert.ok(Object.values(read.metadata).every((m) => m?.['format'] === 'pt'));
    assert.equal(read.index!.metadata.total_size, Object.values(read.tensors).reduce((sum, t) => sum + t.bytes, 0));

    const card = readFileSync(join(out, 'README.md'), 'utf8');
    const front = frontMatter(card);
    assert.equal(front['base_model'], 'gpt2-base');
    assert.equal(front['library_name'], 'transformers');
    assert.ok((front['tags'] as string[]).includes('task-arithmetic'));
    assert.ok(card.includes(RECIPE));
  });
});

describe('tvr check --json on folders that do not combine (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    writeHfFolder(join(dir, 'gpt2-base'), { family: 'gpt2', seed: 5 });
    writeHfFolder(join(dir, 'gpt2-big'), { family: 'gpt2', vocabSize: 1003, seed: 6 });
    writeHfFolder(join(dir, 'gpt2-deep'), { family: 'gpt2', layers: 3, seed: 7 });
    writeHfFolder(join(dir, 'gpt2-untied'), { family: 'gpt2', tied: false, seed: 8 });
    writeFileSync(join(dir, 'mix.tvr'), 'base = load("gpt2-base")\nv1 = load("gpt2-big") - base\nv2 = load("gpt2-deep") - base\nv3 = load("gpt2-untied") - base\n');
  });
  after(cleanup);

  it('reports vocab-mismatch, config-mismatch and tied-embeddings on the operands, with their codes and lines', async () => {
    const { code, stdout } = await runTvr(['check', '--json', 'mix.tvr'], dir);
    assert.equal(code, 1);
    const diagnostics = (JSON.parse(stdout) as { code: string; severity: string; range: { start: { line: number } } }[])
      .filter((d) => d.code !== 'unused-binding')
      .map((d) => `${d.range.start.line + 1} ${d.severity} ${d.code}`);
    assert.deepEqual(diagnostics, ['2 error vocab-mismatch', '3 error config-mismatch', '4 info tied-embeddings']);
  });
});
