// Branch-Train-Merge and domain addition over the project's own language models
// (`npm run examples:train`): each recipe checks clean, and runs of them show what the
// papers report, with no figure typed in: on every in-domain test split the posterior
// ensemble is no worse than the uniform one and the posterior puts most weight on that
// domain's expert; on the held-out domain the posterior-weighted average beats the uniform
// average; adding the four domain vectors gives one model closer to the experts than the
// seed (mean normalized perplexity), and the saved folders exist.
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

if (!existsSync(join(examples, 'models/lm-seed/config.json'))) {
  throw new Error('the example language models are missing: run `npm run examples:train` first (npm run test:examples does)');
}

const out = mkdtempSync(join(tmpdir(), 'tvr-btm-'));
after(() => rmSync(out, { recursive: true, force: true }));

function run(recipe: string): RunResults {
  const lines = execFileSync(tvr, ['run', join(examples, recipe), '--json', '--out', out, '--no-cache'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .trim().split('\n').map((l) => JSON.parse(l) as { type: string; resultsFile?: string });
  const done = lines.find((e) => e.type === 'run-done');
  assert.ok(done?.resultsFile, `${recipe}: a run-done event names the results file`);
  const results = JSON.parse(readFileSync(done.resultsFile, 'utf8')) as RunResults;
  assert.equal(results.status, 'done');
  return results;
}

for (const recipe of ['btm.tvr', 'domain-addition.tvr']) {
  test(`${recipe} checks clean`, () => {
    const result = spawnSync(tvr, ['check', '--json', join(examples, recipe)], { encoding: 'utf8' });
    const diagnostics = JSON.parse(result.stdout) as JsonDiagnostic[];
    assert.deepEqual(diagnostics.filter((d) => d.severity !== 'hint').map((d) => `${d.range.start.line + 1} ${d.code}: ${d.message}`), []);
    assert.equal(result.status, 0);
  });
}

test('btm: posterior ensembles beat uniform ones in every domain, and the posterior-weighted average beats the uniform one on a new domain', () => {
  const results = run('btm.tvr');
  const perplexity = (evaluation: number, model: string, task: string): number =>
    results.evaluations[evaluation]!.chosen.find((c) => c.model === model)!.test[task]!.perplexity!;
  const domains = ['computing', 'scripture', 'satire', 'quotations'];
  domains.forEach((domain, i) => {
    const task = `${domain}_text`;
    const posterior = perplexity(i, `btm_${domain}`, task);
    const uniform = perplexity(i, 'uniform', task);
    assert.ok(posterior <= uniform, `${domain}: posterior ensemble ${posterior} vs uniform ${uniform}`);
    const weights = results.posteriors!.find((p) => p.name === `on_${domain}`)!;
    assert.equal(weights.models[weights.weights.indexOf(Math.max(...weights.weights))], domain, `${domain}: its own expert weighs most (${weights.weights.join(', ')})`);
  });
  const heldOut = results.posteriors!.find((p) => p.name === 'on_jargon')!;
  assert.equal(heldOut.weights.filter((w) => w > 0).length, 2, 'top 2 kept');
  assert.ok(perplexity(4, 'average', 'jargon_text') < perplexity(4, 'uniform_average', 'jargon_text'), 'the posterior-weighted average beats the uniform average on the held-out domain');
  assert.ok(perplexity(4, 'btm_jargon', 'jargon_text') < perplexity(4, 'uniform', 'jargon_text'), 'and the posterior ensemble beats the uniform ensemble');
  assert.ok(existsSync(join(out, 'out/lm-jargon-average/config.json')), 'the average is saved as a model folder');
});

test('domain addition: one model closer to the experts than the seed, over the four domains', () => {
  const results = run('domain-addition.tvr');
  const evaluation = results.evaluations[0]!;
  const together = evaluation.chosen.find((c) => c.model === 'together')!;
  assert.ok(together.point['lam']! > 0, `lam ${together.point['lam']}`);
  const domains = ['computing', 'scripture', 'satire', 'quotations'];
  const reference = (kind: 'base' | 'finetuned', domain: string): number => evaluation.references.find((r) => r.kind === kind && r.task === domain)!.test.perplexity!;
  // Normalized perplexity: the expert's over the model's (1 matches the expert).
  const mean = (perplexity: (domain: string) => number): number => domains.reduce((sum, d) => sum + reference('finetuned', d) / perplexity(d), 0) / domains.length;
  const edited = mean((d) => together.test[d]!.perplexity!);
  const seed = mean((d) => reference('base', d));
  assert.ok(edited > seed, `mean normalized perplexity ${edited} vs the seed's ${seed}`);
  assert.ok(domains.filter((d) => together.test[d]!.perplexity! < reference('base', d)).length >= 2, 'better than the seed on most domains');
  assert.ok(existsSync(join(out, 'out/lm-four-domains/model.safetensors')));
});
