// Ensembles and posteriors end to end (Branch-Train-Merge): three tiny GPT-2 folders and a
// JSON Lines file; a recipe with posterior(...), ensemble(...) and a posterior-weighted
// mean(...) run in process. Every figure is checked against the numpy reference's per-token
// log-probabilities (gpt2_reference.py): the posterior by Bayes' rule over the first n
// validation documents, the ensembles' perplexities as mixtures, the saved mean as the
// weighted sum of the members. Then the checker's reports on ensembles and posteriors.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { loadTokenizer } from '../../../server/src/engine/evaluation/tokenizer.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { analysisDiagnostics, assertAnnotatedDiagnostics, recipe } from '../../helpers/annotated-recipes.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { writeGpt2Folder } from '../evaluation/gpt2-fixtures.ts';
import { writeRecipe } from './scenario.ts';

const REFERENCE = fileURLToPath(new URL('../evaluation/gpt2_reference.py', import.meta.url));

const RECIPE = `a = load("gpt2-a")
b = load("gpt2-b")
c = load("gpt2-c")
prose = task("data/prose.jsonl", metric="perplexity", finetuned=a)
w = posterior(a, b, c, task=prose, n=2)
top2 = posterior(a, b, c, task=prose, topk=2)
uniform = ensemble(a, b, c)
weighted = ensemble(a, b, c, weights=w)
best_two = ensemble(a, b, c, weights=top2)
only_a = ensemble(a, b, c, weights=[2, 0, 0])
soup = mean(a, b, c, weights=w)
evaluate(uniform, weighted, best_two, only_a, soup, targets=[prose], objective="max")
save(soup, "out/soup.safetensors")
`;

const DOCUMENTS = [
  { text: 'the cat sat on the mat', split: 'validation' },
  { text: 'in the winter she wrote forty letters to her brother', split: 'validation' },
  { text: 'the sun rose over the hills', split: 'validation' },
  { text: 'is this the answer or a question', split: 'test' },
  { text: 'the river ran past the city of letters', split: 'test' },
];

const MEMBERS = ['a', 'b', 'c'] as const;

/** The float32 tensors of a safetensors file, read here by hand (not by tvr's reader). */
function readSafetensorsFloats(path: string): Map<string, Float32Array> {
  const bytes = readFileSync(path);
  const size = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + size).toString()) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(t.dtype, 'F32', name);
    const data = bytes.subarray(8 + size + t.data_offsets[0], 8 + size + t.data_offsets[1]);
    out.set(name, new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
  }
  return out;
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  return max + Math.log(values.reduce((sum, v) => sum + Math.exp(v - max), 0));
}

/** Perplexity of the mixture sum_i w_i p_i, token-weighted, from per-model per-document token log-probabilities. */
function mixturePerplexity(logProbs: readonly number[][][], weights: readonly number[]): number {
  let nll = 0;
  let tokens = 0;
  logProbs[0]!.forEach((document, d) => document.forEach((_, t) => {
    nll -= logSumExp(weights.flatMap((w, i) => (w > 0 ? [Math.log(w) + logProbs[i]![d]![t]!] : [])));
    tokens++;
  }));
  return Math.exp(nll / tokens);
}

/** The posterior of each model averaged over documents (uniform prior), as Branch-Train-Merge computes it. */
function posteriorOf(logProbs: readonly number[][][]): number[] {
  const sums = MEMBERS.map(() => 0);
  const documents = logProbs[0]!.length;
  for (let d = 0; d < documents; d++) {
    const likelihoods = logProbs.map((model) => model[d]!.reduce((a, b) => a + b, 0));
    const evidence = logSumExp(likelihoods);
    likelihoods.forEach((l, i) => { sums[i]! += Math.exp(l - evidence); });
  }
  return sums.map((s) => s / documents);
}

describe('ensembles and posteriors: GPT-2 folders, run end to end against numpy', () => {
  const { dir, cleanup } = fixtureDir();
  const models: Record<string, FixtureModel> = {};
  let results: RunResults;
  /** Per member, per split: per-document token log-probabilities by the numpy reference. */
  const reference: Record<string, Record<string, number[][]>> = {};
  before(async () => {
    // A context of 8 positions: the longer documents are scored by sliding window.
    MEMBERS.forEach((name, i) => { models[name] = writeGpt2Folder(join(dir, `gpt2-${name}`), { seed: 31 + i, contextLength: 8 }).model; });
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const file = writeRecipe(dir, 'btm.tvr', RECIPE);
    const analysis = await analyzeFile(RECIPE, file, new HeaderCache());
    assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
    results = (await runRecipe({ recipe: file })).results;
    assert.equal(results.status, 'done', results.error);
    const tokenizer = await loadTokenizer(join(dir, 'gpt2-a'), 'test');
    for (const name of MEMBERS) {
      reference[name] = {};
      for (const split of ['validation', 'test']) {
        const documents = DOCUMENTS.filter((d) => d.split === split).map((d) => [...tokenizer.encode(d.text).ids]);
        reference[name]![split] = (JSON.parse(execFileSync('python3', [REFERENCE, join(dir, `gpt2-${name}`)], { input: JSON.stringify({ token_logprobs: documents }), encoding: 'utf8' })) as { token_logprobs: number[][] }).token_logprobs;
      }
    }
  });
  after(cleanup);

  const logProbs = (split: string, documents = Infinity): number[][][] => MEMBERS.map((name) => reference[name]![split]!.slice(0, documents));

  it('records each posterior: Bayes\' rule over the first n validation documents, and top-k renormalised', () => {
    const [w, top2] = results.posteriors!;
    assert.deepEqual([w!.name, w!.task, w!.models, w!.documents, w!.documentsUsed], ['w', 'prose', ['a', 'b', 'c'], 2, 2]);
    const expected = posteriorOf(logProbs('validation', 2));
    w!.weights.forEach((x, i) => assert.ok(Math.abs(x - expected[i]!) < 1e-6, `w[${i}] ${x} vs ${expected[i]}`));
    const all = posteriorOf(logProbs('validation'));
    const dropped = all.indexOf(Math.min(...all));
    const kept = all.reduce((sum, x, i) => sum + (i === dropped ? 0 : x), 0);
    assert.equal(top2!.topk, 2);
    top2!.weights.forEach((x, i) => assert.ok(Math.abs(x - (i === dropped ? 0 : all[i]! / kept)) < 1e-6, `top2[${i}] ${x}`));
  });

  it('scores each ensemble as the mixture of its models\' next-token probabilities', () => {
    const chosen = (name: string) => results.evaluations[0]!.chosen.find((c) => c.model === name)!;
    const points = (name: string) => results.evaluations[0]!.points.filter((p) => p.model === name);
    const w = results.posteriors![0]!.weights;
    const top2 = results.posteriors![1]!.weights;
    for (const [name, weights] of [['uniform', [1 / 3, 1 / 3, 1 / 3]], ['weighted', w], ['best_two', top2], ['only_a', [1, 0, 0]]] as const) {
      assert.equal(points(name).length, 1, `${name}: one point`);
      for (const [split, metrics] of [['validation', points(name)[0]!.metrics.prose!], ['test', chosen(name).test.prose!]] as const) {
        const expected = mixturePerplexity(logProbs(split), weights);
        assert.ok(Math.abs(metrics.perplexity! / expected - 1) < 1e-5, `${name} ${split}: ${metrics.perplexity} vs ${expected}`);
        assert.equal(metrics.accuracy, undefined, 'an ensemble reports no next-token accuracy');
      }
    }
    // A one-model ensemble is that model.
    assert.ok(Math.abs(chosen('only_a').test.prose!.perplexity! / results.evaluations[0]!.references.find((r) => r.kind === 'finetuned')!.test.perplexity! - 1) < 1e-6);
  });

  it('saves the posterior-weighted mean as the weighted sum of its models, at the estimated weights', () => {
    const w = results.posteriors![0]!.weights;
    const saved = readSafetensorsFloats(join(dir, 'out/soup.safetensors'));
    for (const tensor of models.a!.tensors) {
      const values = saved.get(tensor.name)!;
      tensor.values.forEach((_, j) => {
        const expected = MEMBERS.reduce((sum, name, i) => sum + w[i]! * models[name]!.tensors.find((t) => t.name === tensor.name)!.values[j]!, 0);
        assert.ok(Math.abs(values[j]! - expected) < 1e-6, `${tensor.name}[${j}]`);
      });
    }
    assert.deepEqual(results.evaluations[0]!.chosen.find((c) => c.model === 'soup')!.point, {}, 'posterior weights are not sweep values');
    assert.deepEqual(results.sweeps, []);
  });

  it('a re-run takes every evaluation and posterior from the cache', async () => {
    const again = (await runRecipe({ recipe: join(dir, 'btm.tvr'), force: true })).results;
    assert.equal(again.counts!.evaluated, 0);
    assert.deepEqual(again.posteriors, results.posteriors);
  });
});

describe('ensembles and posteriors in the checker', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    for (const [name, seed] of [['a', 41], ['b', 42]] as const) writeGpt2Folder(join(dir, `gpt2-${name}`), { seed });
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'prose.jsonl'), `${DOCUMENTS.map((d) => JSON.stringify(d)).join('\n')}\n`);
  });
  after(cleanup);

  const rows: { readonly name: string; readonly text: string }[] = [
    {
      name: 'an ensemble in arithmetic, saved, or given accuracy; a posterior over other models or a non-text task',
      text: recipe`
        a = load("gpt2-a")
        b = load("gpt2-b")
        prose = task("data/prose.jsonl", metric="perplexity", finetuned=a)
        words = task("data/prose.jsonl", metric="accuracy", finetuned=a)
        both = ensemble(a, b)
        x = both + a
        #   ^^^^ error[invalid-operation]: '+' cannot use an Ensemble: it mixes the predictions of its 2 models (2 forward passes per token)
        save(both, "out/both")
        #    ^^^^ error[type-mismatch]: save() expects a Model or a Vector for 'value', but this is an Ensemble (2 models evaluated together
        w = posterior(a, b, task=prose, topk=3)
        #                                    ^ error[invalid-value]: topk=3 keeps more models than the 2 given
        v = posterior(b, a, task=prose)
        m = mean(a, b, weights=v)
        #                      ^ error[invalid-value]: weights=v weighs (b, a), but this mean(...) has (a, b)
        lam = sweep(0, 1, 0.5)
        swept = ensemble(a, a + lam*(b - a))
        #                   ^^^^^^^^^^^^^^^ error[invalid-value]: ensemble(...) takes fixed models, and this one depends on lam
        evaluate(both, targets=[words])
        #        ^^^^ error[invalid-value]: both is an Ensemble: it is evaluated by mixing its models' next-token probabilities
      `,
    },
    {
      name: 'ensembles and posterior-weighted means check clean',
      text: recipe`
        a = load("gpt2-a")
        b = load("gpt2-b")
        prose = task("data/prose.jsonl", metric="perplexity", finetuned=a)
        w = posterior(a, b, task=prose, n=10)
        both = ensemble(a, b, weights=w)
        fixed = ensemble(a, b, weights=[3, 1])
        soup = mean(a, b, weights=w)
        edited = a + 0.5*(soup - a)
        evaluate(both, fixed, soup, edited, targets=[prose])
        save(edited, "out/edited")
      `,
    },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const analysis = await analyzeFile(row.text, join(dir, 'recipe.tvr'), new HeaderCache());
      assertAnnotatedDiagnostics(row.text, analysisDiagnostics(analysis));
    });
  }

  it('hover says what an ensemble costs, how a posterior is estimated, and what a mean is weighted by', async () => {
    const text = rows[1]!.text;
    const analysis = await analyzeFile(text, join(dir, 'recipe.tvr'), new HeaderCache());
    const at = (name: string): string => hover(analysis, text.indexOf(`${name} = `))!.contents;
    assert.match(at('both'), /\*\*both\*\*: Ensemble/);
    assert.match(at('both'), /Weights: the posterior w, estimated when the recipe runs/);
    assert.match(at('both'), /Cost: 2 forward passes per token/);
    assert.match(at('fixed'), /Weights: 0\.75, 0\.25/);
    assert.match(at('w'), /Estimated on: the first 10 validation documents of task prose, by Bayes' rule/);
    assert.match(at('soup'), /Weighted by the posterior \*\*w\*\*: estimated when the recipe runs/);
    assert.doesNotMatch(at('soup'), /Depends on the sweep/);
  });
});
