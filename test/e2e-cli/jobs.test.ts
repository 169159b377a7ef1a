// `tvr run --jobs N` (built CLI): up to N evaluations at once, and results identical to a
// serial run apart from timings. External evaluator commands run as N processes (the
// command itself records how many ran at once); built-in evaluations take turns on one
// network while models are computed beside them, holding at most N models. And
// `tvr eval`, the single evaluation a cluster node runs, agrees with the run.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readResultsFile } from '../../server/src/results/file.ts';
import type { RunResults } from '../../server/src/results/schema.ts';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { comparableResults } from '../helpers/run-results.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';
import { makeScenario, MULTI_RECIPE, writeRecipe, writeSafetensorsModels } from '../unit/run/scenario.ts';

/**
 * An external evaluator: marks itself running, records how many evaluators are running,
 * waits, and prints metrics computed from the model's float32 values.
 */
const EVALUATOR = `import { appendFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
const [model, running, log] = process.argv.slice(2);
const me = running + '/' + process.pid;
writeFileSync(me, '');
appendFileSync(log, readdirSync(running).length + '\\n');
await new Promise((resolve) => setTimeout(resolve, 300));
const bytes = readFileSync(model);
const size = Number(bytes.readBigUInt64LE(0));
const header = JSON.parse(bytes.subarray(8, 8 + size).toString());
let sum = 0;
for (const [name, t] of Object.entries(header)) {
  if (name === '__metadata__' || t.dtype !== 'F32') continue;
  const data = bytes.subarray(8 + size + t.data_offsets[0], 8 + size + t.data_offsets[1]);
  for (let i = 0; i < data.length; i += 4) sum += data.readFloatLE(i);
}
rmSync(me);
console.log(JSON.stringify({ accuracy: sum - Math.floor(sum), loss: Math.abs(sum), examples: 10 }));
`;

const EXTERNAL_RECIPE = (running: string, log: string): string => `base = load("st/base.safetensors", exclude="dense2/*")
a = load("st/a.safetensors")
b = load("st/b.safetensors")
lam = sweep(0, 1, 0.125)
edited = base + lam*(exclude(a, "dense2/*") - base) - lam*(exclude(b, "dense2/*") - base)
scored = task("data/a.safetensors", head=a, command="'${process.execPath}' evaluator.mjs {model} ${running} ${log}")
evaluate(edited, targets=[scored], objective="max")
`;

function maxAtOnce(log: string): number {
  return Math.max(...readFileSync(log, 'utf8').trim().split('\n').map(Number));
}

describe('tvr run --jobs (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    writeSafetensorsModels(makeScenario(dir));
    writeFileSync(join(dir, 'evaluator.mjs'), EVALUATOR);
  });
  after(cleanup);

  async function run(recipe: string, jobs: number, out: string): Promise<RunResults> {
    const { code, stderr } = await runTvr(['run', recipe, '--no-cache', '--jobs', String(jobs), '--out', join(dir, out)], dir);
    assert.equal(code, 0, stderr);
    const name = recipe.slice(recipe.lastIndexOf('/') + 1).replace(/\.tvr$/, '');
    return readResultsFile(join(dir, out, `${name}.results.json`));
  }

  it('external commands: N at once, the serial run\'s results', async () => {
    const results: Record<number, RunResults> = {};
    const atOnce: Record<number, number> = {};
    for (const jobs of [1, 4]) {
      const running = join(dir, `running-${jobs}`);
      const log = join(dir, `concurrency-${jobs}.log`);
      mkdirSync(running);
      const recipe = writeRecipe(dir, `external-${jobs}.tvr`, EXTERNAL_RECIPE(running, log));
      results[jobs] = await run(recipe, jobs, `external-${jobs}`);
      atOnce[jobs] = maxAtOnce(log);
    }
    assert.equal(atOnce[1], 1, 'one evaluator at a time without --jobs');
    assert.ok(atOnce[4]! >= 2 && atOnce[4]! <= 4, `--jobs 4 ran ${atOnce[4]} evaluators at once`);
    assert.deepEqual(comparableResults(results[4]!, 'recipe', 'path'), comparableResults(results[1]!, 'recipe', 'path'));
    // Points are listed in evaluation order (coarse to fine), as the serial run lists them.
    assert.deepEqual(results[4]!.evaluations[0]!.points.map((p) => p.point.lam), [0, 1, 0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875]);
  });

  it('built-in evaluations: the serial run\'s results, at most N models held in memory', async () => {
    const recipe = writeRecipe(dir, 'multi.tvr', MULTI_RECIPE);
    const serial = await run(recipe, 1, 'builtin-1');
    const parallel = await run(recipe, 3, 'builtin-3');
    assert.deepEqual(comparableResults(parallel, 'recipe', 'path'), comparableResults(serial, 'recipe', 'path'));
    const held = /at most (\d+) models? held in memory at once/.exec(parallel.notes.join('\n'));
    assert.ok(held, parallel.notes.join('\n'));
    assert.ok(Number(held[1]) >= 1 && Number(held[1]) <= 3, held[0]);
  });

  it('tvr eval scores one checkpoint on a recipe\'s task as the run did', async () => {
    const recipe = writeRecipe(dir, 'multi-eval.tvr', MULTI_RECIPE);
    const results = await run(recipe, 1, 'eval');
    const reference = results.evaluations[0]!.references.find((r) => r.kind === 'finetuned' && r.task === 'task_b')!;
    const { code, stdout, stderr } = await runTvr(['eval', recipe, '--task', 'task_b', '--split', 'test', '--model', 'models/b/model.json'], dir);
    assert.equal(code, 0, stderr);
    const metrics = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    assert.equal(metrics.accuracy, reference.test.accuracy);
    assert.equal(metrics.loss, reference.test.loss);
    assert.equal(metrics.examples, reference.test.examples);
    const missing = await runTvr(['eval', recipe, '--task', 'nope', '--model', 'models/b/model.json'], dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no task named 'nope' in an evaluate\(\.\.\.\) statement; its tasks: task_a, task_b/);
    const noModel = await runTvr(['eval', recipe, '--task', 'task_b', '--model', 'models/none'], dir);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /^tvr: --model models\/none: checkpoint not found: .*models\/none\n$/, 'said of --model, not of a recipe line the file does not have');
  });

  it('refuses a Slurm run without a shared folder, and Slurm options without Slurm (exit 2)', async () => {
    const recipe = writeRecipe(dir, 'multi-slurm.tvr', MULTI_RECIPE);
    const noShared = await runTvr(['run', recipe, '--executor', 'slurm'], dir);
    assert.equal(noShared.code, 2);
    assert.match(noShared.stderr, /--executor slurm needs --shared-dir DIR: a folder every node of the cluster can read and write/);
    const stray = await runTvr(['run', recipe, '--slurm-args', '--time=5'], dir);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--shared-dir and --slurm-args go with --executor slurm/);
    const unquoted = await runTvr(['run', recipe, '--executor', 'slurm', '--shared-dir', dir, '--slurm-args', "--comment='open"], dir);
    assert.equal(unquoted.code, 2);
    assert.match(unquoted.stderr, /--slurm-args "--comment='open": unterminated single quote/);
  });
});
