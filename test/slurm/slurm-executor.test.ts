// The Slurm executor against a real cluster (CI: the single node of scripts/setup-slurm.sh):
// metrics come back from a job, argv and cwd reach the node byte for byte, stderr streams
// while the job runs, failures name the job, its state, exit status and log, a job Slurm
// has forgotten is judged by the exit status its script recorded, and a cancel,
// a timeout or tvr's exit leave no job behind.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it, test } from 'node:test';
import { EvaluationError } from '../../server/src/engine/evaluation/errors.ts';
import { checkSlurm, runSlurmEvaluator } from '../../server/src/engine/evaluation/slurm.ts';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { slurmForTests } from '../helpers/slurm.ts';

const slurm = await slurmForTests('Slurm executor suite');

test('a Slurm cluster answers (CI starts one with scripts/setup-slurm.sh)', { skip: slurm.skip }, () => {
  assert.equal(slurm.reason, undefined, `no cluster: ${slurm.reason}`);
});

/** The job's state as squeue lists it; '' once it is no longer queued or running. */
async function queueState(jobId: string): Promise<string> {
  return (await promisify(execFile)('squeue', ['-h', '-j', jobId, '-o', '%T'])).stdout.trim();
}

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('runSlurmEvaluator', { skip: slurm.skip }, () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);
  const jobsDir = join(dir, 'jobs');
  // An evaluator: its argv and cwd on stderr (one JSON line), then the metrics on stdout.
  const evaluator = join(dir, 'evaluator.mjs');
  writeFileSync(evaluator, [
    "const [accuracy = '0.75', exitStatus = '0', ...rest] = process.argv.slice(2);",
    'process.stderr.write(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() }) + "\\n");',
    "if (exitStatus !== '0') { process.stderr.write('first\\nsecond\\nthird: giving up\\n'); process.exit(Number(exitStatus)); }",
    'console.log("progress 1/2");',
    'console.log(JSON.stringify({ accuracy: Number(accuracy), loss: 0.5, examples: 40 + rest.length }));',
  ].join('\n'));
  const node = process.execPath;
  const base = { cwd: dir, sharedDir: dir, what: "task 'digits', validation split" };

  it('runs the command as a job and returns the metrics it printed, leaving no files', async () => {
    let jobId: string | undefined;
    const metrics = await runSlurmEvaluator({ ...base, argv: [node, evaluator, '0.8'], onJob: (id) => { jobId = id; } });
    assert.deepEqual(metrics, { accuracy: 0.8, loss: 0.5, perplexity: Math.exp(0.5), examples: 40 });
    assert.match(jobId ?? '', /^\d+$/);
    assert.deepEqual(readdirSync(jobsDir), []);
  });

  it('passes argv and cwd to the node exactly: spaces, quotes, $, backslashes, newlines, empty words', async () => {
    const awkward = ['two words', "it's", '"double"', '$HOME and $(echo no) and `echo no`', 'back\\slash', 'line 1\nline 2', '', '-n', '*', "'\\''"];
    const cwd = join(dir, "a dir with 'quotes' and $x");
    mkdirSync(cwd);
    const lines: string[] = [];
    const metrics = await runSlurmEvaluator({ ...base, cwd, argv: [node, evaluator, '0.5', '0', ...awkward], onStderr: (line) => lines.push(line) });
    assert.equal(metrics.examples, 40 + awkward.length);
    assert.deepEqual(JSON.parse(lines[0]!), { argv: ['0.5', '0', ...awkward], cwd });
  });

  it('streams stderr lines while the job runs, and the last line without a newline at its end', async () => {
    const script = 'echo started >&2; sleep 2; echo "{\\"accuracy\\": 1}"; printf "no newline" >&2';
    const seen: { line: string; at: number }[] = [];
    const metrics = await runSlurmEvaluator({ ...base, argv: ['bash', '-c', script], onStderr: (line) => seen.push({ line, at: Date.now() }) });
    const finishedAt = Date.now();
    assert.equal(metrics.accuracy, 1);
    assert.deepEqual(seen.map((s) => s.line), ['started', 'no newline']);
    assert.ok(finishedAt - seen[0]!.at >= 1000, `the first line came ${finishedAt - seen[0]!.at} ms before the end: not streamed`);
  });

  it('a non-zero exit fails naming the job, its state, its exit status and its stderr, and keeps its files', async () => {
    let jobId = '';
    const error = await runSlurmEvaluator({ ...base, argv: [node, evaluator, '0.5', '3'], onJob: (id) => { jobId = id; } }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof EvaluationError);
    assert.equal(error.code, 'external');
    assert.ok(error.message.startsWith(`task 'digits', validation split: Slurm job ${jobId} (`), error.message);
    assert.match(error.message, /ended FAILED with exit status 3; its stderr ends with: first \| second \| third: giving up; its script and logs are kept: (\S+)\.\{sh,out,err\}$/);
    const stem = /kept: (\S+)\.\{/.exec(error.message)![1]!;
    for (const ext of ['sh', 'out', 'err']) assert.ok(existsSync(`${stem}.${ext}`), `${stem}.${ext} is gone`);
  });

  it('a job Slurm has forgotten (past MinJobAge) is judged by the exit status its script recorded', async () => {
    // An scontrol that knows no job, as after MinJobAge: the .status file must answer.
    const bin = join(dir, 'forgetful-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'scontrol'), '#!/bin/sh\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n', { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      assert.equal((await runSlurmEvaluator({ ...base, argv: [node, evaluator, '0.25'] })).accuracy, 0.25);
      await assert.rejects(runSlurmEvaluator({ ...base, argv: [node, evaluator, '0.25', '5'] }), /ended FAILED with exit status 5; its stderr ends with: first/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('a command missing on the node fails with exit status 127, said to mean not found', async () => {
    await assert.rejects(runSlurmEvaluator({ ...base, argv: ['tvr-no-such-evaluator'] }), /exit status 127 \(127: the command was not found on the node\); its stderr ends with: .*tvr-no-such-evaluator: command not found/);
  });

  it('sbatch refusing the job fails with its message', async () => {
    await assert.rejects(runSlurmEvaluator({ ...base, argv: ['true'], slurmArgs: ['--partition=tvr-no-such-partition'] }), /sbatch did not accept the evaluator job `true` \(exit status 1\): .*invalid partition/i);
  });

  it('cancelling stops the job and rejects as cancelled', async () => {
    const controller = new AbortController();
    let jobId = '';
    const run = runSlurmEvaluator({ ...base, argv: ['sleep', '60'], signal: controller.signal, onJob: (id) => { jobId = id; } });
    const outcome = run.then(() => 'resolved', (e: unknown) => e);
    await waitUntil('the job runs', async () => jobId !== '' && (await queueState(jobId)) === 'RUNNING', 20_000);
    controller.abort();
    const error = await outcome;
    assert.ok(error instanceof EvaluationError && error.code === 'cancelled', String(error));
    await waitUntil(`job ${jobId} leaves the queue`, async () => (await queueState(jobId)) === '', 5000);
  });

  it('a timeout cancels the job and says how long it waited and where the job was', async () => {
    let jobId = '';
    await assert.rejects(runSlurmEvaluator({ ...base, argv: ['sleep', '60'], timeoutMs: 2000, onJob: (id) => { jobId = id; } }),
      /Slurm job \d+ \(`sleep 60`\) did not finish within 2 s and was cancelled \(last seen (RUNNING|PENDING)\b.*raise the limit with --eval-timeout\)/);
    await waitUntil(`job ${jobId} leaves the queue`, async () => (await queueState(jobId)) === '', 5000);
  });

  it('four jobs submitted at once all succeed (those beyond the free CPUs queue)', async () => {
    const results = await Promise.all([0.1, 0.2, 0.3, 0.4].map((accuracy) => runSlurmEvaluator({ ...base, argv: [node, evaluator, String(accuracy)] })));
    assert.deepEqual(results.map((m) => m.accuracy), [0.1, 0.2, 0.3, 0.4]);
  });

  it('jobs still running when tvr exits are cancelled', async () => {
    // The child quits as tvr does on a second Ctrl-C: process.exit() without waiting for the job.
    const program = [
      "process.on('SIGINT', () => process.exit(130));",
      `import { runSlurmEvaluator } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../server/src/engine/evaluation/slurm.ts')).href)};`,
      `runSlurmEvaluator({ argv: ['sleep', '60'], cwd: ${JSON.stringify(dir)}, sharedDir: ${JSON.stringify(dir)}, what: 'exit test', onJob: (id) => console.log(id) });`,
    ].join('\n');
    const child = spawn(node, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    const jobId = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').once('data', (chunk: string) => resolve(chunk.trim()));
      child.once('exit', (code) => reject(new Error(`the child exited (${code}) before submitting`)));
    });
    await waitUntil('the job runs', async () => (await queueState(jobId)) === 'RUNNING', 20_000);
    child.kill('SIGINT');
    await waitUntil(`job ${jobId} leaves the queue`, async () => (await queueState(jobId)) === '', 5000);
  });
});

describe('checkSlurm', () => {
  it('reports the version of a cluster that answers', { skip: slurm.skip }, async () => {
    const { dir, cleanup } = fixtureDir();
    try {
      assert.match((await checkSlurm(dir)).version, /\d+\.\d+/);
    } finally {
      cleanup();
    }
  });

  it('refuses a shared directory that does not exist, naming it', async () => {
    await assert.rejects(checkSlurm('/nonexistent/tvr-shared'), (error: unknown) => {
      assert.ok(error instanceof EvaluationError && error.code === 'external');
      assert.equal(error.message, 'Slurm: the shared directory /nonexistent/tvr-shared cannot hold job files: it does not exist (it must be a directory every node can read and write)');
      return true;
    });
  });
});
