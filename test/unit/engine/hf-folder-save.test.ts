// Saves whose anchor model was loaded from a Hugging Face model folder write a folder that
// the Hugging Face libraries load: config.json (dtype, vocabulary size and tied head as
// the output now is), the anchor's tokenizer files and generation_config.json, weights
// with {"format": "pt"} (sharded with transformers' index past the shard size) and a
// README.md model card. The folder is read back by an independent reader (Python and
// numpy), and the card's front matter by a tiny YAML-subset parser.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HF_FOLDER_FILES, hfBaseModel, jsonText, MAX_COPIED_BYTES, outputConfig } from '../../../server/src/checkpoints/write-hf-folder.ts';
import { JsonNumber, parseStrictJson } from '../../../server/src/checkpoints/strict-json.ts';
import type { JsonObject } from '../../../server/src/checkpoints/strict-json.ts';
import type { OutputTensor } from '../../../server/src/checkpoints/write-stream.ts';
import { EngineError } from '../../../server/src/engine/errors.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { BackendName } from '../../../server/src/engine/index.ts';
import type { ModelCardRequest } from '../../../server/src/engine/outputs.ts';
import { yamlScalar } from '../../../server/src/results/model-card.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { frontMatter, readWithNumpy } from '../../helpers/hf-folder-reader.ts';
import { writeHfFolder } from '../../helpers/hf-fixtures.ts';
import type { HfFamily } from '../../helpers/hf-fixtures.ts';
import { ProgramBuilder } from './helpers.ts';

const { dir: root, cleanup } = fixtureDir();
after(cleanup);

const ULP_BITS = { F32: 23, F16: 10, BF16: 7 } as const;

/** Within one unit in the last place of the stored dtype (the engine computes in float32, then rounds to nearest even). */
function assertClose(got: readonly number[], expected: readonly number[], dtype: keyof typeof ULP_BITS, name: string): void {
  assert.equal(got.length, expected.length, name);
  for (let i = 0; i < got.length; i++) {
    const tolerance = Math.max(Math.abs(expected[i]!) * 2 ** -ULP_BITS[dtype], 2 ** -24);
    assert.ok(Math.abs(got[i]! - expected[i]!) <= tolerance, `${name}[${i}]: ${got[i]} vs ${expected[i]}`);
  }
}

interface Pair {
  readonly dir: string;
  readonly base: FixtureModel;
  readonly sci: FixtureModel;
}

/** Two folders of one family: gpt2-base (random) and gpt2-sci (the base plus small noise), with tokenizer and generation config. */
function writePair(dir: string, family: HfFamily, options: { tied?: boolean; dtype?: 'F32' | 'F16' | 'BF16'; config?: Record<string, unknown> } = {}): Pair {
  const base = writeHfFolder(join(dir, 'gpt2-base'), { family, seed: 1, ...options });
  const sci = writeHfFolder(join(dir, 'gpt2-sci'), { family, ...options, model: perturbModel(base.model, { seed: 7, scale: 0.05 }) });
  return { dir, base: base.model, sci: sci.model };
}

const RECIPE = (saveArgs: string) => `base = load("gpt2-base")
sci = load("gpt2-sci")
edited = base + 0.5*(sci - base)
save(edited, "out/edited"${saveArgs})
`;

async function run(dir: string, recipeText: string): Promise<void> {
  const recipe = join(dir, 'edit.tvr');
  writeFileSync(recipe, recipeText);
  await runRecipe({ recipe, cache: false });
}

interface Case {
  readonly name: string;
  readonly family: HfFamily;
  readonly tied: boolean;
  /** The inputs' stored dtype. */
  readonly stored?: 'F32' | 'F16' | 'BF16';
  readonly saveArgs: string;
  readonly torchDtype: 'float32' | 'float16' | 'bfloat16';
  /** tie_word_embeddings in the output's config.json; undefined: absent (transformers then ties). */
  readonly tie: boolean | undefined;
  readonly sharded: boolean;
}

const CASES: readonly Case[] = [
  { name: 'GPT-2, tied, float32', family: 'gpt2', tied: true, saveArgs: '', torchDtype: 'float32', tie: undefined, sharded: false },
  { name: 'GPT-2, untied, dtype="f16"', family: 'gpt2', tied: false, saveArgs: ', dtype="f16"', torchDtype: 'float16', tie: false, sharded: false },
  { name: 'GPT-2, tied, shard_size="40KB"', family: 'gpt2', tied: true, saveArgs: ', shard_size="40KB"', torchDtype: 'float32', tie: undefined, sharded: true },
  { name: 'Llama, tied, bfloat16 inputs keep bfloat16', family: 'llama', tied: true, stored: 'BF16', saveArgs: '', torchDtype: 'bfloat16', tie: true, sharded: false },
  { name: 'Llama, untied, dtype="bf16", shard_size="10KB"', family: 'llama', tied: false, saveArgs: ', dtype="bf16", shard_size="10KB"', torchDtype: 'bfloat16', tie: false, sharded: true },
];

describe('save of a model anchored in a Hugging Face folder', () => {
  for (const c of CASES) {
    it(`writes a loadable folder: ${c.name}`, async () => {
      const dir = join(root, c.name.replace(/[^a-z0-9]+/gi, '-'));
      const pair = writePair(dir, c.family, { tied: c.tied, ...(c.stored ? { dtype: c.stored } : {}) });
      await run(dir, RECIPE(c.saveArgs));
      const out = join(dir, 'out/edited');
      const files = readdirSync(out).sort();
      for (const name of ['config.json', 'README.md', 'tokenizer.json', 'generation_config.json']) assert.ok(files.includes(name), `${name} in ${files.join(', ')}`);
      assert.ok(files.every((f) => !f.startsWith('.')), `no temporaries left: ${files.join(', ')}`);

      // config.json: the anchor's, with dtype, vocabulary and tie as the output is.
      const anchorConfig = JSON.parse(readFileSync(join(dir, 'gpt2-base/config.json'), 'utf8')) as Record<string, unknown>;
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config['torch_dtype'], c.torchDtype);
      assert.equal(config['vocab_size'], 1000);
      assert.equal(config['tie_word_embeddings'], c.tie);
      assert.deepEqual({ ...config, torch_dtype: anchorConfig['torch_dtype'] }, anchorConfig, 'every other key as the anchor has it');
      assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), readFileSync(join(dir, 'gpt2-base/tokenizer.json'), 'utf8'));
      assert.equal(readFileSync(join(out, 'generation_config.json'), 'utf8'), readFileSync(join(dir, 'gpt2-base/generation_config.json'), 'utf8'));

      // Weights, read by numpy: 0.5 base + 0.5 sci in the output dtype, every tensor exactly once, format pt.
      const read = readWithNumpy(out);
      const dtype = ({ float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as const)[c.torchDtype];
      assert.deepEqual(Object.keys(read.tensors).sort(), pair.base.tensors.map((t) => t.name).sort());
      assert.equal(Object.keys(read.tensors).includes('lm_head.weight'), !c.tied);
      pair.base.tensors.forEach((t, i) => {
        const got = read.tensors[t.name]!;
        assert.equal(got.dtype, dtype, t.name);
        assert.deepEqual(got.shape, t.shape, t.name);
        const expected = [...t.values].map((v, k) => Math.fround(Math.fround(0.5 * v) + Math.fround(0.5 * pair.sci.tensors[i]!.values[k]!)));
        assertClose(got.values, expected, dtype, t.name);
      });
      for (const [file, metadata] of Object.entries(read.metadata)) {
        assert.equal(metadata?.['format'], 'pt', file);
        assert.match(metadata?.['tvr.inputs'] ?? '', /gpt2-sci/, file);
      }
      if (c.sharded) {
        const index = read.index!;
        assert.ok(files.includes('model.safetensors.index.json') && !files.includes('model.safetensors'));
        const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
        assert.ok(shards.length >= 2, `shards: ${shards.join(', ')}`);
        assert.ok(shards.every((f) => f.endsWith(`-of-${String(shards.length).padStart(5, '0')}.safetensors`)));
        assert.deepEqual(Object.keys(index.weight_map).sort(), Object.keys(read.tensors).sort());
        for (const [name, tensor] of Object.entries(read.tensors)) {
          assert.equal(index.weight_map[name], tensor.file, name);
          assert.equal(read.occurrences[name], 1, name);
        }
        assert.equal(index.metadata.total_size, Object.values(read.tensors).reduce((sum, t) => sum + t.bytes, 0));
      } else {
        assert.ok(files.includes('model.safetensors') && !files.includes('model.safetensors.index.json'));
      }

      // README.md: Hub front matter, the recipe, provenance.
      const card = readFileSync(join(out, 'README.md'), 'utf8');
      const front = frontMatter(card);
      assert.equal(front['base_model'], 'gpt2-base');
      assert.deepEqual(front['tags'], ['tvr', 'merge', 'task-arithmetic']);
      assert.equal(front['library_name'], 'transformers');
      assert.ok(card.includes(`\`\`\`tvr\n${RECIPE(c.saveArgs)}\`\`\``), 'the recipe in a fenced block');
      assert.match(card, /\| `gpt2-base` \| `[0-9a-f]{64}` \|/);
      assert.match(card, /\| `gpt2-sci` \| `[0-9a-f]{64}` \|/);
    });
  }

  it('puts the chosen coefficients and the evaluation table into the card when the run evaluated', async () => {
    const dir = join(root, 'evaluated');
    const pair = writePair(dir, 'gpt2');
    // An external evaluator summing ln_f.bias of the checkpoint it is given: best at the middle of base and sci.
    const biasSum = (model: FixtureModel) => model.tensors.find((t) => t.name === 'transformer.ln_f.bias')!.values.reduce((x, y) => x + y, 0);
    const target = (biasSum(pair.base) + biasSum(pair.sci)) / 2;
    writeFileSync(join(dir, 'eval.mjs'), `
import { readFileSync } from 'node:fs';
const bytes = readFileSync(process.argv[2]);
const length = Number(bytes.readBigUInt64LE(0));
const entry = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'))['transformer.ln_f.bias'];
let sum = 0;
for (let at = entry.data_offsets[0]; at < entry.data_offsets[1]; at += 4) sum += bytes.readFloatLE(8 + length + at);
console.log(JSON.stringify({ accuracy: Math.max(0, 1 - Math.abs(sum - ${target}) * 10), examples: 1 }));
`);
    mkdirSync(join(dir, 'data'));
    writeSafetensors(join(dir, 'data/prose.safetensors'), makeModel(['validation/x', 'validation/y', 'test/x', 'test/y'].map((name) => ({ name, shape: [2, 2] })), { seed: 1 }));
    await run(dir, `base = load("gpt2-base")
sci = load("gpt2-sci")
lam = sweep(0, 1, 0.25)
edited = base + lam*(sci - base)
prose = task("data/prose.safetensors", head=sci, command="'${process.execPath}' eval.mjs {model}")
evaluate(edited, targets=[prose], objective="max")
save(edited, "out/edited")
`);
    const card = readFileSync(join(dir, 'out/edited/README.md'), 'utf8');
    assert.match(card, /## Chosen coefficients\n\n\| sweep \| value \|\n\|---\|---:\|\n\| `lam` \| 0\.5 \|/);
    assert.match(card, /## Evaluation\n\nObjective `max`: .*Chosen on the validation split: `edited` at lam=0\.5/);
    assert.match(card, /\| prose \| target \| accuracy \|/);
  });

  it('leaves a Vector save a plain checkpoint folder (a difference of weights is no model)', async () => {
    const dir = join(root, 'vector');
    writePair(dir, 'gpt2');
    await run(dir, 'base = load("gpt2-base")\nsci = load("gpt2-sci")\nsave(sci - base, "out/vector")\n');
    assert.deepEqual(readdirSync(join(dir, 'out/vector')), ['model.safetensors']);
  });

  it('replaces an earlier folder output with overwrite=true, but never a folder holding other files', async () => {
    const dir = join(root, 'overwrite');
    writePair(dir, 'gpt2');
    await run(dir, RECIPE(''));
    await run(dir, RECIPE(', dtype="f16", overwrite=true'));
    const config = JSON.parse(readFileSync(join(dir, 'out/edited/config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['torch_dtype'], 'float16');
    writeFileSync(join(dir, 'out/edited/notes.txt'), 'mine');
    await assert.rejects(run(dir, RECIPE(', overwrite=true')), /refusing to replace this directory: it holds files a checkpoint output does not write \(notes\.txt\)/);
    assert.equal(readFileSync(join(dir, 'out/edited/notes.txt'), 'utf8'), 'mine');
  });

  const REFUSED: readonly { name: string; prepare: (folder: string, outside: string) => void; message: RegExp }[] = [
    {
      name: 'a tokenizer file that is a symlink out of the model folder',
      prepare: (folder, outside) => {
        writeFileSync(join(outside, 'secret.txt'), 'private');
        symlinkSync(join(outside, 'secret.txt'), join(folder, 'vocab.txt'));
      },
      message: /vocab\.txt: is a symlink to .*secret\.txt, outside the model folder .*: replace the link with the file itself, or remove it/,
    },
    {
      name: 'a tokenizer file larger than the bound (sparse)',
      prepare: (folder) => {
        writeFileSync(join(folder, 'merges.txt'), '');
        truncateSync(join(folder, 'merges.txt'), MAX_COPIED_BYTES + 1);
      },
      message: new RegExp(`merges\\.txt: is ${MAX_COPIED_BYTES + 1} bytes, more than the ${MAX_COPIED_BYTES} bytes tvr copies`),
    },
    {
      name: 'a tokenizer file that is a FIFO',
      prepare: (folder) => execFileSync('mkfifo', [join(folder, 'special_tokens_map.json')]),
      message: /special_tokens_map\.json: is not a regular file/,
    },
  ];
  for (const r of REFUSED) {
    it(`refuses ${r.name} before anything runs, writing nothing`, async () => {
      const dir = join(root, r.name.replace(/[^a-z0-9]+/gi, '-'));
      writePair(dir, 'gpt2');
      const outside = join(root, `${r.name.replace(/[^a-z0-9]+/gi, '-')}-outside`);
      mkdirSync(outside);
      r.prepare(join(dir, 'gpt2-base'), outside);
      await assert.rejects(run(dir, RECIPE('')), (error: unknown) => error instanceof EngineError && error.code === 'input' && /^line 4: the output is a model folder made from .*gpt2-base/.test(error.message) && r.message.test(error.message));
      assert.equal(existsSync(join(dir, 'out')), false);
    });
  }

  it('copies symlinks inside the model folder, and those of the Hugging Face hub cache (snapshots/<revision> -> blobs)', async () => {
    const repo = join(root, 'hub/models--org--gpt2-base');
    const dir = join(root, 'hub-recipe');
    const pair = writePair(dir, 'gpt2');
    const snapshot = join(repo, 'snapshots/abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    for (const name of readdirSync(join(dir, 'gpt2-base'))) {
      writeFileSync(join(repo, 'blobs', name), readFileSync(join(dir, 'gpt2-base', name)));
      symlinkSync(`../../blobs/${name}`, join(snapshot, name));
    }
    writeFileSync(join(snapshot, 'real-vocab.txt'), 'a\nb\n');
    symlinkSync('real-vocab.txt', join(snapshot, 'vocab.txt'));
    await run(dir, RECIPE('').replace('load("gpt2-base")', `load("${snapshot}")`));
    const out = join(dir, 'out/edited');
    assert.equal(readFileSync(join(out, 'vocab.txt'), 'utf8'), 'a\nb\n');
    assert.ok(existsSync(join(out, 'tokenizer.json')));
    assert.equal(frontMatter(readFileSync(join(out, 'README.md'), 'utf8'))['base_model'], 'abc123');
    assert.equal(pair.base.tensors.length > 0, true);
  });
});

describe('folder outputs through either writer (engine)', () => {
  const WRITERS: readonly { name: string; backend: BackendName; placedMinBytes?: number; writer: 'streaming' | 'placed' }[] = [
    { name: 'the chunk pipeline', backend: 'js', writer: 'streaming' },
    { name: 'the I/O threads, in place', backend: 'js-workers', placedMinBytes: 0, writer: 'placed' },
  ];
  for (const w of WRITERS) {
    for (const shardBytes of [undefined, 30_000]) {
      it(`${w.name}, ${shardBytes ? 'sharded' : 'one file'}: a complete folder, its card from the caller`, async () => {
        const dir = join(root, `engine-${w.backend}-${shardBytes ?? 'single'}`);
        const pair = writePair(dir, 'llama', { tied: false });
        const pb = new ProgramBuilder(join(dir, 'recipe.tvr'));
        const [base, sci] = await Promise.all([pb.load(join(dir, 'gpt2-base')), pb.load(join(dir, 'gpt2-sci'), 1)]);
        pb.save(pb.combine([[1, base], [0.5, pb.diff(sci, base)]], 'model'), join(dir, 'out'), shardBytes ? { shardBytes, dtype: 'F16' } : { dtype: 'F16' });
        const requests: ModelCardRequest[] = [];
        const result = await runProgram(pb.program(), {
          backend: w.backend, recipeText: 'engine', chunkElements: 1000, ...(w.placedMinBytes !== undefined ? { placedMinBytes: w.placedMinBytes } : {}),
          modelCard: (request) => { requests.push(request); return `card of ${request.baseModel}\n`; },
        });
        assert.equal(result.outputs[0]!.writer, w.writer);
        assert.equal(result.outputs[0]!.path, join(dir, 'out'));
        assert.equal(readFileSync(join(dir, 'out/README.md'), 'utf8'), 'card of gpt2-base\n');
        assert.deepEqual(requests.map((r) => [r.baseModel, r.torchDtype, r.metadata['tvr.recipe']]), [['gpt2-base', 'float16', join(dir, 'recipe.tvr')]]);
        const config = JSON.parse(readFileSync(join(dir, 'out/config.json'), 'utf8')) as Record<string, unknown>;
        assert.deepEqual([config['torch_dtype'], config['tie_word_embeddings']], ['float16', false]);
        const read = readWithNumpy(join(dir, 'out'));
        assert.equal(read.index !== undefined, shardBytes !== undefined);
        pair.base.tensors.forEach((t, i) => {
          const expected = [...t.values].map((v, k) => Math.fround(v + Math.fround(0.5 * (pair.sci.tensors[i]!.values[k]! - v))));
          assertClose(read.tensors[t.name]!.values, expected, 'F16', t.name);
        });
      });
    }
  }
});

const tensor = (name: string, shape: number[], dtype: OutputTensor['dtype'] = 'F32'): OutputTensor => ({ name, shape, dtype });
const config = (json: string): JsonObject => parseStrictJson(json, 64) as JsonObject;

describe('config.json of a folder output (outputConfig)', () => {
  const CONFIGS: readonly { name: string; anchor: string; tensors: OutputTensor[]; expected: Record<string, unknown> }[] = [
    {
      name: 'GPT-2 tied: no key written (transformers ties by default); vocabulary from the embedding rows',
      anchor: '{"model_type": "gpt2", "vocab_size": 1003, "torch_dtype": "float32"}',
      tensors: [tensor('transformer.wte.weight', [1000, 8], 'F16'), tensor('transformer.ln_f.bias', [8], 'F16')],
      expected: { model_type: 'gpt2', vocab_size: 1000, torch_dtype: 'float16' },
    },
    {
      name: 'an own lm_head makes the output untied',
      anchor: '{"model_type": "llama", "tie_word_embeddings": true, "vocab_size": 1000, "torch_dtype": "bfloat16"}',
      tensors: [tensor('model.embed_tokens.weight', [1003, 8]), tensor('lm_head.weight', [1003, 8])],
      expected: { model_type: 'llama', tie_word_embeddings: false, vocab_size: 1003, torch_dtype: 'float32' },
    },
    {
      name: 'a tied Llama stays tied; the newer `dtype` key follows too',
      anchor: '{"tie_word_embeddings": true, "vocab_size": 32, "dtype": "float32", "torch_dtype": "float32"}',
      tensors: [tensor('model.embed_tokens.weight', [32, 8], 'BF16'), tensor('model.norm.weight', [8], 'BF16')],
      expected: { tie_word_embeddings: true, vocab_size: 32, dtype: 'bfloat16', torch_dtype: 'bfloat16' },
    },
    {
      name: 'BERT: word_embeddings rows; the most common dtype by bytes',
      anchor: '{"model_type": "bert", "vocab_size": 30522}',
      tensors: [tensor('bert.embeddings.word_embeddings.weight', [100, 8], 'F16'), tensor('classifier.bias', [2])],
      expected: { model_type: 'bert', vocab_size: 100, torch_dtype: 'float16' },
    },
  ];
  for (const c of CONFIGS) {
    it(c.name, () => {
      assert.deepEqual(JSON.parse(jsonText(outputConfig(config(c.anchor), c.tensors))), c.expected);
    });
  }

  it('keeps every other value as written: number literals, nesting, key order', () => {
    const anchor = '{\n  "layer_norm_epsilon": 1e-05,\n  "rope_scaling": {"factor": 8.0, "type": "llama3"},\n  "id2label": {"10": "b", "2": "a"},\n  "empty": [],\n  "vocab_size": 4\n}';
    const text = jsonText(outputConfig(config(anchor), [tensor('wte.weight', [4, 2])]));
    assert.equal(text, '{\n  "layer_norm_epsilon": 1e-05,\n  "rope_scaling": {\n    "factor": 8.0,\n    "type": "llama3"\n  },\n  "id2label": {\n    "10": "b",\n    "2": "a"\n  },\n  "empty": [],\n  "vocab_size": 4,\n  "torch_dtype": "float32"\n}');
    assert.ok(config(text).get('vocab_size') instanceof JsonNumber);
  });

  it('names the base model by a Hub id in _name_or_path, else by the folder (a local path is not shown)', () => {
    const anchor = (nameOrPath: string) => ({ folder: '/models/gpt2-sci', config: config(JSON.stringify({ _name_or_path: nameOrPath })), copied: [] });
    assert.equal(hfBaseModel(anchor('openai-community/gpt2')), 'openai-community/gpt2');
    assert.equal(hfBaseModel(anchor('/home/me/models/gpt2')), 'gpt2-sci');
    assert.equal(hfBaseModel(anchor('../gpt2')), 'gpt2-sci');
    assert.ok(HF_FOLDER_FILES.includes('README.md') && HF_FOLDER_FILES.includes('config.json'));
  });
});

describe('YAML scalars of the card (yamlScalar)', () => {
  const TABLE: readonly [string, string][] = [
    ['gpt2-base', 'gpt2-base'],
    ['meta-llama/Llama-3.2-1B', 'meta-llama/Llama-3.2-1B'],
    ['true', '"true"'],
    ['1.0', '"1.0"'],
    ['a: b', '"a: b"'],
    ['x\n---\ny', '"x\\n---\\ny"'],
    ['del\u007f\u2028', '"del\\u007f\\u2028"'],
    ['#comment', '"#comment"'],
  ];
  for (const [text, expected] of TABLE) {
    it(JSON.stringify(text), () => {
      assert.equal(yamlScalar(text), expected);
      assert.equal(expected.startsWith('"') ? JSON.parse(expected) : expected, text);
    });
  }
});
