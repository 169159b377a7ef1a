// A quick, independent check that task arithmetic works on the trained examples,
// for whoever retrains them: it reads examples/models and examples/data, edits the
// encoders in plain Float32Arrays and prints negation, addition and analogy tables
// with the coefficient chosen on validation and accuracies on test. The README's
// numbers come from `tvr run` on the example recipes; this script exists to tune
// training without the engine, and to cross-check it.
//
//   node scripts/examples/sanity.ts [--models DIR] [--data DIR]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readEvaluationSplit, readNetwork } from './checkpoint-io.ts';
import { accuracy, useWasmBackend } from './network.ts';
import type { Dense, Network } from './network.ts';
import { examplesDir, isMain, reportFailure } from './paths.ts';
import type { ImageSet } from './sources.ts';
import { TASK_NAMES } from './tasks.ts';
import type { TaskName } from './tasks.ts';

type Split = 'validation' | 'test';
type Encoder = readonly Dense[];

/** The paper's grid: 0 to 1 in steps of 0.05. */
export const LAMBDAS = Array.from({ length: 21 }, (_, i) => i / 20);

/** Controls for a negation target: the classification tasks of the other image domain. */
export const NEGATION_CONTROLS: Readonly<Record<string, readonly TaskName[]>> = {
  mnist: ['fashion'],
  skdigits: ['fashion'],
  fashion: ['mnist', 'skdigits'],
};

const CLASSIFICATION_TASKS: readonly TaskName[] = ['mnist', 'fashion', 'skdigits', 'mnist_parity', 'fashion_group'];

/** base + sum(c_i * (encoder_i - base)), layer by layer. */
export function combine(base: Encoder, terms: readonly (readonly [number, Encoder])[]): Dense[] {
  return base.map((layer, l) => {
    const kernel = Float32Array.from(layer.kernel);
    const bias = Float32Array.from(layer.bias);
    for (const [c, encoder] of terms) {
      const other = encoder[l]!;
      for (let i = 0; i < kernel.length; i++) kernel[i]! += c * (other.kernel[i]! - layer.kernel[i]!);
      for (let i = 0; i < bias.length; i++) bias[i]! += c * (other.bias[i]! - layer.bias[i]!);
    }
    return { ...layer, kernel, bias };
  });
}

interface Loaded {
  readonly base: Encoder;
  readonly finetuned: ReadonlyMap<string, Required<Network>>;
  readonly data: ReadonlyMap<string, Record<Split, ImageSet>>;
}

async function load(models: string, dataDir: string): Promise<Loaded> {
  const base = (await readNetwork(join(models, 'base'))).encoder;
  const finetuned = new Map<string, Required<Network>>();
  const data = new Map<string, Record<Split, ImageSet>>();
  for (const name of TASK_NAMES) {
    finetuned.set(name, (await readNetwork(join(models, name))) as Required<Network>);
    const file = join(dataDir, `${name}.safetensors`);
    data.set(name, { validation: await readEvaluationSplit(file, 'validation'), test: await readEvaluationSplit(file, 'test') });
  }
  return { base, finetuned, data };
}

const pct = (v: number) => (v * 100).toFixed(1).padStart(5);

/** Prints the tables for the checkpoints in `modelsDir` and the data in `dataDir`. */
export async function printSanityReport(modelsDir: string, dataDir: string): Promise<void> {
  await useWasmBackend();
  const { base, finetuned, data } = await load(modelsDir, dataDir);
  const ft = (name: string) => finetuned.get(name)!;
  /** Accuracy of `encoder` with `headOf`'s head on `dataOf`'s split. */
  const score = (encoder: Encoder, dataOf: string, split: Split, headOf = dataOf) =>
    accuracy({ encoder, head: ft(headOf).head }, data.get(dataOf)![split]);
  const reference = new Map(TASK_NAMES.map((name) => [name, {
    base: { validation: score(base, name, 'validation'), test: score(base, name, 'test') },
    finetuned: { validation: score(ft(name).encoder, name, 'validation'), test: score(ft(name).encoder, name, 'test') },
  }]));
  const ref = (name: string) => reference.get(name as TaskName)!;

  console.log('Accuracy (test), base encoder + task head -> fine-tuned:');
  for (const name of TASK_NAMES) console.log(`  ${name.padEnd(14)} ${pct(ref(name).base.test)} -> ${pct(ref(name).finetuned.test)}`);

  console.log('\nNegation: base - lambda * (task - base); lambda: lowest target accuracy with every control >= 95% of base (validation); test accuracy:');
  for (const [target, controls] of Object.entries(NEGATION_CONTROLS)) {
    let chosen: number | undefined;
    let lowest = Infinity;
    for (const lambda of LAMBDAS) {
      const edited = combine(base, [[-lambda, ft(target).encoder]]);
      const keeps = controls.every((c) => score(edited, c, 'validation') >= 0.95 * ref(c).base.validation);
      const acc = score(edited, target, 'validation');
      if (keeps && acc < lowest) [chosen, lowest] = [lambda, acc];
    }
    const edited = combine(base, [[-chosen!, ft(target).encoder]]);
    const parts = [target, ...controls].map((name) => `${name} ${pct(score(edited, name, 'test'))} (base ${pct(ref(name).base.test)})`);
    console.log(`  forget ${target.padEnd(9)} lambda ${chosen!.toFixed(2)}: ${parts.join(', ')}`);
  }

  console.log('\nAddition: base + lambda * sum(task - base); lambda: best mean normalized accuracy (validation); test accuracy / normalized:');
  for (const tasks of [TASK_NAMES, CLASSIFICATION_TASKS]) {
    const normalized = (encoder: Encoder, split: Split) =>
      tasks.reduce((sum, name) => sum + score(encoder, name, split) / ref(name).finetuned[split], 0) / tasks.length;
    let best = { lambda: 0, value: -Infinity };
    for (const lambda of LAMBDAS) {
      const value = normalized(combine(base, tasks.map((name) => [lambda, ft(name).encoder] as const)), 'validation');
      if (value > best.value) best = { lambda, value };
    }
    const edited = combine(base, tasks.map((name) => [best.lambda, ft(name).encoder] as const));
    const baseNormalized = tasks.reduce((sum, name) => sum + ref(name).base.test / ref(name).finetuned.test, 0) / tasks.length;
    console.log(`  ${tasks.length} tasks, lambda ${best.lambda.toFixed(2)}: mean normalized ${pct(normalized(edited, 'test'))}% (base ${pct(baseNormalized)}%)`);
    console.log(`    ${tasks.map((name) => `${name} ${pct(score(edited, name, 'test'))}`).join(', ')}`);
  }

  console.log('\nAnalogy: scikit-learn digits classified with the MNIST head, no scikit-learn labels used (test accuracy):');
  const analogy = (lambda: number) => combine(base, [[lambda, ft('mnist').encoder], [lambda, ft('rot_sk').encoder], [-lambda, ft('rot_mnist').encoder]]);
  const mnistOnly = (lambda: number) => combine(base, [[lambda, ft('mnist').encoder]]);
  const bestOn = (make: (lambda: number) => Encoder) => LAMBDAS.reduce((best, lambda) => {
    const value = score(make(lambda), 'skdigits', 'validation', 'mnist');
    return value > best.value ? { lambda, value } : best;
  }, { lambda: 0, value: -Infinity }).lambda;
  const rows: [string, Encoder][] = [
    ['base', base],
    ['base + (mnist - base) = the MNIST model', mnistOnly(1)],
    ['mnist + (rot_sk - rot_mnist), lambda 1', analogy(1)],
  ];
  const a = bestOn(analogy);
  const m = bestOn(mnistOnly);
  rows.push([`lambda * (mnist + rot_sk - rot_mnist), lambda ${a.toFixed(2)} (chosen on sk validation)`, analogy(a)]);
  rows.push([`lambda * mnist, lambda ${m.toFixed(2)} (chosen on sk validation)`, mnistOnly(m)]);
  for (const [label, encoder] of rows) console.log(`  ${pct(score(encoder, 'skdigits', 'test', 'mnist'))}  ${label}`);
  console.log(`  ${pct(ref('skdigits').finetuned.test)}  (upper bound: fine-tuned on scikit-learn digits with their labels, own head)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { models: { type: 'string', default: join(examplesDir, 'models') }, data: { type: 'string', default: join(examplesDir, 'data') } },
  });
  await printSanityReport(values.models!, values.data!);
}

if (isMain(import.meta.url)) main().catch(reportFailure);
