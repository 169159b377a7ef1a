// Text tasks end to end: two tiny GPT-2 folders and a JSON Lines file, the recipe
// checked and run in process, perplexity for the base and for the edited model at every
// sweep point compared with the numpy reference (gpt2_reference.py) on folders holding
// the same weights; and the checker's reports on malformed text data.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { parseTextData } from '../../../server/src/checkpoints/text-data.ts';
import { loadTokenizer } from '../../../server/src/engine/evaluation/tokenizer.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { writeHfFolder } from '../../helpers/hf-fixtures.ts';
import { writeGpt2Folder } from '../evaluation/gpt2-fixtures.ts';
import { writeRecipe } from './scenario.ts';

const REFERENCE = fileURLToPath(new URL('../evaluation/gpt2_reference.py', import.meta.url));

const RECIPE = `base   = load("gpt2-base")
sci    = load("gpt2-sci")
lam    = sweep(0, 1, 0.25)
edited = base + lam*(sci - base)
prose  = task("data/prose.jsonl", metric="perplexity")
evaluate(edited, targets=[prose], objective="max")
save(edited, "out/edited.safetensors")
`;

const DOCUMENTS = [
  { text: 'the cat sat on the mat', split: 'validation' },
  { text: 'in the winter she wrote forty letters to her brother in the city of rivers', split: 'validation' },
  { text: 'the sun rose over the hills', split: 'test' },
  { text: 'is this the answer or a question', split: 'test' },
];

/** Loss of a folder's model on token-id documents, by the numpy reference (tokenization is the library's, so ids are passed). */
function referenceLoss(folder: string, documents: readonly (readonly number[])[]): number {
  return (JSON.parse(execFileSync('python3', [REFERENCE, folder], { input: JSON.stringify({ documents }), encoding: 'utf8' })) as { loss: number }).loss;
}

function interpolate(a: FixtureModel, b: FixtureModel, lam: number): FixtureModel {
  return { tensors: a.tensors.map((t, i) => ({ ...t, values: t.values.map((v, j) => Math.fround(v + lam * (b.tensors[i]!.values[j]! - v))) })) };
}

describe('text task recipe: GPT-2 folders and JSON Lines, run end to end', () => {
  const { dir, cleanup } = fixtureDir();
  let results: RunResults;
  let base: FixtureModel;
  let sci: FixtureModel;
  before(async () => {
    // A context of 8 positions: the long validation document is scored by sliding window.
    base = writeGpt2Folder(join(dir, 'gpt2-base'), { seed: 21, contextLength: 8 }).model;
    sci = writeGpt2Folder(join(dir, 'gpt2-sci'), { seed: 22, contextLength: 8 }).model;
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
    const tokenizer = await loadTokenizer(join(dir, 'gpt2-base'), 'test');
    return DOCUMENTS.filter((d) => d.split === split).map((d) => [...tokenizer.encode(d.text).ids]);
  }

  it('reports perplexity for the base (validation and test) as the numpy reference computes it', async () => {
    const e = results.evaluations[0]!;
    assert.equal(e.base, 'base');
    const reference = e.references.find((r) => r.kind === 'base')!;
    for (const split of ['validation', 'test'] as const) {
      const expected = Math.exp(referenceLoss(join(dir, 'gpt2-base'), await tokens(split)));
      const actual = reference[split].perplexity!;
      assert.ok(Math.abs(actual - expected) < 1e-4 * expected, `${split}: ${actual} vs ${expected}`);
    }
  });

  it('reports perplexity for the edited model at every sweep point', async () => {
    const e = results.evaluations[0]!;
    const points = e.points.filter((p) => p.model === 'edited');
    assert.deepEqual(points.map((p) => p.point['lam']).sort(), [0, 0.25, 0.5, 0.75, 1]);
    const ids = await tokens('validation');
    for (const p of points) {
      const lam = p.point['lam']!;
      const folder = join(dir, `edited-${lam}`);
      writeGpt2Folder(folder, { seed: 0, contextLength: 8, model: interpolate(base, sci, lam) });
      const expected = Math.exp(referenceLoss(folder, ids));
      const actual = p.metrics['prose']!.perplexity!;
      assert.ok(Math.abs(actual - expected) < 1e-4 * expected, `lam ${lam}: ${actual} vs ${expected}`);
    }
  });

  it('chooses the lowest validation perplexity for objective "max" (metrics are oriented: lower perplexity is better)', () => {
    const e = results.evaluations[0]!;
    const points = e.points.filter((p) => p.model === 'edited');
    const best = Math.min(...points.map((p) => p.metrics['prose']!.perplexity!));
    const chosen = e.chosen[0]!;
    assert.equal(points.find((p) => p.point['lam'] === chosen.point['lam'])!.metrics['prose']!.perplexity, best);
    assert.ok(chosen.test['prose']?.perplexity !== undefined);
  });

  it('an unchanged re-run answers every evaluation from the results cache', async () => {
    const again = (await runRecipe({ recipe: join(dir, 'text.tvr'), force: true })).results;
    const metrics = again.evaluations[0]!.points.map((p) => p.metrics['prose']!);
    assert.ok(metrics.length === 5 && metrics.every((m) => m.cached === true), JSON.stringify(metrics));
  });
});

describe('text task on a model the built-in evaluator does not run', () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);

  it('stops before anything runs, naming the architecture and pointing to command=', async () => {
    for (const [name, seed] of [['gpt2-base', 1], ['gpt2-sci', 2]] as const) {
      const folder = writeHfFolder(join(dir, name), { family: 'llama', seed, vocabSize: 300 });
      writeFileSync(join(folder.dir, 'config.json'), JSON.stringify({ ...folder.config, model_type: 'mamba', architectures: ['MambaForCausalLM'] }));
    }
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const recipe = writeRecipe(dir, 'text.tvr', RECIPE);
    await assert.rejects(runRecipe({ recipe }), (error: Error) => {
      assert.match(error.message, /line 6: model base \(.*config\.json\): the built-in text evaluators run GPT-2 \(model_type "gpt2", GPT2LMHeadModel\).*, but config\.json says model_type "mamba", architectures "MambaForCausalLM"; evaluate this model with an external evaluator, task\(\.\.\., command="\.\.\."\)/);
      return true;
    });
  });
});

describe('text data checks', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    writeGpt2Folder(join(dir, 'gpt2-base'), { seed: 21 });
    writeGpt2Folder(join(dir, 'gpt2-sci'), { seed: 22 });
  });
  after(cleanup);

  const cases = [
    {
      name: 'a file without a test split',
      lines: ['{"text": "a b", "split": "validation"}'],
      expected: [/prose\.jsonl has no examples of the "test" split: text data needs lines with "split": "validation" and lines with "split": "test"/],
    },
    {
      name: 'a file with neither split',
      lines: ['{"text": "a b", "split": "train"}'],
      expected: [/line 1 has "split": "train"; it must be "validation" or "test"/, /no examples of the "validation" and "test" splits/],
    },
    {
      name: 'lines that are not JSON objects, with their line numbers',
      lines: ['{"text": "a b", "split": "validation"}', '', '[1, 2]', '{"text": "c", "split": "test"}', 'plain words', '"a string"'],
      expected: [/3 lines are not text examples: line 3 is an array, not a JSON object.*; line 5 is not valid JSON; line 6 is a string, not a JSON object/],
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name}`, async () => {
      mkdirSync(join(dir, 'data'), { recursive: true });
      writeFileSync(join(dir, 'data', 'prose.jsonl'), c.lines.join('\n'));
      const recipe = writeRecipe(dir, 'text.tvr', RECIPE);
      const analysis = await analyzeFile(RECIPE, recipe, new HeaderCache());
      const messages = analysis.diagnostics.filter((d) => d.code === 'missing-evaluation-data').map((d) => d.message);
      assert.equal(messages.length, c.expected.length, messages.join('\n'));
      c.expected.forEach((pattern, i) => assert.match(messages[i]!, pattern));
    });
  }

  it('a valid file checks clean, and a missing one is file-not-found', async () => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const ok = await analyzeFile(RECIPE, writeRecipe(dir, 'text.tvr', RECIPE), new HeaderCache());
    assert.deepEqual(ok.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
    const other = RECIPE.replace('data/prose.jsonl', 'data/none.jsonl');
    const missing = await analyzeFile(other, writeRecipe(dir, 'other.tvr', other), new HeaderCache());
    assert.deepEqual(missing.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code), ['file-not-found']);
  });

  it('a task on tensor data still needs head=', async () => {
    const text = RECIPE.replace('data/prose.jsonl', 'data/prose.safetensors');
    const analysis = await analyzeFile(text, writeRecipe(dir, 'tensors.tvr', text), new HeaderCache());
    assert.ok(analysis.diagnostics.some((d) => /needs head=\.\.\./.test(d.message)), analysis.diagnostics.map((d) => d.message).join('\n'));
  });
});

describe('parseTextData', () => {
  const table = [
    { content: '{"text": "a", "split": "validation"}\r\n{"text": "b", "split": "test"}\n\n', documents: [['a', 'validation', 1], ['b', 'test', 2]], problems: [] },
    { content: '{"split": "test"}\n{"text": 3, "split": "test"}', documents: [], problems: [[1, /no "text" string/], [2, /no "text" string/]] },
    { content: 'null\n{"text": "x"}', documents: [], problems: [[1, /is null, not a JSON object/], [2, /"split": missing/]] },
  ] as const;
  for (const row of table) {
    it(JSON.stringify(row.content), () => {
      const data = parseTextData('x.jsonl', row.content);
      assert.deepEqual(data.documents.map((d) => [d.text, d.split, d.line]), row.documents);
      assert.equal(data.problemCount, row.problems.length);
      row.problems.forEach(([line, pattern], i) => {
        assert.equal(data.problems[i]!.line, line);
        assert.match(data.problems[i]!.message, pattern);
      });
    });
  }
});
