// The built CLI (`bin/tvr`, which runs dist/tvr.mjs: build first) on real recipes:
// `tvr run` writes a results file the tests check against independently computed
// metrics, prints a table, or JSON lines with --json; Ctrl-C cancels cleanly; a recipe
// with errors or an external command in an untrusted run is refused; `tvr doctor`.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readResultsFile } from '../../server/src/results/file.ts';
import type { RunEvent } from '../../server/src/engine/events.ts';
import type { RecipeRunEvent } from '../../server/src/results/schema.ts';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';
import { expectedAddChoice, expectedMetrics, makeScenario, multiAt, MULTI_RECIPE, writeRecipe, writeSafetensorsModels } from '../unit/run/scenario.ts';
import type { Scenario } from '../unit/run/scenario.ts';

describe('tvr run (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  let s: Scenario;
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    s = makeScenario(dir);
    writeSafetensorsModels(s);
  });
  after(cleanup);

  it('runs a recipe: results file with references, chosen point and normalized accuracy; a table on stdout', async () => {
    const recipe = writeRecipe(dir, 'multi.tvr', MULTI_RECIPE);
    const { code, stdout, stderr } = await runTvr(['run', recipe], dir);
    assert.equal(code, 0, stderr);
    const results = await readResultsFile(join(dir, 'multi.results.json'));
    assert.equal(results.status, 'done');
    const e = results.evaluations[0]!;
    const lam = expectedAddChoice(s);
    assert.deepEqual(e.chosen[0]!.point, { lam });
    const ft = expectedMetrics(s, 'a', 'test', s.a);
    assert.equal(e.references.find((r) => r.kind === 'finetuned' && r.task === 'task_a')!.test.accuracy, ft.accuracy);
    assert.equal(e.references.find((r) => r.kind === 'base' && r.task === 'task_b')!.validation.accuracy, expectedMetrics(s, 'b', 'validation', s.base).accuracy);
    const edited = expectedMetrics(s, 'a', 'test', multiAt(s, lam));
    assert.equal(e.chosen[0]!.test.task_a!.accuracy, edited.accuracy);
    assert.ok(Math.abs(e.chosen[0]!.normalized.task_a! - edited.accuracy / ft.accuracy) < 1e-9);
    assert.ok(existsSync(join(dir, 'out/multi/model.json')));
    assert.match(stdout, new RegExp(`multi at lam=${lam}: highest mean normalized accuracy`));
    assert.match(stdout, /task_a\s+target\s+accuracy/);
  });

  it('--json prints only JSON lines: run-start, progress, points, chosen, results, the engine\'s save events, run-done', async () => {
    const recipe = writeRecipe(dir, 'json.tvr', `${MULTI_RECIPE.replace('out/multi', 'out/json')}save(forget, "out/json-forget.safetensors")\n`);
    const { code, stdout, stderr } = await runTvr(['run', recipe, '--json', '--no-cache', '--sync'], dir);
    assert.equal(code, 0, stderr);
    const events = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as RecipeRunEvent | RunEvent);
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'run-start');
    assert.equal(types.at(-1), 'run-done');
    assert.equal(types.filter((t) => t === 'point').length, 10);
    assert.equal(types.filter((t) => t === 'chosen').length, 2);
    for (const t of ['evaluation-progress', 'results', 'start', 'output', 'done'] as const) assert.ok(types.includes(t), t);
    const done = events.at(-1) as Extract<RecipeRunEvent, { type: 'run-done' }>;
    assert.equal(done.resultsFile, join(dir, 'json.results.json'));
    const last = events.filter((e): e is Extract<RecipeRunEvent, { type: 'results' }> => e.type === 'results').at(-1)!;
    assert.equal(last.results.status, 'done');
    // Which writer wrote each output: both are too small to repay starting I/O threads (docs/engine.md), so both streamed.
    const outputs = events.filter((e): e is Extract<RunEvent, { type: 'output' }> => e.type === 'output');
    assert.deepEqual(outputs.map((o) => [basename(o.path), o.writer]), [['json', 'streaming'], ['json-forget.safetensors', 'streaming']]);
  });

  it('Ctrl-C cancels: exit 130, results file cancelled, no outputs, the evaluator stopped', async () => {
    writeFileSync(join(dir, 'slow.mjs'), "process.stderr.write('started ' + process.pid + '\\n'); setTimeout(() => {}, 60000);\n");
    const recipe = writeRecipe(dir, 'slow.tvr', `base = load("st/base.safetensors", exclude="dense2/*")
a = load("st/a.safetensors")
lam = sweep(0, 1, 0.5)
edited = base + lam*(exclude(a, "dense2/*") - base)
slow = task("data/a.safetensors", head=a, command="'${process.execPath}' slow.mjs {model}")
evaluate(edited, targets=[slow], objective="max")
save(edited, "out/slow.safetensors")
`);
    let evaluatorPid = 0;
    const { code } = await runTvr(['run', recipe, '--json'], dir, {
      onStdoutLine: (line, child) => {
        const event = JSON.parse(line) as { type: string; message?: string };
        const started = event.type === 'log' ? /started (\d+)/.exec(event.message ?? '') : null;
        if (started && evaluatorPid === 0) {
          evaluatorPid = Number(started[1]);
          child.kill('SIGINT');
        }
      },
    });
    assert.equal(code, 130);
    assert.ok(evaluatorPid > 0);
    const results = await readResultsFile(join(dir, 'slow.results.json'));
    assert.equal(results.status, 'cancelled');
    assert.equal(existsSync(join(dir, 'out/slow.safetensors')), false);
    assert.throws(() => process.kill(evaluatorPid, 0), /ESRCH/);
  });

  it('refuses a recipe with errors, printing them like tvr check (exit 1)', async () => {
    const recipe = writeRecipe(dir, 'bad.tvr', 'base = load("models/base/model.json")\nx = base + base\nsave(x, "out/x.safetensors")\n');
    const { code, stderr } = await runTvr(['run', recipe], dir);
    assert.equal(code, 1);
    assert.match(stderr, /error\[model-weight-sum\]/);
    assert.match(stderr, /--> bad\.tvr:2:/);
    assert.match(stderr, /1 error in bad\.tvr; nothing ran/);
    assert.equal(existsSync(join(dir, 'bad.results.json')), false);
  });

  it('refuses an external evaluator when untrusted (exit 1, a clear message)', async () => {
    const recipe = writeRecipe(dir, 'ext.tvr', `a = load("st/a.safetensors")
t = task("data/a.safetensors", head=a, command="python eval.py {model}")
evaluate(a, targets=[t])
`);
    const { code, stdout, stderr } = await runTvr(['run', recipe, '--untrusted', '--json'], dir);
    assert.equal(code, 1, stderr);
    const [event] = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; code: string; message: string });
    assert.equal(event!.type, 'run-error');
    assert.equal(event!.code, 'untrusted');
    assert.match(event!.message, /line 2: task 't' runs an external evaluator command, and this workspace is not trusted/);
  });

  it('says when the recipe cannot be read (exit 2)', async () => {
    const { code, stderr } = await runTvr(['run', join(dir, 'missing.tvr')], dir);
    assert.equal(code, 2);
    assert.match(stderr, /cannot read the recipe .*missing\.tvr: no such file/);
  });
});

describe('tvr doctor (built CLI)', () => {
  it('lists every backend with its status and reason, the Node version and the GPU package', async () => {
    const { code, stdout } = await runTvr(['doctor', '--json'], root);
    assert.equal(code, 0);
    const report = JSON.parse(stdout) as { backends: { name: string; usable: boolean; reason?: string }[]; node: { version: string }; gpuPackage: { installed: boolean }; auto: { name: string }; evaluation: { name?: string }; webgpu: { adapter?: object; reason: string }; gpu: { reason: string } };
    assert.deepEqual(report.backends.map((b) => b.name).sort(), ['js', 'js-workers', 'tfjs-cpu', 'tfjs-node', 'tfjs-node-gpu', 'tfjs-wasm']);
    assert.ok(report.backends.every((b) => b.usable || (b.reason ?? '').length > 0));
    assert.equal(report.node.version, process.versions.node);
    assert.equal(typeof report.gpuPackage.installed, 'boolean');
    assert.ok(report.backends.find((b) => b.name === report.auto.name)!.usable);
    assert.ok(report.evaluation.name, 'a tfjs backend evaluates networks');
    assert.ok(report.webgpu.reason.length > 0 && report.gpu.reason.length > 0, 'doctor says what WebGPU and gpu do here');
    const text = await runTvr(['doctor'], root);
    assert.match(text.stdout, /auto picks: /);
    assert.match(text.stdout, report.webgpu.adapter ? /\n {2}adapter: .*\n {2}limits: maxBufferSize [\d,]+ MiB, maxStorageBufferBindingSize [\d,]+ MiB/ : /\n {2}not usable: /);
    assert.match(text.stdout, new RegExp(`Node ${process.versions.node.replaceAll('.', '\\.')}`));
  });
});
