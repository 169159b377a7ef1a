// An example recipe evaluated three ways gives one results file's content: one evaluation at
// a time, `--jobs 4`, and `--executor slurm --jobs 4` on the single-node Slurm cluster
// (scripts/setup-slurm.sh; under CI=true a missing cluster fails, elsewhere that part is
// skipped loudly). Only timings, notes and where evaluations ran may differ.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RunResults } from '../../server/src/results/schema.ts';
import { comparableResults } from '../helpers/run-results.ts';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { slurmForTests } from '../helpers/slurm.ts';

const root = new URL('../../', import.meta.url).pathname;
const tvr = join(root, 'bin/tvr');
const recipe = join(root, 'examples/analogy.tvr');
if (!existsSync(join(root, 'examples/models/base/model.json'))) {
  throw new Error('the example checkpoints are missing: run `npm run examples:train` first (npm run test:examples does)');
}

const slurm = await slurmForTests('examples on Slurm');
const out = mkdtempSync(join(tmpdir(), 'tvr-parallel-'));
const shared = fixtureDir();
after(() => { rmSync(out, { recursive: true, force: true }); shared.cleanup(); });

function run(name: string, ...options: string[]): unknown {
  execFileSync(tvr, ['run', recipe, '--no-cache', '--out', join(out, name), ...options], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const results = JSON.parse(readFileSync(join(out, name, 'analogy.results.json'), 'utf8')) as RunResults;
  assert.equal(results.status, 'done');
  return comparableResults(results, 'evaluationBackend');
}

const serial = run('serial');

test('examples/analogy.tvr with --jobs 4: the serial run\'s results', () => {
  assert.deepEqual(run('jobs', '--jobs', '4'), serial);
});

test('examples/analogy.tvr as Slurm jobs, 4 at once: the serial run\'s results', { skip: slurm.skip }, () => {
  if (slurm.reason) assert.fail(`CI needs a Slurm cluster (scripts/setup-slurm.sh): ${slurm.reason}`);
  assert.deepEqual(run('slurm', '--jobs', '4', '--executor', 'slurm', '--shared-dir', shared.dir), serial);
});
