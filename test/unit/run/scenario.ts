// A small task-arithmetic workspace on disk: a base MLP and two fine-tuned descendants
// (own encoder changes, own heads) as TensorFlow.js models, a data file per task, and
// recipes over them; plus the expected metrics of every model the run evaluates,
// computed here in float64 from the same weights.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { editEncoder, labelledRows, mlpFixture, randomMlp, referenceMetrics, withEncoder, writeData, writeMlp } from '../evaluation/fixtures.ts';
import type { Mlp, SplitRows } from '../evaluation/fixtures.ts';

export const LAMBDAS = [0, 0.25, 0.5, 0.75, 1];
const INPUTS = 4;
const HIDDEN = 6;
const CLASSES = 3;

export interface Scenario {
  readonly dir: string;
  readonly base: Mlp;
  readonly a: Mlp;
  readonly b: Mlp;
  readonly data: { readonly a: Splits; readonly b: Splits };
}

interface Splits {
  readonly validation: SplitRows;
  readonly test: SplitRows;
}

function finetune(base: Mlp, seed: number): Mlp {
  const delta = randomMlp(seed, INPUTS, HIDDEN, CLASSES, 0.8);
  const head = randomMlp(seed + 100, INPUTS, HIDDEN, CLASSES, 1.5);
  return { ...editEncoder(base, [[1, { ...base, w1: base.w1.map((r, i) => r.map((v, j) => v + delta.w1[i]![j]!)), b1: base.b1.map((v, j) => v + delta.b1[j]!) }]]), w2: head.w2, b2: head.b2 };
}

/** The edited models the recipes evaluate, per lambda. */
export function multiAt(s: Pick<Scenario, 'base' | 'a' | 'b'>, lam: number) {
  return editEncoder(s.base, [[lam, s.a], [lam, s.b]]);
}

export function forgetAt(s: Pick<Scenario, 'base' | 'a' | 'b'>, lam: number) {
  return editEncoder(s.base, [[-lam, s.a]]);
}

export function makeScenario(dir: string): Scenario {
  const base = randomMlp(1, INPUTS, HIDDEN, CLASSES);
  const a = finetune(base, 2);
  const b = finetune(base, 3);
  const models = { base, a, b };
  // Every network the run evaluates on a task: margins keep float32 and float64 predictions equal.
  const networksFor = (head: Mlp): Mlp[] => [
    head,
    withEncoder(head, base),
    ...LAMBDAS.map((lam) => withEncoder(head, multiAt(models, lam))),
    ...LAMBDAS.map((lam) => withEncoder(head, forgetAt(models, lam))),
  ];
  const rows = (seed: number, head: Mlp, count: number) => labelledRows(seed, count, INPUTS, head, networksFor(head), { flipEvery: 7 });
  const data = {
    a: { validation: rows(11, a, 60), test: rows(12, a, 50) },
    b: { validation: rows(13, b, 60), test: rows(14, b, 50) },
  };
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeMlp(join(dir, 'models/base'), base);
  writeMlp(join(dir, 'models/a'), a);
  writeMlp(join(dir, 'models/b'), b);
  writeData(join(dir, 'data/a.safetensors'), data.a);
  writeData(join(dir, 'data/b.safetensors'), data.b);
  return { dir, ...models, data };
}

export const MULTI_RECIPE = `# task addition and negation over a shared encoder with per-task heads
base = load("models/base/model.json", exclude="dense2/*")
a = load("models/a/model.json")
b = load("models/b/model.json")
ta = exclude(a, "dense2/*") - base
tb = exclude(b, "dense2/*") - base
lam = sweep(0, 1, 0.25)
multi = base + lam*(ta + tb)
forget = base - lam*ta
task_a = task("data/a.safetensors", head=a)
task_b = task("data/b.safetensors", head=b)
evaluate(multi, targets=[task_a, task_b], objective="add")
evaluate(forget, targets=[task_a], controls=[task_b], objective="forget")
save(multi, "out/multi")
`;

export function writeRecipe(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

type Split = 'validation' | 'test';

/** Expected metrics of `encoder` completed by a task's head, on that task's split. */
export function expectedMetrics(s: Scenario, task: 'a' | 'b', split: Split, encoder: Pick<Mlp, 'w1' | 'b1'>) {
  const head = task === 'a' ? s.a : s.b;
  const rows = s.data[task][split];
  return referenceMetrics(withEncoder(head, encoder), rows.x, rows.y);
}

/** The lambda the `add` objective should choose: highest mean normalized validation accuracy, ties to the smallest. */
export function expectedAddChoice(s: Scenario): number {
  const ft = { a: expectedMetrics(s, 'a', 'validation', s.a).accuracy, b: expectedMetrics(s, 'b', 'validation', s.b).accuracy };
  let best = LAMBDAS[0]!;
  let bestScore = -Infinity;
  for (const lam of LAMBDAS) {
    const e = multiAt(s, lam);
    const score = (expectedMetrics(s, 'a', 'validation', e).accuracy / ft.a + expectedMetrics(s, 'b', 'validation', e).accuracy / ft.b) / 2;
    if (score > bestScore + 1e-12) { best = lam; bestScore = score; }
  }
  return best;
}

/** The lambda `forget` should choose: lowest task-a accuracy among points keeping task-b >= 95% of the base's. */
export function expectedForgetChoice(s: Scenario): { lam: number; admissible: number } {
  const baseB = expectedMetrics(s, 'b', 'validation', s.base).accuracy;
  const admissible = LAMBDAS.filter((lam) => expectedMetrics(s, 'b', 'validation', forgetAt(s, lam)).accuracy >= 0.95 * baseB);
  let best = admissible[0]!;
  for (const lam of admissible) if (expectedMetrics(s, 'a', 'validation', forgetAt(s, lam)).accuracy < expectedMetrics(s, 'a', 'validation', forgetAt(s, best)).accuracy) best = lam;
  return { lam: best, admissible: admissible.length };
}

/** The same models as safetensors files (for external evaluator recipes, which need no tfjs). */
export function writeSafetensorsModels(s: Scenario): void {
  mkdirSync(join(s.dir, 'st'), { recursive: true });
  for (const [name, m] of [['base', s.base], ['a', s.a], ['b', s.b]] as const) writeSafetensors(join(s.dir, `st/${name}.safetensors`), mlpFixture(m));
}
