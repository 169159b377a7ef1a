// Hugging Face model folders in the checker: each row is a recipe over tiny random-weight
// folders (test/helpers/hf-fixtures.ts) and exactly the diagnostics it must produce
// (line:col severity code), plus message fragments; then the hover of a folder model.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixtureDir, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { hfRandomModel, hfSpecs, hfVocabulary, writeHfFolder } from '../../helpers/hf-fixtures.ts';
import { analyzeIn, assertCheckRow, cursor, summary, type CheckRow, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';

let ws: RecipeWorkspace;

before(() => {
  const { dir, cleanup } = fixtureDir();
  const base = writeHfFolder(join(dir, 'gpt2-base'), { family: 'gpt2', seed: 1 });
  writeHfFolder(join(dir, 'gpt2-sci'), { family: 'gpt2', model: perturbModel(base.model, { seed: 2, scale: 0.01 }) });
  writeHfFolder(join(dir, 'gpt2-big'), { family: 'gpt2', vocabSize: 1003, seed: 3 });
  writeHfFolder(join(dir, 'gpt2-alt'), { family: 'gpt2', vocabSize: 1003, seed: 4, vocab: hfVocabulary(1003, { differFrom: 500 }) });
  writeHfFolder(join(dir, 'gpt2-notok'), { family: 'gpt2', vocabSize: 1003, seed: 5, vocab: false });
  writeHfFolder(join(dir, 'gpt2-untied'), { family: 'gpt2', tied: false, seed: 6 });
  writeHfFolder(join(dir, 'gpt2-deep'), { family: 'gpt2', layers: 3, seed: 7 });
  writeHfFolder(join(dir, 'gpt2-wide'), { family: 'gpt2', hiddenSize: 32, seed: 19 });
  writeHfFolder(join(dir, 'llama'), { family: 'llama', seed: 8 });
  writeHfFolder(join(dir, 'llama-tied'), { family: 'llama', tied: true, seed: 9 });
  writeHfFolder(join(dir, 'mistral'), { family: 'llama', seed: 10, config: { model_type: 'mistral', architectures: ['MistralForCausalLM'] } });
  writeHfFolder(join(dir, 'llama-sharded'), { family: 'llama', seed: 11, shards: 2 });
  // Plain files without a config: the vocabulary is seen in the embedding rows alone.
  writeSafetensors(join(dir, 'plain-1000.safetensors'), hfRandomModel(hfSpecs({ family: 'gpt2', vocabSize: 1000 }), 12));
  writeSafetensors(join(dir, 'plain-1003.safetensors'), hfRandomModel(hfSpecs({ family: 'gpt2', vocabSize: 1003 }), 13));
  // Two embeddings of the head's shape: neither alone can be said to be the tied head.
  const tiedSpecs = hfSpecs({ family: 'gpt2' });
  const extra = { ...tiedSpecs.find((t) => t.name === 'transformer.wte.weight')!, name: 'extra.embed_tokens.weight' };
  writeSafetensors(join(dir, 'plain-untied.safetensors'), hfRandomModel([...hfSpecs({ family: 'gpt2', tied: false }), extra], 20));
  writeSafetensors(join(dir, 'plain-tied-odd.safetensors'), hfRandomModel([...tiedSpecs, extra], 21));
  writeHfFolder(join(dir, 'bad-type'), { family: 'gpt2', seed: 14, config: { model_type: 3 } });
  writeHfFolder(join(dir, 'bad-json'), { family: 'gpt2', seed: 15 });
  writeFileSync(join(dir, 'bad-json', 'config.json'), '{"model_type": "gpt2", "n_layer": 2,');
  writeHfFolder(join(dir, 'bad-layers'), { family: 'gpt2', seed: 16, config: { n_layer: 2.5 } });
  writeHfFolder(join(dir, 'bad-tokenizer'), { family: 'gpt2', seed: 17 });
  writeFileSync(join(dir, 'bad-tokenizer', 'tokenizer.json'), '{"model": {"vocab": {"a": 0, "a": 1}}}');
  ws = { dir, models: {}, cleanup };
});
after(() => ws.cleanup());

const gpt2 = 'base = load("gpt2-base")\n';

const rows: CheckRow[] = [
  {
    // The fine-tune of the same base (line 5) combines without a word.
    name: 'vocabularies of 1000 and 1003 tokens: vocab-mismatch with both sizes, the resize, and agreeing tokenizers',
    recipe: `${gpt2}big = load("gpt2-big")\nv = big - base\nsci = load("gpt2-sci")\nedited = base + 0.5*(sci - base)\n`,
    diagnostics: ['3:11 error vocab-mismatch'],
    types: { edited: 'Model' },
    messages: [
      "'base' has 1000 tokens but 'big' has 1003 (config.json vocab_size; transformer.wte.weight differs in rows accordingly)",
      'resize_token_embeddings(N)',
      'agree on all 1000 shared ids (0 to 999)',
    ],
  },
  {
    name: 'vocab-mismatch names the first id where the tokenizers differ',
    recipe: `${gpt2}alt = load("gpt2-alt")\nv = alt - base\n`,
    diagnostics: ['3:11 error vocab-mismatch'],
    messages: ['differ first at id 500 ("tok500" in \'base\', "alt500" in \'alt\')', 'combine models that share a tokenizer'],
  },
  {
    name: 'vocab-mismatch says which folder has no tokenizer to compare',
    recipe: `${gpt2}n = load("gpt2-notok")\nv = base - n\n`,
    diagnostics: ['3:12 error vocab-mismatch'],
    messages: ["'n' has 1003 tokens but 'base' has 1000", "only 'base' has a tokenizer.json vocabulary"],
  },
  {
    name: 'without config.json the embedding rows alone give vocab-mismatch',
    recipe: 'a = load("plain-1000.safetensors")\nb = load("plain-1003.safetensors")\nv = b - a\n',
    diagnostics: ['3:9 error vocab-mismatch'],
    messages: ["'a' has 1000 tokens but 'b' has 1003 (rows of transformer.wte.weight)", 'neither has a tokenizer.json'],
  },
  {
    name: 'mean() of folders with different vocabularies',
    recipe: `${gpt2}m = mean(base, load("gpt2-big"))\n`,
    diagnostics: ['2:16 error vocab-mismatch'],
  },
  {
    name: 'a tied GPT-2 next to an untied one: an untied result, said once per pair, with the way to keep the tie',
    // Line 4 leaves the untied head out, as the message says, and stays tied.
    recipe: `${gpt2}u = load("gpt2-untied")\nv = u - base\nw = exclude(u, "lm_head.weight") - base\nlam = sweep(0, 1, 0.5)\ne = base + lam*(u - base)\n`,
    diagnostics: ['3:9 info tied-embeddings'],
    types: { v: 'Vector', w: 'Vector', e: 'Model' },
    messages: [
      `'base' ties its output head to its embedding (the default of model_type "gpt2"), so it stores no lm_head.weight`,
      "'u' has its own lm_head.weight [1000, 16] F32",
      "The result has an untied head: lm_head.weight combines 'u''s head with 'base''s transformer.wte.weight, and a save writes tie_word_embeddings: false",
      'exclude(u, "lm_head.weight")',
    ],
  },
  {
    name: 'mean() and slerp() of a tied and an untied model untie the tied one, whichever comes first',
    recipe: `${gpt2}u = load("gpt2-untied")\nm = mean(base, u, base)\ns = slerp(u, base, t=0.5)\n`,
    diagnostics: ['3:10 info tied-embeddings'],
    types: { m: 'Model', s: 'Model' },
  },
  {
    name: 'a Llama that states tie_word_embeddings: true next to an untied one',
    recipe: 'a = load("llama")\nt = load("llama-tied")\nv = a - t\n',
    diagnostics: ['3:9 info tied-embeddings'],
    messages: ["'t' ties its output head to its embedding (tie_word_embeddings: true in its config.json)", "'t''s model.embed_tokens.weight"],
  },
  {
    name: 'a tied file whose embedding is not the head\'s shape cannot stand for it: an error with the ways out',
    recipe: 'a = load("plain-untied.safetensors")\nt = load("plain-tied-odd.safetensors")\nv = a - t\n',
    diagnostics: ['3:9 error tied-embeddings'],
    messages: ['no single embedding tensor of', 'exclude(a, "lm_head.weight")'],
  },
  {
    name: 'different layer counts: config-mismatch naming both',
    recipe: `${gpt2}deep = load("gpt2-deep")\nv = deep - base\n`,
    diagnostics: ['3:12 error config-mismatch'],
    messages: ["layer counts differ: 'base' has 2 layers but 'deep' has 3 (config.json n_layer)"],
  },
  {
    name: 'different hidden sizes: config-mismatch, not a vocabulary message',
    recipe: `${gpt2}wide = load("gpt2-wide")\nv = wide - base\n`,
    diagnostics: ['3:12 error config-mismatch'],
    messages: ["hidden sizes differ: 'base' is 16 wide but 'wide' is 32 (config.json n_embd)"],
  },
  {
    name: 'different model types: config-mismatch naming both',
    recipe: `${gpt2}l = load("llama")\nm = mean(base, l)\n`,
    diagnostics: ['3:16 error config-mismatch'],
    messages: [`model types differ: 'l' is "llama" but 'base' is "gpt2" (config.json model_type)`],
  },
  {
    name: 'model types differ but the tensors line up: one warning for the pair',
    recipe: 'a = load("llama")\nm = load("mistral")\nlam = sweep(0, 1, 0.5)\ne = a + lam*(m - a)\n',
    diagnostics: ['4:18 warning config-mismatch'],
    messages: ['although their tensors line up'],
    types: { e: 'Model' },
  },
  {
    name: 'a sharded folder carries its config too',
    recipe: 'a = load("llama-sharded")\nb = load("gpt2-base")\nv = a - b\n',
    diagnostics: ['3:9 error config-mismatch'],
  },
  {
    name: 'a malformed config.json is a precise bad-checkpoint',
    recipe: 'a = load("bad-type")\nb = load("bad-json")\nc = load("bad-layers")\nd = load("bad-tokenizer")\n',
    diagnostics: ['1:10 error bad-checkpoint', '2:10 error bad-checkpoint', '3:10 error bad-checkpoint', '4:10 error bad-checkpoint'],
    messages: [
      'config.json: "model_type" must be a string, not 3 [bad-config]',
      'config.json is not valid JSON',
      'config.json: "n_layer" must be a non-negative integer, not 2.5',
      'tokenizer.json has the key "a" twice',
    ],
  },
];

for (const row of rows) test(row.name, () => assertCheckRow(ws, row));

test('a folder holding only pytorch_model.bin is refused with how to convert it', async () => {
  const { dir, cleanup } = fixtureDir();
  try {
    writeFileSync(join(dir, 'pytorch_model.bin'), 'not read');
    writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2"}');
    const analysis = await analyzeIn({ dir: join(dir, '..'), models: {}, cleanup }, `a = load("${dir.replace(/^.*\//, '')}")\n`);
    assert.deepEqual(summary(analysis), ['1:10 error bad-checkpoint']);
    const message = analysis.diagnostics.find((d) => d.code === 'bad-checkpoint')!.message;
    assert.match(message, /it holds pytorch_model\.bin: PyTorch \.bin\/\.pt\/\.ckpt files are pickles, which can run code when loaded, and tvr never reads them/);
    assert.match(message, /save_pretrained\(folder, safe_serialization=True\)/);
  } finally {
    cleanup();
  }
});

test('hover on a model folder shows its configuration, parameters and size on disk', async () => {
  const { text, offset } = cursor('ba|se = load("gpt2-base")\nl = load("llama")\n');
  const analysis = await analyzeIn(ws, text);
  const contents = hover(analysis, offset)!.contents;
  // 2 layers of 12 * 16 + 3 * 16 * 16 + ... : counted from the fixture's own specs.
  const parameters = hfSpecs({ family: 'gpt2' }).reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
  assert.match(contents, new RegExp(`${hfSpecs({ family: 'gpt2' }).length} tensors, ${(parameters / 1e3).toFixed(1)}k parameters \\(F32 x\\d+\\)`));
  assert.match(contents, /safetensors, \d+\.\d kB: `[^`]*gpt2-base`/);
  assert.match(contents, /Hugging Face model folder: model_type `gpt2`, architectures `GPT2LMHeadModel`/);
  assert.match(contents, /2 layers, hidden size 16, vocabulary 1000, torch_dtype `float32`/);
  assert.match(contents, /output head tied to the embedding \(the family's default\): no lm_head.weight is stored/);
  assert.match(contents, /tokenizer\.json \(1\.0k tokens\), generation_config\.json/);
  const llama = hover(analysis, text.indexOf('l = '))!.contents;
  assert.match(llama, /own output head \(tie_word_embeddings: false\)/);
});

test('hover on a tied model combined with an untied one says the result has an untied head', async () => {
  const { text, offset } = cursor('base = load("gpt2-base")\nu = load("gpt2-untied")\ne|d = 0.5*base + 0.5*u\n');
  const contents = hover(await analyzeIn(ws, text), offset)!.contents;
  assert.match(contents, /Output head untied: `lm_head\.weight` combines the untied models' heads with `transformer\.wte\.weight` of base \(tied: their head is their embedding\); a save writes tie_word_embeddings: false/);
});

test('hover escapes strings from config.json', async () => {
  const { dir, cleanup } = fixtureDir();
  try {
    writeHfFolder(join(dir, 'odd'), { family: 'gpt2', seed: 1, config: { model_type: 'gpt2`<b>x</b>', architectures: ['A`B'] } });
    const { text, offset } = cursor('o|dd = load("odd")\n');
    const contents = hover(await analyzeIn({ dir, models: {}, cleanup }, text), offset)!.contents;
    assert.ok(contents.includes('model_type ``gpt2`<b>x</b>``, architectures ``A`B``'), contents);
  } finally {
    cleanup();
  }
});
