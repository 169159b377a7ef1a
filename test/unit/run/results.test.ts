// The results file contract: validation of what a reader gets, CSV export, the terminal
// table, and atomic writes.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CSV_FIXED_COLUMNS, CSV_VALUE_COLUMNS, resultsToCsv, similarityToCsv } from '../../../server/src/results/csv.ts';
import { readResultsFile, resultsPath, ResultsWriter } from '../../../server/src/results/file.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { renderResults } from '../../../server/src/results/table.ts';
import { parseResults, validateResults } from '../../../server/src/results/validate.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';

const m = (accuracy: number, loss = 0.5) => ({ accuracy, loss, examples: 100, seconds: 0.1 });

const results: RunResults = {
  schemaVersion: 1,
  tvrVersion: '0.1.0',
  recipe: { path: '/w/edit.tvr', sha256: 'ab' },
  startedAt: '2026-11-29T10:00:00.000Z',
  finishedAt: '2026-11-29T10:01:00.000Z',
  status: 'done',
  backend: { name: 'js-workers', reason: 'fastest' },
  evaluationBackend: { name: 'webgpu', reason: 'asked for', adapter: { vendor: 'mesa', architecture: 'software', description: 'llvmpipe' } },
  sweeps: [{ name: 'lam', values: [0, 0.5, 1] }],
  evaluations: [{
    id: 1,
    line: 9,
    models: ['edited'],
    base: 'base',
    objective: 'forget',
    objectiveDescription: 'lowest mean target accuracy keeping every control at >= 95% of the base\'s',
    tasks: [
      { name: 'toxic, "bad" <b>', role: 'target', metric: 'accuracy', higherIsBetter: true, data: '/w/t.safetensors', evaluator: 'builtin' },
      { name: '=HYPERLINK("x")', role: 'control', metric: 'accuracy', higherIsBetter: true, data: '/w/c.safetensors', evaluator: 'builtin' },
    ],
    references: [
      { kind: 'base', model: 'base', task: 'toxic, "bad" <b>', validation: m(0.8), test: m(0.79) },
      { kind: 'base', model: 'base', task: '=HYPERLINK("x")', validation: m(0.9), test: m(0.91) },
      { kind: 'finetuned', model: 'toxic', task: 'toxic, "bad" <b>', validation: m(0.95), test: m(0.96) },
      { kind: 'finetuned', model: 'wiki', task: '=HYPERLINK("x")', validation: m(0.92), test: m(0.93) },
    ],
    points: [0, 0.5, 1].map((lam, i) => ({
      model: 'edited',
      point: { lam },
      split: 'validation' as const,
      metrics: { 'toxic, "bad" <b>': m(0.8 - 0.3 * i), '=HYPERLINK("x")': m(0.9 - 0.01 * i) },
      normalized: { 'toxic, "bad" <b>': (0.8 - 0.3 * i) / 0.95 },
      score: -(0.8 - 0.3 * i),
      admissible: true,
    })),
    chosen: [{
      model: 'edited',
      point: { lam: 1 },
      reason: 'lowest mean target accuracy (0.2) among the 3 of 3 points',
      test: { 'toxic, "bad" <b>': m(0.21), '=HYPERLINK("x")': m(0.89) },
      normalized: { 'toxic, "bad" <b>': 0.21 / 0.96, '=HYPERLINK("x")': 0.89 / 0.93 },
      deltaVsBase: { 'toxic, "bad" <b>': 0.21 - 0.79, '=HYPERLINK("x")': 0.89 - 0.91 },
    }],
  }],
  similarity: { vectors: ['toxic', 'wiki'], cosine: [[1, 0.12], [0.12, 1]], norms: [3.5, 2.25] },
  outputs: [{ path: '/w/out/edited.safetensors', format: 'safetensors', tensors: 4, bytes: 2_500_000, point: { lam: 1 } }],
  notes: ['a note'],
  counts: { evaluated: 12, cached: 0 },
};

describe('results', () => {
  it('validates a well-formed results object (and its JSON round trip)', () => {
    assert.equal(validateResults(results), results);
    assert.deepEqual(parseResults(JSON.stringify(results)), results);
  });

  const broken: { name: string; change: (r: Record<string, unknown>) => void; message: RegExp }[] = [
    { name: 'a newer schema version', change: (r) => { r.schemaVersion = 2; }, message: /schema version 2 is not one this tvr reads \(version 1\)/ },
    { name: 'a missing status', change: (r) => { delete r.status; }, message: /\$\.status: expected one of running, done, failed, cancelled, found nothing/ },
    { name: 'a string metric', change: (r) => { ((r.evaluations as { points: { metrics: Record<string, { accuracy: unknown }> }[] }[])[0]!.points[1]!.metrics['toxic, "bad" <b>']!).accuracy = '0.5'; }, message: /\$\.evaluations\[0\]\.points\[1\]\.metrics\.toxic, "bad" <b>\.accuracy: expected a finite number, found "0\.5"/ },
    { name: 'an unknown objective', change: (r) => { (r.evaluations as Record<string, unknown>[])[0]!.objective = 'best'; }, message: /objective: expected one of forget, add, max/ },
    { name: 'a similarity matrix of the wrong size', change: (r) => { (r.similarity as { norms: number[] }).norms = [1]; }, message: /norms and cosine must be sized by the 2 vectors/ },
    { name: 'no backend', change: (r) => { delete r.backend; }, message: /\$\.backend: expected an object/ },
    { name: 'an adapter without its vendor', change: (r) => { delete (r.evaluationBackend as { adapter: Record<string, unknown> }).adapter.vendor; }, message: /\$\.evaluationBackend\.adapter\.vendor: expected a string, found nothing/ },
  ];
  for (const b of broken) {
    it(`rejects ${b.name}`, () => {
      const copy = JSON.parse(JSON.stringify(results)) as Record<string, unknown>;
      b.change(copy);
      assert.throws(() => validateResults(copy), b.message);
    });
  }

  it('rejects text that is not JSON', () => {
    assert.throws(() => parseResults('{"schemaVersion": 1,'), /not JSON/);
  });

  it('exports CSV: references, points and chosen rows, quoted and formula-safe', () => {
    const csv = resultsToCsv(results);
    const lines = csv.split('\r\n');
    assert.equal(lines[0], [...CSV_FIXED_COLUMNS, 'lam', ...CSV_VALUE_COLUMNS].join(','));
    assert.equal(lines.at(-1), '');
    // 4 references x 2 splits + 3 points x 2 tasks + 1 chosen x 2 tasks.
    assert.equal(lines.length - 2, 8 + 6 + 2);
    assert.ok(lines.some((l) => l.startsWith('1,forget,base,base,"toxic, ""bad"" <b>",target,accuracy,validation,,0.8,0.8,0.5,')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('1,forget,chosen,edited,"\'=HYPERLINK(""x"")",control,accuracy,test,1,0.89,')), lines.join('\n'));
    assert.equal(similarityToCsv(results.similarity!), 'vector,norm,toxic,wiki\r\ntoxic,3.5,1,0.12\r\nwiki,2.25,0.12,1\r\n');
  });

  it('renders a table: test metrics, normalized, change against the base, the chosen point and a sweep line', () => {
    const text = renderResults(results);
    assert.match(text, /Evaluation 1 \(line 9\): forget/);
    assert.match(text, /edited at lam=1: lowest mean target accuracy/);
    const row = text.split('\n').find((l) => l.includes('toxic, "bad" <b>') && l.includes('target'))!;
    assert.match(row, /79\.00%\s+96\.00%\s+21\.00%\s+21\.9%\s+-58\.00pp/);
    assert.match(text, /=HYPERLINK\("x"\)\s+control/);
    assert.match(text, /sweep of edited: 3 points on validation, 3 admissible; chosen lam=1/);
    assert.match(text, /toxic, "bad" <b> █▄\[▁\] accuracy 20\.00%\.\.80\.00%/);
    assert.match(text, /toxic\s+1\.00\s+0\.12\s+3\.500/);
    assert.match(text, /wrote \/w\/out\/edited\.safetensors \(safetensors, 4 tensors, 2\.5 MB\) at lam=1/);
    assert.match(text, /done; 12 evaluations run, 0 from the cache/);
  });

  describe('files', () => {
    const { dir, cleanup } = fixtureDir();
    after(cleanup);

    it('names the file after the recipe, beside it or in the output folder', () => {
      assert.equal(resultsPath('/w/edit.tvr'), '/w/edit.results.json');
      assert.equal(resultsPath('/w/edit.tvr', '/o'), '/o/edit.results.json');
      assert.equal(resultsPath('/w/recipe'), '/w/recipe.results.json');
    });

    it('writes the latest state atomically, leaving no temporary files', async () => {
      const path = join(dir, 'r.results.json');
      const writer = new ResultsWriter(path);
      for (const status of ['running', 'running', 'failed', 'done'] as const) writer.update({ ...results, status });
      await writer.flush();
      assert.equal((await readResultsFile(path)).status, 'done');
      assert.deepEqual(readdirSync(dir), ['r.results.json']);
    });

    it('names the file when it cannot be read or is malformed', async () => {
      await assert.rejects(readResultsFile(join(dir, 'none.json')), /cannot read .*none\.json: no such file/);
      writeFileSync(join(dir, 'bad.json'), '{"schemaVersion": 1}');
      await assert.rejects(readResultsFile(join(dir, 'bad.json')), /bad\.json: \$\.tvrVersion: expected a string/);
    });
  });
});
