// The example recipes over the project's own checkpoints (`npm run examples:train`):
// every recipe checks clean except the deliberate one, whose diagnostics are exact, and
// negation run end to end through the CLI forgets its target while the control and the
// random-vector baseline stay near the pre-trained model.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { JsonDiagnostic } from '../../server/src/cli/report.ts';
import type { RunResults } from '../../server/src/results/schema.ts';

const root = new URL('../../', import.meta.url).pathname;
const tvr = join(root, 'bin/tvr');
const examples = join(root, 'examples');

if (!existsSync(join(examples, 'models/base/model.json'))) {
  throw new Error('the example checkpoints are missing: run `npm run examples:train` first (npm run test:examples does)');
}

function check(recipe: string): { status: number; diagnostics: JsonDiagnostic[] } {
  const result = spawnSync(tvr, ['check', '--json', join(examples, recipe)], { encoding: 'utf8' });
  return { status: result.status ?? -1, diagnostics: JSON.parse(result.stdout) as JsonDiagnostic[] };
}

for (const recipe of ['negation.tvr', 'addition.tvr', 'analogy.tvr', 'merging.tvr']) {
  test(`${recipe} checks clean`, () => {
    const { status, diagnostics } = check(recipe);
    assert.deepEqual(diagnostics.filter((d) => d.severity !== 'hint').map((d) => `${d.range.start.line + 1} ${d.code}: ${d.message}`), []);
    assert.equal(status, 0);
  });
}

test('mistakes.tvr reports exactly its deliberate mistakes', () => {
  const { status, diagnostics } = check('mistakes.tvr');
  assert.equal(status, 1);
  assert.deepEqual(diagnostics.filter((d) => d.severity !== 'hint').map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.severity} ${d.code}`), [
    '11:8 error model-weight-sum',
    '15:17 error shape-mismatch',
    '18:14 error file-not-found',
    '22:32 error undefined-name',
    '23:32 error type-mismatch',
  ]);
  const messages = diagnostics.map((d) => d.message).join('\n');
  assert.match(messages, /the model weights sum to 2 \('mnist': 1, 'fashion': 1\)/);
  assert.match(messages, /"head\/kernel" is \[256, 4\] F32 here but \[256, 10\] F32/);
  assert.match(messages, /did you mean 'fashion'\?/);
});

const out = mkdtempSync(join(tmpdir(), 'tvr-examples-'));
after(() => rmSync(out, { recursive: true, force: true }));

test('negation forgets MNIST while Fashion and the random baseline stay near the base', () => {
  const lines = execFileSync(tvr, ['run', join(examples, 'negation.tvr'), '--json', '--out', out, '--no-cache'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .trim().split('\n').map((l) => JSON.parse(l) as { type: string; resultsFile?: string });
  const done = lines.find((e) => e.type === 'run-done');
  assert.ok(done?.resultsFile, 'a run-done event names the results file');
  const results = JSON.parse(readFileSync(done.resultsFile, 'utf8')) as RunResults;
  assert.equal(results.status, 'done');
  const [evaluation] = results.evaluations;
  const base = (task: string) => evaluation!.references.find((r) => r.kind === 'base' && r.task === task)!.test.accuracy!;
  const chosen = (model: string) => evaluation!.chosen.find((c) => c.model === model)!;
  const forget = chosen('forget');
  // Thresholds from what the trained models reach: base 78% on digits, 66% on garments.
  assert.ok(forget.point['lam']! >= 0.5, `lam ${forget.point['lam']}`);
  assert.ok(forget.test['digits']!.accuracy! < base('digits') - 0.2, `digits ${forget.test['digits']!.accuracy} vs base ${base('digits')}`);
  assert.ok(forget.test['garments']!.accuracy! > base('garments') - 0.08, `garments ${forget.test['garments']!.accuracy} vs base ${base('garments')}`);
  const random = chosen('random');
  assert.ok(Math.abs(random.test['digits']!.accuracy! - base('digits')) < 0.03, 'a same-norm random direction does not forget');
  assert.ok(existsSync(join(out, 'out/forget-mnist/model.json')), 'the edited model is saved at the chosen lam');
});
