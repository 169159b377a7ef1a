// The language-model examples over the project's own GPT-2 folders (`npm run examples:train`):
// each domain expert beats the seed and every other expert on its own domain; domains.tvr
// checks clean, and run end to end through the CLI its computing vector lowers computing
// perplexity, its negated scripture vector raises scripture perplexity while the controls
// stay within the forget objective's bound, and same-norm random directions do neither.
// Thresholds come from the trained models' measured perplexities (docs/examples-text.md).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { JsonDiagnostic } from '../../server/src/cli/report.ts';
import type { RunResults } from '../../server/src/results/schema.ts';
import type { MaterializedTensor } from '../../server/src/engine/materialize.ts';
import { CausalLm } from '../../server/src/engine/evaluation/text-lm.ts';
import { loadTextModel } from '../../server/src/engine/evaluation/text-models.ts';
import { tfRuntimeFor } from '../../server/src/engine/evaluation/tfjs-runtime.ts';
import { useWasmBackend } from '../../scripts/examples/network.ts';
import { DOMAINS } from '../../scripts/examples/text/corpora.ts';
import { trainGpt2 } from '../../scripts/examples/text/gpt2-train.ts';
import { readGpt2Tensors } from '../../scripts/examples/text/hf-folder.ts';
import { perplexityTable } from '../../scripts/examples/text/perplexity.ts';
import { expertName, SEED_MODEL, TEXT_TRAINING, textDataPath } from '../../scripts/examples/text/train-text.ts';

const root = new URL('../../', import.meta.url).pathname;
const tvr = join(root, 'bin/tvr');
const examples = join(root, 'examples');
const models = join(examples, 'models');

if (!existsSync(join(models, SEED_MODEL, 'model.safetensors'))) {
  throw new Error('the example language models are missing: run `npm run examples:train` first (npm run test:examples does)');
}

test("the training forward pass computes the evaluator's loss: the saved layout is the one tvr reads", async () => {
  const dir = join(models, SEED_MODEL);
  const tensors = await readGpt2Tensors(dir);
  const shape = { ...TEXT_TRAINING.model, vocab: TEXT_TRAINING.vocabSize };
  const runtime = await tfRuntimeFor('tfjs-wasm');
  const lm = await loadTextModel(runtime, dir, SEED_MODEL);
  assert.ok(lm instanceof CausalLm);
  const [document] = lm.tokenize([{ text: 'In the beginning God created the heaven and the earth. A compiler translates a program into machine code, and hackers call a clever one a hack.', line: 1 }], 'inline');
  const rows = 2;
  const ids = new Int32Array(rows * shape.positions).map((_, i) => document![i % document!.length]!);
  await useWasmBackend();
  let trainingLoss: number | undefined;
  // One step at rate 0: the loss of the unchanged weights, as training computes it.
  trainGpt2(new Map(tensors.map((t) => [t.name, t.values])), shape, () => ids, {
    steps: 1, batchSize: rows, learningRate: 0, warmupSteps: 1, onStep: (_, loss) => { trainingLoss = loss; },
  });
  const weights = new Map<string, MaterializedTensor>(tensors.map((t) => [t.name, { ...t, dtype: 'F32' }]));
  const documents = [0, 1].map((r) => ids.subarray(r * shape.positions, (r + 1) * shape.positions));
  const evaluated = await lm.evaluate(weights, documents);
  assert.ok(Math.abs(trainingLoss! - evaluated.loss!) < 1e-4, `training ${trainingLoss} vs evaluator ${evaluated.loss}`);
});

test('each domain expert has the lowest validation perplexity on its own domain, well below the seed', async () => {
  const lms = [
    { name: SEED_MODEL, dir: join(models, SEED_MODEL), trained: false },
    ...DOMAINS.map((d) => ({ name: expertName(d.name), dir: join(models, expertName(d.name)), domain: d.name, trained: false })),
  ];
  const table = await perplexityTable(lms, DOMAINS.map((d) => ({ domain: d.name, path: textDataPath(join(examples, 'data'), d.name) })));
  for (const d of DOMAINS) {
    const own = table.get(expertName(d.name))!.get(d.name)!;
    const seed = table.get(SEED_MODEL)!.get(d.name)!;
    // Measured gains over the seed: 8% (quotations) to 26% (scripture).
    assert.ok(own < 0.97 * seed, `${d.name}: expert ${own.toFixed(1)} vs seed ${seed.toFixed(1)}`);
    for (const other of DOMAINS.filter((o) => o !== d)) {
      const theirs = table.get(expertName(other.name))!.get(d.name)!;
      assert.ok(own < theirs, `${d.name}: its expert ${own.toFixed(1)} vs ${expertName(other.name)} ${theirs.toFixed(1)}`);
    }
  }
});

test('domains.tvr checks clean', () => {
  const result = spawnSync(tvr, ['check', '--json', join(examples, 'domains.tvr')], { encoding: 'utf8' });
  const diagnostics = JSON.parse(result.stdout) as JsonDiagnostic[];
  assert.deepEqual(diagnostics.filter((d) => d.severity !== 'hint').map((d) => `${d.range.start.line + 1} ${d.code}: ${d.message}`), []);
  assert.equal(result.status, 0);
});

const out = mkdtempSync(join(tmpdir(), 'tvr-text-examples-'));
after(() => rmSync(out, { recursive: true, force: true }));

test('domains.tvr: the computing vector lowers computing perplexity, the negated scripture vector raises scripture perplexity, random directions do neither', () => {
  const lines = execFileSync(tvr, ['run', join(examples, 'domains.tvr'), '--json', '--out', out, '--no-cache'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .trim().split('\n').map((l) => JSON.parse(l) as { type: string; resultsFile?: string });
  const done = lines.find((e) => e.type === 'run-done');
  assert.ok(done?.resultsFile, 'a run-done event names the results file');
  const results = JSON.parse(readFileSync(done.resultsFile, 'utf8')) as RunResults;
  assert.equal(results.status, 'done');
  const [adding, negating] = results.evaluations;
  const perplexity = (evaluation: typeof adding, model: string, task: string): number => evaluation!.chosen.find((c) => c.model === model)!.test[task]!.perplexity!;
  const base = (evaluation: typeof adding, task: string): number => evaluation!.references.find((r) => r.kind === 'base' && r.task === task)!.test.perplexity!;

  // Adding: measured 272 -> 211 on the test split (a = 1).
  const added = adding!.chosen.find((c) => c.model === 'added')!;
  assert.ok(added.point['a']! >= 0.5, `a ${added.point['a']}`);
  assert.ok(perplexity(adding, 'added', 't_computing') < 0.85 * base(adding, 't_computing'), 'adding the computing vector lowers computing perplexity');
  assert.ok(perplexity(adding, 'added_random', 't_computing') >= 0.99 * base(adding, 't_computing'), 'a same-norm random direction does not');

  // Negating: measured 188 -> 222 on scripture (b = 0.3); controls chosen at <= 1/0.95 of the seed on validation.
  const negated = negating!.chosen.find((c) => c.model === 'negated')!;
  assert.ok(negated.point['b']! > 0, `b ${negated.point['b']}`);
  assert.ok(perplexity(negating, 'negated', 't_scripture') > 1.1 * base(negating, 't_scripture'), 'negating the scripture vector raises scripture perplexity');
  for (const control of ['t_jargon', 't_satire', 't_quotations']) {
    // The bound holds on validation; the test split gets a little slack (measured at most 1.045).
    assert.ok(perplexity(negating, 'negated', control) < 1.08 * base(negating, control), `${control} stays near the seed`);
  }
  assert.ok(perplexity(negating, 'negated_random', 't_scripture') < 1.03 * base(negating, 't_scripture'), 'a same-norm random direction barely moves scripture');
  assert.ok(existsSync(join(out, 'out/lm-edited/model.safetensors')) && existsSync(join(out, 'out/lm-edited/tokenizer.json')), 'the edited model is saved as a folder at the chosen a and b');
});
