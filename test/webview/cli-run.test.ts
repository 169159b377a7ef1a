// The Run Recipe child process against a stand-in CLI (a real Node script written by the
// test): the arguments and environment it gets, JSON lines read across odd chunking,
// non-JSON lines passed to the log, failure exit codes, and cancel escalating from SIGINT
// to SIGKILL with the whole process group ended. The run's results stream into the real
// webview in Chromium, as the panel would show them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliRun, cliArguments, type CancelTimings, type CliExit, type CliRunRequest } from '../../client/src/run/cli-process.ts';
import type { CliEvent } from '../../client/src/run/cli-events.ts';
import type { RunResults } from '../../server/src/results/schema.ts';
import { loadFixture, openWebview, post, postResults, screenshot, type WebviewHarness } from './harness.ts';

// The stand-in for dist/tvr.mjs. The recipe file names the behaviour; FAKE_REPORT names a
// file where it writes what it was started with (and the pid of any process it started).
const fakeCli = String.raw`
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
const [, , command, recipe, ...options] = process.argv;
const mode = readFileSync(recipe, 'utf8').trim();
const report = (extra = {}) => writeFileSync(process.env.FAKE_REPORT, JSON.stringify({ command, recipe, options, cwd: process.cwd(), electron: process.env.ELECTRON_RUN_AS_NODE, ...extra }));
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const results = JSON.parse(process.env.FAKE_RESULTS ?? 'null');
const start = { type: 'run-start', recipe, backend: 'cpu', reason: 'asked', points: 21, evaluations: 1 };
const keepAlive = () => setInterval(() => {}, 1000);
report();
if (mode === 'stream') {
  process.stdout.write('loading the wasm backend\n');
  emit(start);
  const points = results.evaluations[0].points;
  for (const n of [6, 24, points.length]) {
    const partial = { ...results, status: n === points.length ? 'done' : 'running', evaluations: [{ ...results.evaluations[0], points: points.slice(0, n), chosen: n === points.length ? results.evaluations[0].chosen : [] }] };
    emit({ type: 'evaluation-progress', done: n, total: points.length, what: 'lam on sci' });
    // One event written in three pieces, as a pipe may deliver it.
    const line = JSON.stringify({ type: 'results', results: partial }) + '\n';
    const third = Math.floor(line.length / 3);
    for (const piece of [line.slice(0, third), line.slice(third, 2 * third), line.slice(2 * third)]) {
      process.stdout.write(piece);
      await sleep(20);
    }
  }
  process.stderr.write('a warning on stderr\n');
  emit({ type: 'run-done', resultsFile: recipe + '.results.json', seconds: 0.2 });
  process.stdout.write('bye');
} else if (mode === 'fail') {
  emit(start);
  emit({ type: 'run-error', code: 'shape-mismatch', message: 'model sci does not fit base' });
  process.exitCode = 1;
} else if (mode === 'graceful') {
  process.on('SIGINT', () => {
    emit({ type: 'results', results: { ...results, status: 'cancelled' } });
    process.exit(130);
  });
  keepAlive();
  emit(start);
} else if (mode === 'stubborn') {
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  report({ grandchild: child.pid });
  keepAlive();
  emit(start);
} else if (mode === 'orphan') {
  // Exits at once, but leaves a process holding its stdout open for a long time.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  child.unref();
  report({ grandchild: child.pid });
  emit(start);
}
`;

interface Recorded {
  readonly events: CliEvent[];
  readonly text: { line: string; stream: string }[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe('the run command\'s child process', () => {
  const negation = loadFixture('negation-sweep');
  let dir: string;
  let harness: WebviewHarness | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tvr-'));
    writeFileSync(join(dir, 'tvr.mjs'), fakeCli);
  });
  after(async () => {
    await harness?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(mode: string, options: { trusted?: boolean; timings?: CancelTimings; node?: string } = {}): { run: CliRun; recorded: Recorded; report: () => Record<string, unknown> } {
    const recipe = join(dir, `${mode}.tvr`);
    writeFileSync(recipe, `${mode}\n`);
    const reportFile = join(dir, `${mode}.report.json`);
    const request: CliRunRequest = {
      node: options.node ?? process.execPath, cli: join(dir, 'tvr.mjs'), recipe, backend: 'cpu', trusted: options.trusted ?? true,
      env: { ...process.env, FAKE_REPORT: reportFile, FAKE_RESULTS: JSON.stringify(negation) },
    };
    const recorded: Recorded = { events: [], text: [] };
    const run = new CliRun(request, { onEvent: (event) => recorded.events.push(event), onText: (line, stream) => recorded.text.push({ line, stream }) }, options.timings);
    return { run, recorded, report: () => JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown> };
  }

  it('builds the arguments from the settings and workspace trust', () => {
    const request = { node: 'node', cli: '/ext/dist/tvr.mjs', recipe: '/w/a.tvr', backend: 'gpu', env: {} } as const;
    assert.deepEqual(cliArguments({ ...request, trusted: true }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu']);
    assert.deepEqual(cliArguments({ ...request, trusted: false }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--untrusted']);
    assert.deepEqual(cliArguments({ ...request, trusted: true, syncOutputs: true }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--sync']);
    assert.deepEqual(cliArguments({ ...request, trusted: true, allowOutputsOutside: true }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--allow-outputs-outside']);
    assert.deepEqual(cliArguments({ ...request, trusted: false, allowOutputsOutside: true }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--untrusted'], 'never outside in an untrusted workspace');
    assert.deepEqual(cliArguments({ ...request, trusted: true, jobs: 4 }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--jobs', '4']);
    assert.deepEqual(cliArguments({ ...request, trusted: true, jobs: 1 }), ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu']);
    assert.deepEqual(cliArguments({ ...request, trusted: true, cluster: { sharedDir: '/shared/tvr', slurmArgs: '--gres=gpu:1 --time=30' } }),
      ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--executor', 'slurm', '--shared-dir', '/shared/tvr', '--slurm-args', '--gres=gpu:1 --time=30']);
    assert.deepEqual(cliArguments({ ...request, trusted: true, cluster: { sharedDir: '/shared/tvr', slurmArgs: ' ' } }),
      ['/ext/dist/tvr.mjs', 'run', '/w/a.tvr', '--json', '--backend', 'gpu', '--executor', 'slurm', '--shared-dir', '/shared/tvr']);
  });

  it('streams results events into the webview as they arrive; other lines go to the log', async () => {
    harness = await openWebview();
    const { run, recorded, report } = start('stream', { trusted: false });
    const statuses: string[] = [];
    let forwarding = Promise.resolve();
    // Forward in order, as the panel host does, while the run goes on.
    const forward = setInterval(() => {
      const pending = recorded.events.splice(0);
      for (const event of pending) {
        statuses.push(event.type === 'results' ? `results:${event.results.status}` : event.type);
        const page = harness!.page;
        if (event.type === 'results') forwarding = forwarding.then(() => postResults(page, event.results));
        if (event.type === 'evaluation-progress') forwarding = forwarding.then(() => post(page, { type: 'progress', message: `evaluating ${event.done}/${event.total}`, fraction: event.done / event.total }));
      }
    }, 5);
    const exit: CliExit = await run.exited;
    await new Promise((resolve) => setTimeout(resolve, 20));
    clearInterval(forward);
    await forwarding;
    assert.deepEqual(exit, { code: 0, signal: null, cancelled: false });
    assert.deepEqual(statuses, ['run-start', 'evaluation-progress', 'results:running', 'evaluation-progress', 'results:running', 'evaluation-progress', 'results:done', 'run-done']);
    assert.deepEqual(recorded.text, [
      { line: 'loading the wasm backend', stream: 'stdout' },
      { line: 'a warning on stderr', stream: 'stderr' },
      { line: 'bye', stream: 'stdout' },
    ]);
    const started = report();
    assert.deepEqual([started['command'], started['options'], started['cwd'], started['electron']], ['run', ['--json', '--backend', 'cpu', '--untrusted'], dir, '1']);
    const page = harness.page;
    const drawn = await page.evaluate(() => ({
      status: document.querySelector('.status-badge')?.textContent,
      progress: document.querySelectorAll('.progress-line').length,
      vertices: Array.from(document.querySelectorAll('figure.chart g[aria-description="sweep lines"] path')).map((p) => (p.getAttribute('d') ?? '').split('L').length),
    }));
    assert.deepEqual(drawn, { status: 'done', progress: 0, vertices: [21, 21, 21, 21, 21, 21] });
    await screenshot(page, 'streamed-run');
  });

  it('reports a failed run: the error event and the exit code', async () => {
    const { run, recorded } = start('fail');
    const exit = await run.exited;
    assert.deepEqual(exit, { code: 1, signal: null, cancelled: false });
    assert.deepEqual(recorded.events.map((e) => e.type), ['run-start', 'run-error']);
  });

  it('cancels with SIGINT when the CLI stops by itself, and keeps its last results', async () => {
    const { run, recorded } = start('graceful', { timings: { interruptMs: 5000, terminateMs: 5000 } });
    assert.ok(await waitFor(() => recorded.events.length > 0, 5000), 'the run started');
    const began = Date.now();
    const exit = await run.cancel();
    assert.ok(Date.now() - began < 3000, `took ${Date.now() - began} ms`);
    assert.deepEqual(exit, { code: 130, signal: null, cancelled: true });
    const last = recorded.events.at(-1);
    assert.equal(last?.type === 'results' && (last.results as RunResults).status, 'cancelled');
    assert.equal(run.running, false);
  });

  it('escalates to SIGTERM and SIGKILL when the CLI ignores SIGINT, and ends what it started', async () => {
    const { run, recorded, report } = start('stubborn', { timings: { interruptMs: 300, terminateMs: 300 } });
    assert.ok(await waitFor(() => recorded.events.length > 0, 5000), 'the run started');
    const grandchild = report()['grandchild'] as number;
    assert.ok(alive(grandchild));
    const began = Date.now();
    const exit = await run.cancel();
    const took = Date.now() - began;
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL', cancelled: true });
    assert.ok(took >= 600 && took < 4000, `took ${took} ms`);
    assert.ok(await waitFor(() => !alive(grandchild), 3000), `process ${grandchild} of the run's group is still alive`);
  });

  it('does not hang when a process it left behind holds the output open', async () => {
    const { run, report } = start('orphan');
    const began = Date.now();
    const exit = await run.exited;
    const took = Date.now() - began;
    const grandchild = report()['grandchild'] as number;
    try {
      assert.deepEqual(exit, { code: 0, signal: null, cancelled: false });
      assert.ok(alive(grandchild), 'the stray process still holds the pipe');
      assert.ok(took < 10000, `took ${took} ms`);
    } finally {
      if (alive(grandchild)) process.kill(-grandchild, 'SIGKILL');
    }
  });

  it('says why when the runtime cannot be started', async () => {
    const { run } = start('fail', { node: join(dir, 'no-such-node') });
    const exit = await run.exited;
    assert.equal(exit.cancelled, false);
    assert.match(exit.spawnError ?? '', /ENOENT/);
    assert.deepEqual(await run.cancel(), exit);
  });
});
