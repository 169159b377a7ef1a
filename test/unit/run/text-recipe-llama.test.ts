// Text tasks end to end on Llama: two tiny Llama folders (tied and untied heads) and a
// JSON Lines file, the recipe checked and run in process; perplexity for the base
// and for the edited model at every sweep point compared with the numpy reference
// (llama_reference.py) on folders holding the same weights; and the saved folder
// out/edited/, complete, scoring the chosen point's perplexity when read back by the
// reference and when evaluated again by a second recipe.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { loadTokenizer } from '../../../server/src/engine/evaluation/tokenizer.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { readWithNumpy } from '../../helpers/hf-folder-reader.ts';
import { writeLlamaFolder } from '../evaluation/llama-fixtures.ts';
import { writeRecipe } from './scenario.ts';

const REFERENCE = fileURLToPath(new URL('../evaluation/llama_reference.py', import.meta.url));

const RECIPE = `base   = load("llama-base")
sci    = load("llama-sci")
lam    = sweep(0, 1, 0.25)
edited = base + lam*(sci - base)
prose  = task("data/prose.jsonl", metric="perplexity")
evaluate(edited, targets=[prose], objective="max")
save(edited, "out/edited")
`;

/** The saved folder evaluated on its own, as a model loaded like any other. */
const AGAIN = `saved = load("out/edited")
prose = task("data/prose.jsonl", metric="perplexity", finetuned=saved)
evaluate(saved, targets=[prose], objective="max")
`;

const DOCUMENTS = [
  { text: 'the cat sat on the mat', split: 'validation' },
  { text: 'in the winter she wrote forty letters to her brother in the city of rivers', split: 'validation' },
  { text: 'the sun rose over the hills', split: 'test' },
  { text: 'is this the answer or a question', split: 'test' },
];

/** A context of 8 positions: the long validation document is scored by sliding window. */
const CONTEXT = 8;

/** Loss of a folder's model on token-id documents, by the numpy reference (tokenization is the library's, so ids are passed). */
function referenceLoss(folder: string, documents: readonly (readonly number[])[]): number {
  return (JSON.parse(execFileSync('python3', [REFERENCE, folder], { input: JSON.stringify({ documents }), encoding: 'utf8' })) as { loss: number }).loss;
}

function interpolate(a: FixtureModel, b: FixtureModel, lam: number): FixtureModel {
  return { tensors: a.tensors.map((t, i) => ({ ...t, values: t.values.map((v, j) => Math.fround(v + lam * (b.tensors[i]!.values[j]! - v))) })) };
}

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-4 * expected, `${what}: ${actual} vs ${expected}`);
}

for (const tied of [true, false]) {
  describe(`text task recipe: Llama folders (${tied ? 'tied' : 'untied'} head) and JSON Lines, run end to end`, () => {
    const { dir, cleanup } = fixtureDir();
    let results: RunResults;
    let base: FixtureModel;
    let sci: FixtureModel;
    before(async () => {
      base = writeLlamaFolder(join(dir, 'llama-base'), { seed: 21, tied, contextLength: CONTEXT }).model;
      sci = writeLlamaFolder(join(dir, 'llama-sci'), { seed: 22, tied, contextLength: CONTEXT }).model;
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
      const recipe = writeRecipe(dir, 'text.tvr', RECIPE);
      const analysis = await analyzeFile(RECIPE, recipe, new HeaderCache());
      assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
      results = (await runRecipe({ recipe })).results;
    });
    after(cleanup);

    /** Token ids as the evaluator computes them (the reference gets the same ids: tokenization is the library's). */
    async function tokens(split: string): Promise<number[][]> {
      const tokenizer = await loadTokenizer(join(dir, 'llama-base'), 'test');
      return DOCUMENTS.filter((d) => d.split === split).map((d) => [...tokenizer.encode(d.text).ids]);
    }

    it('reports perplexity for the base (validation and test) as the numpy reference computes it', async () => {
      const e = results.evaluations[0]!;
      assert.equal(e.base, 'base');
      const reference = e.references.find((r) => r.kind === 'base')!;
      for (const split of ['validation', 'test'] as const) {
        const ids = await tokens(split);
        assertClose(reference[split].perplexity!, Math.exp(referenceLoss(join(dir, 'llama-base'), ids)), split);
      }
      assert.ok((await tokens('validation'))[1]!.length > 2 * CONTEXT, 'the long document spans several windows');
    });

    it('reports perplexity for the edited model at every sweep point', async () => {
      const e = results.evaluations[0]!;
      const points = e.points.filter((p) => p.model === 'edited');
      assert.deepEqual(points.map((p) => p.point['lam']).sort(), [0, 0.25, 0.5, 0.75, 1]);
      const ids = await tokens('validation');
      for (const p of points) {
        const lam = p.point['lam']!;
        const folder = join(dir, `edited-${lam}`);
        writeLlamaFolder(folder, { seed: 0, tied, contextLength: CONTEXT, model: interpolate(base, sci, lam) });
        assertClose(p.metrics['prose']!.perplexity!, Math.exp(referenceLoss(folder, ids)), `lam ${lam}`);
      }
    });

    it('chooses the lowest validation perplexity for objective "max" (lower perplexity is better)', () => {
      const e = results.evaluations[0]!;
      const points = e.points.filter((p) => p.model === 'edited');
      const best = Math.min(...points.map((p) => p.metrics['prose']!.perplexity!));
      const chosen = e.chosen[0]!;
      assert.equal(points.find((p) => p.point['lam'] === chosen.point['lam'])!.metrics['prose']!.perplexity, best);
      assert.ok(chosen.test['prose']?.perplexity !== undefined);
    });

    it('saves out/edited/ as a complete Llama folder at the chosen point, scoring that point\'s perplexity again', async () => {
      const e = results.evaluations[0]!;
      const chosen = e.chosen[0]!;
      const atChosen = e.points.find((p) => p.model === 'edited' && p.point['lam'] === chosen.point['lam'])!.metrics['prose']!;
      const out = join(dir, 'out', 'edited');
      assert.deepEqual(results.outputs.map((o) => o.point), [chosen.point]);
      const files = readdirSync(out);
      for (const file of ['config.json', 'tokenizer.json', 'README.md', 'model.safetensors']) assert.ok(files.includes(file), `${file} in ${files.join(', ')}`);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(config['architectures'], ['LlamaForCausalLM']);
      assert.equal(config['tie_word_embeddings'], tied);
      assert.equal('lm_head.weight' in readWithNumpy(out).tensors, !tied);
      // Read back by the reference, which parses the folder itself ...
      assertClose(Math.exp(referenceLoss(out, await tokens('validation'))), atChosen.perplexity!, 'the reference on out/edited');
      // ... and evaluated again by tvr as a model of its own.
      const again = (await runRecipe({ recipe: writeRecipe(dir, 'again.tvr', AGAIN) })).results;
      const saved = again.evaluations[0]!.points.find((p) => p.model === 'saved')!.metrics['prose']!;
      assertClose(saved.perplexity!, atChosen.perplexity!, 'tvr on out/edited');
      assert.notEqual(saved.cached, true);
    });
  });
}
