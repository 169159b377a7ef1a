// A recipe run end to end in process, on a workspace whose every expected metric is
// computed independently (scenario.ts): references, sweep points, the objectives'
// choices, test metrics at the chosen point, the saved model, the similarity of the
// task vectors, the results file, the results cache, and cancellation.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { readResultsFile } from '../../../server/src/results/file.ts';
import type { EvaluationResult, Metrics, RunResults } from '../../../server/src/results/schema.ts';
import { RecipeCheckError, runRecipe } from '../../../server/src/run/run-recipe.ts';
import type { RecipeEvent } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import {
  expectedAddChoice, expectedForgetChoice, expectedMetrics, forgetAt, LAMBDAS, makeScenario, multiAt, MULTI_RECIPE, writeRecipe,
} from './scenario.ts';
import type { Scenario } from './scenario.ts';

const close = (actual: number | undefined, expected: number, what: string): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-4, `${what}: ${actual} vs ${expected}`);
};

function checkMetrics(actual: Metrics | undefined, expected: { accuracy: number; loss: number }, what: string): void {
  assert.ok(actual, `${what}: missing`);
  assert.equal(actual.accuracy, expected.accuracy, `${what}: accuracy`);
  close(actual.loss, expected.loss, `${what}: loss`);
}

describe('recipe run (in process)', () => {
  const { dir, cleanup } = fixtureDir();
  let s: Scenario;
  let recipe: string;
  let first: RunResults;
  let resultsFile: string;
  const events: RecipeEvent[] = [];
  before(async () => {
    s = makeScenario(dir);
    recipe = writeRecipe(dir, 'multi.tvr', MULTI_RECIPE);
    const outcome = await runRecipe({ recipe, onEvent: (e) => events.push(e) });
    first = outcome.results;
    resultsFile = outcome.resultsFile;
  });
  after(cleanup);

  const evaluation = (id: number): EvaluationResult => first.evaluations.find((e) => e.id === id)!;

  it('writes a valid results file next to the recipe, status done', async () => {
    assert.equal(resultsFile, join(dir, 'multi.results.json'));
    const read = await readResultsFile(resultsFile);
    assert.equal(read.status, 'done');
    assert.deepEqual(read, JSON.parse(JSON.stringify(first)));
    assert.deepEqual(read.sweeps, [{ name: 'lam', values: LAMBDAS }]);
  });

  it('evaluates the references: the base with each head, and each fine-tuned model on its own task', () => {
    const e = evaluation(1);
    assert.equal(e.base, 'base');
    for (const task of ['a', 'b'] as const) {
      for (const split of ['validation', 'test'] as const) {
        const base = e.references.find((r) => r.kind === 'base' && r.task === `task_${task}`)!;
        const ft = e.references.find((r) => r.kind === 'finetuned' && r.task === `task_${task}`)!;
        checkMetrics(base[split], expectedMetrics(s, task, split, s.base), `base on ${task} ${split}`);
        checkMetrics(ft[split], expectedMetrics(s, task, split, s[task]), `fine-tuned ${task} ${split}`);
        assert.equal(ft.model, task);
      }
    }
  });

  it('evaluates every sweep point on validation, ends and middle first', () => {
    const e = evaluation(1);
    assert.deepEqual(e.points.map((p) => p.point.lam), [0, 1, 0.5, 0.25, 0.75]);
    for (const p of e.points) {
      const encoder = multiAt(s, p.point.lam!);
      for (const task of ['a', 'b'] as const) {
        const want = expectedMetrics(s, task, 'validation', encoder);
        checkMetrics(p.metrics[`task_${task}`], want, `multi at ${p.point.lam} on ${task}`);
        close(p.normalized[`task_${task}`], want.accuracy / expectedMetrics(s, task, 'validation', s[task]).accuracy, 'normalized');
      }
    }
  });

  it('chooses the point by the add objective and reports test metrics there', () => {
    const e = evaluation(1);
    const lam = expectedAddChoice(s);
    const [chosen] = e.chosen;
    assert.deepEqual(chosen!.point, { lam });
    assert.match(chosen!.reason, /highest mean normalized accuracy over the targets .* among 5 points/);
    for (const task of ['a', 'b'] as const) {
      const test = expectedMetrics(s, task, 'test', multiAt(s, lam));
      checkMetrics(chosen!.test[`task_${task}`], test, `chosen on ${task}`);
      close(chosen!.normalized[`task_${task}`], test.accuracy / expectedMetrics(s, task, 'test', s[task]).accuracy, 'normalized');
      close(chosen!.deltaVsBase[`task_${task}`], test.accuracy - expectedMetrics(s, task, 'test', s.base).accuracy, 'delta vs base');
    }
  });

  it('chooses the forget point by the 95% control rule', () => {
    const e = evaluation(2);
    const want = expectedForgetChoice(s);
    assert.deepEqual(e.tasks.map((t) => [t.name, t.role]), [['task_a', 'target'], ['task_b', 'control']]);
    assert.deepEqual(e.chosen[0]!.point, { lam: want.lam });
    assert.equal(e.points.filter((p) => p.admissible).length, want.admissible);
    for (const p of e.points) checkMetrics(p.metrics.task_a, expectedMetrics(s, 'a', 'validation', forgetAt(s, p.point.lam!)), `forget at ${p.point.lam}`);
  });

  it('saves the model at the chosen point', async () => {
    const header = await readCheckpointHeader(join(dir, 'out/multi'));
    const entry = header.tensors.get('dense1/kernel')!;
    const values = new Float32Array(entry.shape[0]! * entry.shape[1]!);
    const reader = new TensorReader([header]);
    await reader.readFloat32(entry, 0, values);
    await reader.close();
    const want = multiAt(s, expectedAddChoice(s)).w1.flat();
    values.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6));
    assert.deepEqual(first.outputs.map((o) => [o.path, o.format, o.point]), [[join(dir, 'out/multi'), 'tfjs-layers', { lam: expectedAddChoice(s) }]]);
  });

  it('reports the cosine similarity and norms of the task vectors', () => {
    const vectors = ['a', 'b'].map((m) => {
      const model = s[m as 'a' | 'b'];
      return [...model.w1.flat().map((v, i) => v - s.base.w1.flat()[i]!), ...model.b1.map((v, i) => v - s.base.b1[i]!)];
    });
    const dot = (x: number[], y: number[]) => x.reduce((sum, v, i) => sum + v * y[i]!, 0);
    const norms = vectors.map((v) => Math.sqrt(dot(v, v)));
    assert.deepEqual(first.similarity!.vectors, ['ta', 'tb']);
    first.similarity!.norms.forEach((n, i) => close(n, norms[i]!, 'norm'));
    close(first.similarity!.cosine[0]![1], dot(vectors[0]!, vectors[1]!) / (norms[0]! * norms[1]!), 'cosine');
    close(first.similarity!.cosine[1]![1], 1, 'self cosine');
  });

  it('streams events: start, progress to the total, a point per point, a chosen per model, the save, done', () => {
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'run-start');
    assert.equal(types.at(-1), 'run-done');
    assert.equal(types.filter((t) => t === 'point').length, 10);
    assert.equal(types.filter((t) => t === 'chosen').length, 2);
    const progress = events.filter((e) => e.type === 'evaluation-progress');
    assert.deepEqual(progress.map((e) => e.done), progress.map((_, i) => i + 1));
    assert.equal(progress.at(-1)!.total, progress.length);
    for (const t of ['start', 'output', 'done']) assert.ok(types.includes(t as RecipeEvent['type']), t);
    // Each point is streamed before its model's chosen event, and a results snapshot follows each.
    assert.ok(types.lastIndexOf('point') < types.lastIndexOf('chosen'));
    const lastResults = events.filter((e) => e.type === 'results').at(-1)!;
    assert.equal(lastResults.type === 'results' && lastResults.results.status, 'done');
  });

  it('sends the whole results at most once per interval, and always the last: the output grows with the points, not their square', async () => {
    const count = async (resultsIntervalMs: number) => {
      const seen: RecipeEvent[] = [];
      await runRecipe({ recipe, force: true, resultsIntervalMs, onEvent: (e) => seen.push(e) });
      return { results: seen.filter((e) => e.type === 'results'), points: seen.filter((e) => e.type === 'point').length };
    };
    const everyTime = await count(0);
    assert.ok(everyTime.results.length > everyTime.points, `${everyTime.results.length} results events for ${everyTime.points} points`);
    const throttled = await count(3_600_000);
    assert.equal(throttled.results.length, 2, 'the first and the last');
    const last = throttled.results.at(-1)!;
    assert.ok(last.type === 'results' && last.results.status === 'done' && last.results.evaluations.every((e) => e.points.length > 0));
  });

  it('re-runs from the cache: nothing evaluated, the same results', async () => {
    const again = await runRecipe({ recipe, force: true });
    assert.deepEqual(again.results.counts, { evaluated: 0, cached: first.counts!.evaluated });
    assert.deepEqual(again.results.evaluations.map((e) => e.chosen.map((c) => c.point)), first.evaluations.map((e) => e.chosen.map((c) => c.point)));
    assert.ok(again.results.evaluations[0]!.points.every((p) => Object.values(p.metrics).every((m) => m.cached === true && m.seconds === 0)));
    assert.ok(existsSync(join(dir, '.tvr-cache/evaluations')));
  });

  it('without the cache, evaluates everything again (each model/point/task/split once)', async () => {
    const fresh = await runRecipe({ recipe, force: true, cache: false });
    // Evaluation 1: base and fine-tuned references (2 tasks x 2 splits each), 5 points x 2 tasks, the chosen point's test on 2 tasks.
    // Evaluation 2: the same references come from the in-run memo; 5 points x 2 tasks and the chosen test on 2 tasks.
    assert.deepEqual(fresh.results.counts, { evaluated: (4 + 4 + 5 * 2 + 2) + (5 * 2 + 2), cached: 0 });
  });

  it('refuses an existing output without overwrite or --force before evaluating anything', async () => {
    const seen: RecipeEvent[] = [];
    await assert.rejects(runRecipe({ recipe, onEvent: (e) => seen.push(e) }), /line 14: .*out\/multi already exists; add overwrite=true/);
    assert.deepEqual(seen.map((e) => e.type), ['run-error']);
    assert.equal(seen[0]!.type === 'run-error' && seen[0]!.code, 'output');
  });

  it('cancels cleanly: no outputs, status cancelled', async () => {
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    const controller = new AbortController();
    await assert.rejects(
      runRecipe({ recipe, cache: false, signal: controller.signal, onEvent: (e) => { if (e.type === 'point') controller.abort(); } }),
      (e: unknown) => e instanceof EvaluationError && e.code === 'cancelled',
    );
    const read = await readResultsFile(resultsFile);
    assert.equal(read.status, 'cancelled');
    assert.equal(read.evaluations[0]!.points.length, 1);
    assert.equal(existsSync(join(dir, 'out')), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  });

  it('--out: outputs, results file and cache under another folder', async () => {
    const out = join(dir, 'elsewhere');
    const { resultsFile: file, results } = await runRecipe({ recipe, outDir: out });
    assert.equal(file, join(out, 'multi.results.json'));
    assert.equal((await readResultsFile(file)).status, 'done');
    assert.deepEqual(results.outputs.map((o) => o.path), [join(out, 'out/multi')]);
    assert.ok(existsSync(join(out, 'out/multi/model.json')));
    assert.ok(existsSync(join(out, '.tvr-cache/evaluations')));
  });

  it('refuses a recipe with errors before anything runs', async () => {
    const bad = writeRecipe(dir, 'bad.tvr', 'base = load("models/base/model.json")\nx = base + base\n');
    await assert.rejects(runRecipe({ recipe: bad }), (e: unknown) => e instanceof RecipeCheckError && /bad\.tvr:2:\d+: error\[model-weight-sum\]/.test(e.message));
    assert.equal(existsSync(join(dir, 'bad.results.json')), false);
  });
});
