// A tied model combined with an untied one, end to end: the result's head is the untied
// models' heads combined with the tied models' embeddings, the saved folder says
// tie_word_embeddings: false, and the GPT-2 evaluator scores the untied result as the
// numpy reference scores a folder holding exactly those weights.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../../server/src/engine/evaluation/tokenizer.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { readWithNumpy } from '../../helpers/hf-folder-reader.ts';
import { writeGpt2Folder } from '../evaluation/gpt2-fixtures.ts';
import { writeRecipe } from './scenario.ts';

const REFERENCE = fileURLToPath(new URL('../evaluation/gpt2_reference.py', import.meta.url));
const HEAD = 'lm_head.weight';
const EMBEDDING = 'transformer.wte.weight';

const RECIPE = `base   = load("gpt2-tied")
sci    = load("gpt2-untied")
lam    = sweep(0, 1, 0.5)
edited = base + lam*(sci - base)
soup   = mean(base, sci)
prose  = task("data/prose.jsonl", metric="perplexity")
evaluate(edited, targets=[prose], objective="max")
save(edited, "out/edited")
save(soup, "out/soup")
`;

const DOCUMENTS = [
  { text: 'the cat sat on the mat with the hat', split: 'validation' },
  { text: 'she wrote to her brother in the city', split: 'validation' },
  { text: 'the sun rose over the hills', split: 'test' },
];

function tensor(model: FixtureModel, name: string): ArrayLike<number> {
  return model.tensors.find((t) => t.name === name)!.values;
}

/** The untied model a tied one is: its embedding copied into the head. */
function untie(model: FixtureModel): FixtureModel {
  const wte = model.tensors.find((t) => t.name === EMBEDDING)!;
  return { tensors: [...model.tensors, { ...wte, name: HEAD }] };
}

/** a + lam (b - a) over b's tensors, rounded to float32 as tvr computes it. */
function interpolate(a: FixtureModel, b: FixtureModel, lam: number): FixtureModel {
  return { tensors: b.tensors.map((t) => ({ ...t, values: t.values.map((v, j) => { const x = tensor(a, t.name)[j]!; return Math.fround(x + lam * (v - x)); }) })) };
}

function maxDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < expected.length; i++) d = Math.max(d, Math.abs(actual[i]! - expected[i]!));
  return d;
}

describe('a tied GPT-2 combined with an untied one', () => {
  const { dir, cleanup } = fixtureDir();
  let tied: FixtureModel;
  let untied: FixtureModel;
  let results: RunResults;
  before(async () => {
    tied = writeGpt2Folder(join(dir, 'gpt2-tied'), { seed: 31, contextLength: 8 }).model;
    untied = writeGpt2Folder(join(dir, 'gpt2-untied'), { seed: 32, contextLength: 8, tied: false }).model;
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
    results = (await runRecipe({ recipe: writeRecipe(dir, 'tied.tvr', RECIPE) })).results;
  });
  after(cleanup);

  it('saves an untied head: the untied head combined with the tied embedding, every other tensor as usual', () => {
    const lam = results.evaluations[0]!.chosen.find((c) => c.model === 'edited')!.point['lam']!;
    for (const [folder, expected] of [['edited', interpolate(untie(tied), untied, lam)], ['soup', interpolate(untie(tied), untied, 0.5)]] as const) {
      const saved = readWithNumpy(join(dir, 'out', folder));
      assert.deepEqual(Object.keys(saved.tensors).sort(), expected.tensors.map((t) => t.name).sort());
      for (const t of expected.tensors) {
        assert.ok(maxDifference(saved.tensors[t.name]!.values, t.values) < 1e-6, `${folder}: ${t.name}`);
      }
      // Not the plain embedding: the head moved toward the untied model's own head.
      assert.ok(maxDifference(saved.tensors[HEAD]!.values, tensor(tied, EMBEDDING)) > 1e-3 || lam === 0);
      const config = JSON.parse(readFileSync(join(dir, 'out', folder, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config['tie_word_embeddings'], false, folder);
    }
  });

  it('evaluates every point as the reference does on a folder of exactly those weights', async () => {
    const tokenizer = await loadTokenizer(join(dir, 'gpt2-tied'), 'test');
    const ids = DOCUMENTS.filter((d) => d.split === 'validation').map((d) => [...tokenizer.encode(d.text).ids]);
    const points = results.evaluations[0]!.points.filter((p) => p.model === 'edited');
    assert.equal(points.length, 3);
    for (const p of points) {
      const lam = p.point['lam']!;
      const folder = join(dir, `expected-${lam}`);
      writeGpt2Folder(folder, { seed: 0, contextLength: 8, tied: false, model: interpolate(untie(tied), untied, lam) });
      const { loss } = JSON.parse(execFileSync('python3', [REFERENCE, folder], { input: JSON.stringify({ documents: ids }), encoding: 'utf8' })) as { loss: number };
      const actual = p.metrics['prose']!.perplexity!;
      assert.ok(Math.abs(actual - Math.exp(loss)) < 1e-4 * Math.exp(loss), `lam ${lam}: ${actual} vs ${Math.exp(loss)}`);
    }
  });
});
