// Classifier text tasks end to end: two tiny BERT sequence-classifier folders and a
// labelled JSON Lines file (some examples with a text_pair), a recipe checked and run in
// process, accuracy and loss for the base and the edited model at every sweep point
// compared with the numpy reference (bert_reference.py) on folders holding the same
// weights, the saved folder read back by the reference; and the checker's and planner's
// reports on classifier data: labels outside the head's classes, examples without labels,
// perplexity asked of a classifier.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { TextClassifier } from '../../../server/src/engine/evaluation/text-classifier.ts';
import type { ClassifierExample } from '../../../server/src/engine/evaluation/text-classifier.ts';
import { loadTextModel } from '../../../server/src/engine/evaluation/text-models.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { planEvaluations } from '../../../server/src/run/plan.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir, perturbModel } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { writeClassifierFolder } from '../evaluation/bert-fixtures.ts';
import { writeGpt2Folder } from '../evaluation/gpt2-fixtures.ts';
import { writeRecipe } from './scenario.ts';

const REFERENCE = fileURLToPath(new URL('../evaluation/bert_reference.py', import.meta.url));

const RECIPE = `base   = load("bert-base")
ft     = load("bert-ft")
lam    = sweep(0, 1, 0.5)
edited = base + lam*(ft - base)
sst    = task("data/sst.jsonl", metric="accuracy")
evaluate(edited, targets=[sst], objective="max")
save(edited, "out/edited")
`;

const EXAMPLES = [
  { text: 'the film was very good', label: 1, split: 'validation' },
  { text: 'bad', label: 0, split: 'validation' },
  { text: 'the cat sat on the mat', text_pair: 'a cat sat', label: 1, split: 'validation' },
  { text: 'it was not good', label: 0, split: 'validation' },
  { text: 'a dog and a cat', text_pair: 'the dog is bad', label: 0, split: 'validation' },
  { text: 'very good film', label: 1, split: 'test' },
  { text: 'not a good dog', text_pair: 'bad', label: 0, split: 'test' },
  { text: 'the mat', label: 1, split: 'test' },
];

function jsonl(lines: readonly object[]): string {
  return `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
}

/** Loss and accuracy of a folder's classifier on encoded examples, by the numpy reference (tokenization is the library's, so ids are passed). */
function reference(folder: string, examples: readonly ClassifierExample[]): { loss: number; accuracy: number } {
  const request = { examples: examples.map((e) => ({ ids: [...e.ids], type_ids: [...e.typeIds] })), labels: examples.map((e) => e.label) };
  return JSON.parse(execFileSync('python3', [REFERENCE, folder], { input: JSON.stringify(request), encoding: 'utf8' })) as { loss: number; accuracy: number };
}

function interpolate(a: FixtureModel, b: FixtureModel, lam: number): FixtureModel {
  return { tensors: a.tensors.map((t, i) => ({ ...t, values: t.values.map((v, j) => Math.fround(v + lam * (b.tensors[i]!.values[j]! - v))) })) };
}

describe('classifier text task recipe: BERT folders and labelled JSON Lines, run end to end', () => {
  const { dir, cleanup } = fixtureDir();
  let results: RunResults;
  let base: FixtureModel;
  let ft: FixtureModel;
  before(async () => {
    base = writeClassifierFolder(join(dir, 'bert-base'), 'bert', { seed: 41, labels: 2 }).model;
    ft = writeClassifierFolder(join(dir, 'bert-ft'), 'bert', { seed: 0, labels: 2, model: perturbModel(base, { seed: 42, scale: 0.3 }) }).model;
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'sst.jsonl'), jsonl(EXAMPLES));
    const recipe = writeRecipe(dir, 'sst.tvr', RECIPE);
    const analysis = await analyzeFile(RECIPE, recipe, new HeaderCache());
    assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
    results = (await runRecipe({ recipe })).results;
  });
  after(cleanup);

  /** The split's examples as the evaluator encodes them. */
  async function encoded(split: string): Promise<ClassifierExample[]> {
    const model = await loadTextModel(await tfRuntimeFor('js'), join(dir, 'bert-base'), 'test');
    assert.ok(model instanceof TextClassifier);
    const lines = EXAMPLES.map((e, i) => ({ text: e.text, ...(e.text_pair ? { textPair: e.text_pair } : {}), label: e.label, split: e.split, line: i + 1 }));
    return model.tokenize(lines.filter((e) => e.split === split), 'sst.jsonl');
  }

  function assertClose(actual: { accuracy?: number; loss?: number }, expected: { accuracy: number; loss: number }, what: string): void {
    assert.equal(actual.accuracy, expected.accuracy, `${what}: accuracy`);
    assert.ok(Math.abs(actual.loss! - expected.loss) < 1e-4 * expected.loss, `${what}: loss ${actual.loss} vs ${expected.loss}`);
  }

  it('reports accuracy and loss for the base (validation and test) as the numpy reference computes them', async () => {
    const e = results.evaluations[0]!;
    assert.equal(e.base, 'base');
    const measured = e.references.find((r) => r.kind === 'base')!;
    for (const split of ['validation', 'test'] as const) {
      assertClose(measured[split], reference(join(dir, 'bert-base'), await encoded(split)), split);
      assert.equal(measured[split].examples, EXAMPLES.filter((x) => x.split === split).length);
      assert.equal(measured[split].perplexity, undefined, 'no perplexity for a classifier');
    }
  });

  it('reports accuracy and loss for the edited model at every sweep point', async () => {
    const e = results.evaluations[0]!;
    const points = e.points.filter((p) => p.model === 'edited');
    assert.deepEqual(points.map((p) => p.point['lam']).sort(), [0, 0.5, 1]);
    const examples = await encoded('validation');
    for (const p of points) {
      const lam = p.point['lam']!;
      const folder = join(dir, `edited-${lam}`);
      writeClassifierFolder(folder, 'bert', { seed: 0, labels: 2, model: interpolate(base, ft, lam) });
      assertClose(p.metrics['sst']!, reference(folder, examples), `lam ${lam}`);
    }
    // The sweep moves the model: not every point scores alike.
    assert.ok(new Set(points.map((p) => p.metrics['sst']!.loss)).size > 1);
  });

  it('saves a complete classifier folder: the reference reads it and scores it as the chosen point', async () => {
    const e = results.evaluations[0]!;
    const chosen = e.chosen[0]!;
    const out = join(dir, 'out', 'edited');
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'README.md']) assert.ok(existsSync(join(out, file)), file);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config['architectures'], ['BertForSequenceClassification']);
    assert.deepEqual(config['id2label'], { 0: 'LABEL_0', 1: 'LABEL_1' });
    assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), readFileSync(join(dir, 'bert-base', 'tokenizer.json'), 'utf8'));
    const point = e.points.find((p) => p.model === 'edited' && p.point['lam'] === chosen.point['lam'])!;
    assertClose(point.metrics['sst']!, reference(out, await encoded('validation')), 'saved folder');
    assertClose(chosen.test['sst']!, reference(out, await encoded('test')), 'saved folder, test split');
  });
});

describe('classifier text data checks', () => {
  const { dir, cleanup } = fixtureDir();
  before(() => {
    const base = writeClassifierFolder(join(dir, 'bert-base'), 'bert', { seed: 41, labels: 2 }).model;
    writeClassifierFolder(join(dir, 'bert-ft'), 'bert', { seed: 0, labels: 2, model: perturbModel(base, { seed: 42, scale: 0.3 }) });
    writeGpt2Folder(join(dir, 'gpt2-base'), { seed: 21 });
    writeGpt2Folder(join(dir, 'gpt2-sci'), { seed: 22 });
    mkdirSync(join(dir, 'data'));
  });
  after(cleanup);

  async function errors(lines: readonly object[], recipe = RECIPE): Promise<{ code: string; message: string; line: number }[]> {
    writeFileSync(join(dir, 'data', 'sst.jsonl'), jsonl(lines));
    const analysis = await analyzeFile(recipe, writeRecipe(dir, 'sst.tvr', recipe), new HeaderCache());
    return analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => ({ code: d.code, message: d.message, line: analysis.lines.position(d.span.start).line + 1 }));
  }

  it('label-out-of-range: a label outside the head\'s classes, naming the line and the class count', async () => {
    const lines = [...EXAMPLES.slice(0, 2), { text: 'the cat', label: 2, split: 'validation' }, ...EXAMPLES.slice(5)];
    assert.deepEqual(await errors(lines), [{
      code: 'label-out-of-range',
      line: 6,
      message: "task 'sst': data/sst.jsonl line 3 has label 2, outside the 2 classes of the head of 'edited' (config.json id2label or num_labels): labels are 0 to 1",
    }]);
  });

  it('missing-evaluation-data: classifier data without labels, naming the first line', async () => {
    const unlabelled = EXAMPLES.map(({ text, split }) => ({ text, split }));
    assert.deepEqual((await errors(unlabelled)).map((e) => [e.code, e.message]), [
      ['missing-evaluation-data', 'task \'sst\': in data/sst.jsonl, no line has a "label", but \'edited\' is a sequence classifier (BertForSequenceClassification): each example needs its class, {"text": "...", "label": 0, "split": "validation"}'],
    ]);
    const some = [EXAMPLES[0]!, { text: 'a', split: 'validation' }, { text: 'b', split: 'test' }, { text: 'c', split: 'test' }, EXAMPLES[5]!];
    assert.match((await errors(some))[0]!.message, /in data\/sst\.jsonl, line 2 has no "label" \(and 2 more lines lack one\), but 'edited' is a sequence classifier/);
  });

  it('perplexity asked of a classifier: reported by the checker and refused by the plan', async () => {
    const recipe = RECIPE.replace('metric="accuracy"', 'metric="perplexity"');
    assert.deepEqual((await errors(EXAMPLES, recipe)).map((e) => [e.code, e.message]), [
      ['invalid-value', 'task \'sst\' asks for perplexity, but \'edited\' is a sequence classifier (BertForSequenceClassification): perplexity scores a language model\'s next tokens; use metric="accuracy" or "loss"'],
    ]);
    const analysis = await analyzeFile(recipe, writeRecipe(dir, 'sst.tvr', recipe), new HeaderCache());
    assert.throws(() => planEvaluations(analysis.checked.program, { untrusted: false }),
      /line 5: task 'sst' asks for perplexity, but model base \(.*config\.json\) is a BERT sequence classifier: perplexity scores a language model's next tokens; use metric="accuracy" or "loss"/);
  });

  it('a clean classifier recipe and a causal LM on labelled data check clean', async () => {
    assert.deepEqual(await errors(EXAMPLES), []);
    const causal = RECIPE.replaceAll('bert-base', 'gpt2-base').replaceAll('bert-ft', 'gpt2-sci');
    assert.deepEqual(await errors(EXAMPLES, causal), []);
  });
});
