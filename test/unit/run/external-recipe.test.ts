// A recipe whose task runs an external evaluator (a Node script written here): the
// command gets a real checkpoint of each model ({model}: the loaded file itself, or a
// temporary safetensors file written by the engine and removed afterwards), the task
// and the split; the metrics it prints drive the sweep. Untrusted runs refuse it.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { readResultsFile } from '../../../server/src/results/file.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import type { RecipeEvent } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { editEncoder } from '../evaluation/fixtures.ts';
import { makeScenario, writeRecipe, writeSafetensorsModels } from './scenario.ts';
import type { Scenario } from './scenario.ts';

/** Reads dense1/bias from the safetensors file it is given: accuracy = (1 + tanh(sum)) / 2. */
const EVALUATOR = `
import { readFileSync } from 'node:fs';
const [model, task, split] = process.argv.slice(2);
process.stderr.write('model=' + model + '\\n');
if (task === 'broken') { process.stderr.write('no GPU found\\n'); process.exit(4); }
const bytes = readFileSync(model);
const length = Number(bytes.readBigUInt64LE(0));
const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
const entry = header['dense1/bias'];
let sum = 0;
for (let at = entry.data_offsets[0]; at < entry.data_offsets[1]; at += 4) sum += bytes.readFloatLE(8 + length + at);
const accuracy = (1 + Math.tanh(sum)) / 2;
console.log(JSON.stringify({ accuracy, loss: 1 - accuracy, examples: split === 'validation' ? 10 : 20 }));
`;

const recipeText = (taskName: string) => `base = load("st/base.safetensors", exclude="dense2/*")
a = load("st/a.safetensors")
ta = exclude(a, "dense2/*") - base
lam = sweep(0, 1, 0.5)
edited = base + lam*ta
ext = task("data/a.safetensors", head=a, name="${taskName}", command="'${process.execPath}' eval.mjs {model} {task} {split}")
evaluate(edited, targets=[ext], objective="max")
`;

describe('external evaluator in a recipe', () => {
  const { dir, cleanup } = fixtureDir();
  let s: Scenario;
  before(() => {
    s = makeScenario(dir);
    writeSafetensorsModels(s);
    writeFileSync(join(dir, 'eval.mjs'), EVALUATOR);
  });
  after(cleanup);

  const accuracyOf = (bias: readonly number[]) => (1 + Math.tanh(bias.reduce((x, y) => x + y, 0))) / 2;

  it('evaluates references and sweep points through the command, and chooses by its metrics', async () => {
    const recipe = writeRecipe(dir, 'ext.tvr', recipeText('ext'));
    const logs: string[] = [];
    const { results } = await runRecipe({ recipe, onEvent: (e: RecipeEvent) => { if (e.type === 'log') logs.push(e.message); } });
    const e = results.evaluations[0]!;
    assert.deepEqual(e.tasks.map((t) => t.evaluator), ['external']);
    const expected = (lam: number) => accuracyOf(editEncoder(s.base, [[lam, s.a]]).b1);
    for (const p of e.points) {
      assert.ok(Math.abs(p.metrics.ext!.accuracy! - expected(p.point.lam!)) < 1e-6);
      assert.equal(p.metrics.ext!.examples, 10);
    }
    const best = [0, 0.5, 1].reduce((x, y) => (expected(y) > expected(x) ? y : x));
    assert.deepEqual(e.chosen[0]!.point, { lam: best });
    assert.equal(e.chosen[0]!.test.ext!.examples, 20);
    const base = e.references.find((r) => r.kind === 'base')!;
    assert.ok(Math.abs(base.validation.accuracy! - accuracyOf(s.base.b1)) < 1e-6);
    const ft = e.references.find((r) => r.kind === 'finetuned')!;
    assert.ok(Math.abs(ft.test.accuracy! - accuracyOf(s.a.b1)) < 1e-6);
    // stderr reached the log; computed models were temporary files, now gone; loaded ones were passed as they are.
    const models = logs.filter((l) => l.startsWith('[ext/')).map((l) => l.replace(/^\[ext\/\w+\] model=/, ''));
    assert.ok(models.includes(join(dir, 'st/a.safetensors')));
    const temporary = models.filter((m) => m.includes('tvr-eval-'));
    assert.ok(temporary.length >= 3);
    assert.ok(temporary.every((m) => !existsSync(m)));
  });

  it('fails the run with the command\'s exit status and stderr', async () => {
    const recipe = writeRecipe(dir, 'broken.tvr', recipeText('broken'));
    await assert.rejects(runRecipe({ recipe, cache: false }), (e: unknown) => e instanceof EvaluationError && e.code === 'external' && /task 'broken', validation split: the evaluator .* exited with status 4; its stderr ends with: .*no GPU found/.test(e.message));
    const read = await readResultsFile(join(dir, 'broken.results.json'));
    assert.equal(read.status, 'failed');
    assert.match(read.error!, /exited with status 4/);
  });

  it('is refused in an untrusted workspace, before anything runs', async () => {
    const recipe = writeRecipe(dir, 'untrusted.tvr', recipeText('ext'));
    const events: RecipeEvent[] = [];
    await assert.rejects(
      runRecipe({ recipe, untrusted: true, onEvent: (e) => events.push(e) }),
      (e: unknown) => e instanceof EvaluationError && e.code === 'untrusted' && /line 6: task 'ext' runs an external evaluator command, and this workspace is not trusted/.test(e.message),
    );
    assert.deepEqual(events.map((e) => e.type), ['run-error']);
    assert.equal(existsSync(join(dir, 'untrusted.results.json')), false);
  });
});
