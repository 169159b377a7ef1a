// `tvr run --executor slurm --jobs 4` (built CLI) against the real single-node Slurm that
// scripts/setup-slurm.sh starts: a sweep whose every evaluation is a Slurm job (built-in
// tasks as `tvr eval` on the node) gives the serial local run's results, with 4 jobs in
// the queue at once as squeue shows; Ctrl-C cancels the cluster's jobs; a failing job is
// reported with its id and the end of its log; a shared folder that is not one fails
// before anything runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { readResultsFile } from '../../server/src/results/file.ts';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { comparableResults } from '../helpers/run-results.ts';
import { slurmForTests } from '../helpers/slurm.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';
import { makeScenario, writeRecipe, writeSafetensorsModels } from '../unit/run/scenario.ts';

const slurm = await slurmForTests('tvr run --executor slurm');

const SWEEP = `base = load("models/base/model.json", exclude="dense2/*")
a = load("models/a/model.json")
b = load("models/b/model.json")
lam = sweep(0, 1, 0.5)
multi = base + lam*(exclude(a, "dense2/*") - base + exclude(b, "dense2/*") - base)
task_a = task("data/a.safetensors", head=a)
task_b = task("data/b.safetensors", head=b)
evaluate(multi, targets=[task_a, task_b], objective="add")
`;

/** What squeue lists, sampled until stopped: the job ids of each sample. */
function watchQueue(): { readonly stop: () => Promise<readonly (readonly string[])[]> } {
  const samples: string[][] = [];
  let stopped = false;
  const sampling = (async () => {
    while (!stopped) {
      const { stdout } = await promisify(execFile)('squeue', ['-h', '-o', '%i']);
      samples.push(stdout.split('\n').map((l) => l.trim()).filter(Boolean));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return { stop: async () => { stopped = true; await sampling; return samples; } };
}

function jobIds(stdout: string): string[] {
  return stdout.trim().split('\n').flatMap((line) => {
    const event = JSON.parse(line) as { type: string; message?: string };
    const job = event.type === 'log' ? /: Slurm job (\d+)$/.exec(event.message ?? '') : null;
    return job ? [job[1]!] : [];
  });
}

describe('tvr run --executor slurm (built CLI, real Slurm)', { skip: slurm.skip }, () => {
  const { dir, cleanup } = fixtureDir();
  const shared = fixtureDir();
  before(() => {
    if (slurm.reason) assert.fail(`CI needs a Slurm cluster (scripts/setup-slurm.sh): ${slurm.reason}`);
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    writeSafetensorsModels(makeScenario(dir));
  });
  after(() => { cleanup(); shared.cleanup(); });

  it('a sweep as Slurm jobs, 4 at once, gives the serial run\'s results', async () => {
    const recipe = writeRecipe(dir, 'sweep.tvr', SWEEP);
    const serial = await runTvr(['run', recipe, '--no-cache', '--backend', 'cpu', '--out', join(dir, 'serial')], dir);
    assert.equal(serial.code, 0, serial.stderr);
    const queue = watchQueue();
    const cluster = await runTvr(['run', recipe, '--json', '--no-cache', '--backend', 'cpu', '--jobs', '4', '--executor', 'slurm', '--shared-dir', shared.dir, '--out', join(dir, 'cluster')], dir);
    const samples = await queue.stop();
    assert.equal(cluster.code, 0, cluster.stderr);
    const submitted = jobIds(cluster.stdout);
    const expected = await readResultsFile(join(dir, 'serial/sweep.results.json'));
    const found = await readResultsFile(join(dir, 'cluster/sweep.results.json'));
    assert.deepEqual(comparableResults(found, 'recipe', 'evaluationBackend'), comparableResults(expected, 'recipe', 'evaluationBackend'));
    assert.equal(found.evaluationBackend?.name, 'slurm');
    // 4 references x 2 splits (base on both tasks, each fine-tuned model on its own) + 3 points x 2 tasks + 2 tests.
    assert.equal(submitted.length, 16);
    // Other suites may use the cluster at the same time: only this run's jobs count.
    const ours = samples.map((sample) => sample.filter((id) => submitted.includes(id)));
    assert.deepEqual(submitted.filter((id) => !ours.some((sample) => sample.includes(id))), [], 'squeue listed every job');
    assert.equal(Math.max(...ours.map((sample) => sample.length)), 4, 'four jobs in the queue at once');
  });

  it('Ctrl-C cancels the cluster\'s jobs (exit 130, results cancelled)', async () => {
    writeFileSync(join(dir, 'slow.mjs'), "process.stderr.write('started\\n'); setTimeout(() => {}, 120000);\n");
    const recipe = writeRecipe(dir, 'slow.tvr', `base = load("st/base.safetensors", exclude="dense2/*")
a = load("st/a.safetensors")
lam = sweep(0, 1, 0.5)
edited = base + lam*(exclude(a, "dense2/*") - base)
slow = task("data/a.safetensors", head=a, command="'${process.execPath}' slow.mjs {model}")
evaluate(edited, targets=[slow], objective="max")
`);
    const jobs: string[] = [];
    const { code } = await runTvr(['run', recipe, '--json', '--jobs', '2', '--executor', 'slurm', '--shared-dir', shared.dir], dir, {
      onStdoutLine: (line, child) => {
        jobs.push(...jobIds(line));
        if (jobs.length === 2 && child.exitCode === null && !child.killed) child.kill('SIGINT');
      },
    });
    assert.equal(code, 130);
    assert.equal(jobs.length, 2);
    assert.equal((await readResultsFile(join(dir, 'slow.results.json'))).status, 'cancelled');
    // scancel was sent before the run ended; a cancelled job may show COMPLETING for a moment.
    let listed = '';
    for (let waited = 0; waited < 10_000; waited += 250) {
      listed = (await promisify(execFile)('squeue', ['-h', '-j', jobs.join(','), '-o', '%i %T']).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))).stdout.trim();
      if (listed === '' || /^(\d+ COMPLETING\n?)+$/.test(listed) === false) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(listed, '', `still queued or running 10 s after the run ended: ${listed}`);
  });

  it('a failing job is reported with its id, exit status and the end of its log', async () => {
    writeFileSync(join(dir, 'failing.mjs'), "process.stderr.write('loading weights\\nCUDA error: out of memory\\n'); process.exit(3);\n");
    const recipe = writeRecipe(dir, 'failing.tvr', `a = load("st/a.safetensors")
broken = task("data/a.safetensors", head=a, command="'${process.execPath}' failing.mjs {model}")
evaluate(a, targets=[broken])
`);
    const { code, stderr } = await runTvr(['run', recipe, '--executor', 'slurm', '--shared-dir', shared.dir], dir);
    assert.equal(code, 1);
    assert.match(stderr, /Slurm job \d+/);
    assert.match(stderr, /exit/);
    assert.match(stderr, /CUDA error: out of memory/);
  });

  it('a shared folder that does not exist fails before anything runs', async () => {
    const recipe = writeRecipe(dir, 'nowhere.tvr', SWEEP);
    const { code, stderr } = await runTvr(['run', recipe, '--executor', 'slurm', '--shared-dir', join(dir, 'no-such-dir')], dir);
    assert.equal(code, 1);
    assert.match(stderr, /the shared directory .*no-such-dir cannot hold job files: it does not exist/);
    assert.equal(existsSync(join(dir, 'nowhere.results.json')), false);
  });
});
