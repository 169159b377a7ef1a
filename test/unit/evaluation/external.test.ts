// The external evaluator protocol with a small Node script as the command: metrics from
// the last JSON object on stdout, stderr to the log, and a precise error for a non-zero
// exit, a timeout, output that is not a metrics object, and a command that cannot start.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { parseMetricsOutput, runExternalEvaluator } from '../../../server/src/engine/evaluation/external.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';

/** Behaves as its first argument says; echoes its other arguments into the metrics. */
const SCRIPT = `
const [mode, ...rest] = process.argv.slice(2);
process.stderr.write('evaluating ' + rest.join(' ') + '\\nsecond line');
switch (mode) {
  case 'ok': console.log('loading...'); console.log(JSON.stringify({ accuracy: 0.75, loss: 0.5, examples: 8, args: rest })); break;
  case 'multiline': console.log('progress 1/2'); console.log(JSON.stringify({ accuracy: 0.5, examples: 2 }, null, 2)); break;
  case 'fail': process.stderr.write('\\nCUDA out of memory\\n'); process.exit(3);
  case 'hang': setTimeout(() => {}, 60000); break;
  case 'garbage': console.log('accuracy: 0.9'); break;
  case 'array': console.log('[0.9]'); break;
  case 'bad-accuracy': console.log(JSON.stringify({ accuracy: 91 })); break;
  case 'no-examples': console.log(JSON.stringify({ perplexity: Math.E })); break;
}
`;

describe('external evaluator protocol', () => {
  const { dir, cleanup } = fixtureDir();
  let script: string;
  before(() => {
    script = join(dir, 'eval.mjs');
    writeFileSync(script, SCRIPT);
  });
  after(cleanup);

  const run = (mode: string, extra: string[] = [], timeoutMs?: number) => {
    const stderr: string[] = [];
    const promise = runExternalEvaluator({
      argv: [process.execPath, script, mode, ...extra],
      cwd: dir,
      what: "task 't', validation split",
      onStderr: (line) => stderr.push(line),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    return { promise, stderr };
  };

  it('reads the metrics object at the end of stdout and forwards stderr line by line', async () => {
    const { promise, stderr } = run('ok', ['a b', '{x}']);
    assert.deepEqual(await promise, { accuracy: 0.75, loss: 0.5, perplexity: Math.exp(0.5), examples: 8 });
    assert.deepEqual(stderr, ['evaluating a b {x}', 'second line']);
  });

  it('accepts a pretty-printed object after other output', async () => {
    assert.deepEqual(await run('multiline').promise, { accuracy: 0.5, examples: 2 });
  });

  it('derives loss from perplexity and defaults examples to 0', async () => {
    const m = await run('no-examples').promise;
    assert.equal(m.examples, 0);
    assert.ok(Math.abs(m.loss! - 1) < 1e-12);
  });

  const failures: { mode: string; timeoutMs?: number; message: RegExp }[] = [
    { mode: 'fail', message: /task 't', validation split: the evaluator `.*eval\.mjs fail` exited with status 3; its stderr ends with: .*CUDA out of memory/ },
    { mode: 'hang', timeoutMs: 300, message: /did not finish within 0\.3 s and was stopped \(raise the limit with --eval-timeout\)/ },
    { mode: 'garbage', message: /must print a JSON object of metrics as the last thing on stdout.*its stdout ends with: accuracy: 0\.9/ },
    { mode: 'array', message: /must print a JSON object of metrics as the last thing on stdout/ },
    { mode: 'bad-accuracy', message: /printed accuracy = 91; accuracy is a fraction in \[0, 1\]/ },
  ];
  for (const f of failures) {
    it(`fails precisely: ${f.mode}`, async () => {
      await assert.rejects(run(f.mode, [], f.timeoutMs).promise, (e: unknown) => e instanceof EvaluationError && e.code === 'external' && f.message.test(e.message));
    });
  }

  it('names a command that cannot start', async () => {
    await assert.rejects(
      runExternalEvaluator({ argv: ['tvr-no-such-evaluator', 'x'], cwd: dir, what: "task 't'" }),
      /cannot start the evaluator `tvr-no-such-evaluator x`: command not found: tvr-no-such-evaluator/,
    );
  });

  it('stops the command when the run is cancelled', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const promise = runExternalEvaluator({ argv: [process.execPath, script, 'hang'], cwd: dir, what: "task 't'", signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(promise, (e: unknown) => e instanceof EvaluationError && e.code === 'cancelled');
    assert.ok(performance.now() - started < 5000);
  });

  const outputs: { stdout: string; metrics?: object; message?: RegExp }[] = [
    { stdout: '{"accuracy": 1}\n\n  \n', metrics: { accuracy: 1, examples: 0 } },
    { stdout: 'x\n{"accuracy": 0.5}\ntrailing text', message: /its stdout ends with: trailing text/ },
    { stdout: '', message: /its stdout was empty/ },
    { stdout: '{"loss": "low"}', message: /printed loss = "low"; metrics must be finite numbers/ },
    { stdout: '{"accuracy": 0.5, "examples": 2.5}', message: /examples = 2\.5; it must be a non-negative integer/ },
  ];
  for (const o of outputs) {
    it(`parses ${JSON.stringify(o.stdout)}`, () => {
      if (o.metrics) assert.deepEqual(parseMetricsOutput(o.stdout, 'the evaluator'), o.metrics);
      else assert.throws(() => parseMetricsOutput(o.stdout, 'the evaluator'), o.message!);
    });
  }
});
