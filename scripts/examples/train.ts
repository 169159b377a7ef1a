// Trains the examples' checkpoints from real data, deterministically:
//
//   1. the evaluation data (prepare-data.ts);
//   2. `examples/models/base`: an MLP encoder pre-trained without labels (an
//      autoencoder) on a mixture of MNIST, Fashion-MNIST and scikit-learn digits;
//   3. per task, `examples/models/<task>`: a class-mean head on the base's features
//      (the "zero-shot" head), then the encoder fine-tuned with that head frozen;
//   4. the language models, `examples/models/lm-*` (text/train-text.ts).
//
// Task vectors are therefore encoder-only, as in the task arithmetic paper; the
// head in each fine-tuned checkpoint is the one the base is evaluated with too.
// Up-to-date checkpoints (same configuration, same data) are kept; --force redoes all.
//
//   node scripts/examples/train.ts [--force] [--models DIR] [--data DIR]
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { modelJsonPath, readNetwork, storedKey, writeNetwork } from './checkpoint-io.ts';
import {
  accuracy, centeredFeatures, centersFor, classMeanHead, HIDDEN_UNITS, initialDense, initialEncoder, pixelMeans,
  shiftBias, toCentered, toPlain, trainCentered, useWasmBackend,
} from './network.ts';
import type { Dense, Network, TrainOptions } from './network.ts';
import { describePrepared, writeEvaluationFiles } from './prepare-data.ts';
import { examplesDir, isMain, repositoryRoot, reportFailure } from './paths.ts';
import { seedFrom } from './random.ts';
import { IMAGE_SIZE } from './sources.ts';
import type { ImageSet } from './sources.ts';
import { buildTasks, loadSources } from './tasks.ts';
import { describeTextTrained, trainTextModels } from './text/train-text.ts';
import { formatTable } from './text/perplexity.ts';
import type { Task } from './tasks.ts';

export interface StageConfig {
  readonly steps: number;
  readonly batchSize: number;
  readonly optimizer: TrainOptions['optimizer'];
  readonly learningRate: number;
  readonly seed: number;
}

export interface TrainingConfig {
  /** Bump to retrain everything after a change of the training code itself. */
  readonly version: number;
  /** Tasks whose training images the base is pre-trained on (no labels used). */
  readonly pretrainSources: readonly string[];
  readonly pretrain: StageConfig & { readonly initSeed: number; readonly decoderSeed: number };
  readonly finetune: StageConfig;
}

/**
 * Everything that shapes the checkpoints; a change here retrains what it affects.
 * Chosen by measurement (docs/examples-data.md): SGD with momentum keeps task vectors
 * closer to orthogonal than Adam, whose updates move every weight.
 */
export const TRAINING: TrainingConfig = {
  version: 1,
  pretrainSources: ['mnist', 'fashion', 'skdigits'],
  pretrain: { steps: 200, batchSize: 128, optimizer: 'adam', learningRate: 1e-3, seed: 101, initSeed: 1, decoderSeed: 2 },
  finetune: { steps: 300, batchSize: 128, optimizer: 'sgd-momentum', learningRate: 0.2, seed: 202 },
};

function sha256(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function fingerprint(set: ImageSet): string {
  return sha256(set.images, new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
}

function concatenate(sets: readonly ImageSet[]): ImageSet {
  const count = sets.reduce((sum, s) => sum + s.count, 0);
  const images = new Uint8Array(count * IMAGE_SIZE);
  const labels = new Int32Array(count);
  let row = 0;
  for (const s of sets) {
    images.set(s.images, row * IMAGE_SIZE);
    labels.set(s.labels, row);
    row += s.count;
  }
  return { count, images, labels };
}

export function pretrainPool(tasks: readonly Task[], config: TrainingConfig): ImageSet {
  return concatenate(config.pretrainSources.map((name) => {
    const task = tasks.find((t) => t.name === name);
    if (!task) throw new Error(`pre-training source task ${name} is missing`);
    return task.train;
  }));
}

/** Identifies a base: the architecture, the pre-training configuration and the images. */
export function baseKey(pool: ImageSet, config: TrainingConfig): string {
  return sha256(JSON.stringify({ hidden: HIDDEN_UNITS, version: config.version, pretrain: config.pretrain }), fingerprint(pool));
}

/** Identifies a fine-tuned model: its base, the fine-tuning configuration, the task and its training split. */
export function taskKey(base: string, task: Task, config: TrainingConfig): string {
  return sha256(JSON.stringify({ base, version: config.version, finetune: config.finetune, task: task.name, classes: task.classes }), fingerprint(task.train));
}

type Bar = { increment(): void };

function trainOptions(stage: StageConfig, seed: number, bar: Bar): TrainOptions {
  return { steps: stage.steps, batchSize: stage.batchSize, optimizer: stage.optimizer, learningRate: stage.learningRate, seed, onStep: () => bar.increment() };
}

/** Pre-trains the encoder as an autoencoder; returns it in plain form. */
async function pretrainBase(pool: ImageSet, config: TrainingConfig, bar: Bar): Promise<Dense[]> {
  const p = config.pretrain;
  // Only the input is centred while pre-training: the activation means exist once the encoder does.
  const centers = [pixelMeans(pool), ...HIDDEN_UNITS.map((u) => new Float32Array(u))];
  const decoder = initialDense(HIDDEN_UNITS[HIDDEN_UNITS.length - 1], IMAGE_SIZE, p.decoderSeed);
  const trained = await trainCentered(pool, initialEncoder(p.initSeed), decoder, centers, { kind: 'reconstruct' }, true, trainOptions(p, p.seed, bar));
  return toPlain(trained.encoder, centers);
}

/** The task's class-mean head and its fine-tuned encoder, in plain form. */
async function fineTune(task: Task, base: readonly Dense[], centers: Float32Array[], config: TrainingConfig, bar: Bar): Promise<Required<Network>> {
  const centered = toCentered(base, centers);
  const features = centeredFeatures(task.train, centered, centers);
  const head = classMeanHead(features, task.train.labels, task.classes.length);
  const seed = seedFrom(task.name, config.finetune.seed);
  const trained = await trainCentered(task.train, centered, head, centers, { kind: 'classify', classes: task.classes.length }, false, trainOptions(config.finetune, seed, bar));
  return { encoder: toPlain(trained.encoder, centers), head: shiftBias(head, centers[centers.length - 1]!, 'to-plain') };
}

export interface TrainedTask {
  readonly task: Task;
  readonly dir: string;
  readonly trained: boolean;
  readonly baseAccuracy: number;
  readonly fineTunedAccuracy: number;
}

export interface TrainResult {
  readonly baseDir: string;
  readonly baseTrained: boolean;
  readonly tasks: readonly TrainedTask[];
}

/** A progress bar on a terminal; elsewhere (CI logs) one line per stage. */
function createProgress(total: number, enabled: boolean): { bar: Bar; stop(): void; stage(name: string, steps: number): void } {
  if (!enabled || total === 0) return { bar: { increment() {} }, stop() {}, stage() {} };
  if (!process.stderr.isTTY) {
    return { bar: { increment() {} }, stop() {}, stage: (name, steps) => process.stderr.write(`training ${name} (${steps} steps)\n`) };
  }
  const bar = new cliProgress.SingleBar({
    format: 'training {stage} [{bar}] {percentage}% | {value}/{total} steps | ETA {eta_formatted}',
    hideCursor: true,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { stage: '' });
  return { bar, stop: () => bar.stop(), stage: (name) => bar.update({ stage: name.padEnd(13) }) };
}

export interface TrainModelsOptions {
  /** Retrain even what is up to date. */
  readonly force?: boolean;
  readonly config?: TrainingConfig;
  /** Show a progress bar on stderr (only drawn on a terminal). Default true. */
  readonly progress?: boolean;
}

/** Trains whatever is missing or stale under `modelsDir`. */
export async function trainModels(tasks: readonly Task[], modelsDir: string, options: TrainModelsOptions = {}): Promise<TrainResult> {
  const config = options.config ?? TRAINING;
  const force = options.force ?? false;
  await useWasmBackend();
  const pool = pretrainPool(tasks, config);
  const baseDir = join(modelsDir, 'base');
  const bKey = baseKey(pool, config);
  const baseTrained = force || storedKey(baseDir) !== bKey;
  const stale = tasks.filter((t) => force || baseTrained || storedKey(join(modelsDir, t.name)) !== taskKey(bKey, t, config));
  const steps = (baseTrained ? config.pretrain.steps : 0) + stale.length * config.finetune.steps;
  const progress = createProgress(steps, options.progress ?? true);
  try {
    let base: Dense[];
    if (baseTrained) {
      progress.stage('base', config.pretrain.steps);
      base = await pretrainBase(pool, config, progress.bar);
      await writeNetwork(baseDir, { encoder: base }, {
        trainKey: bKey, role: 'base', description: `MLP encoder pre-trained as an autoencoder on ${config.pretrainSources.join(', ')} training images`,
      });
    } else {
      base = [...(await readNetwork(baseDir)).encoder];
    }
    // Centres come from the saved base, so a resumed run fine-tunes from the very same numbers.
    const centers = centersFor(base, pool);
    const results: TrainedTask[] = [];
    for (const task of tasks) {
      const dir = join(modelsDir, task.name);
      let network: Required<Network>;
      const trained = stale.includes(task);
      if (trained) {
        progress.stage(task.name, config.finetune.steps);
        network = await fineTune(task, base, centers, config, progress.bar);
        await writeNetwork(dir, network, {
          trainKey: taskKey(bKey, task, config), role: 'fine-tuned', task: task.name, description: task.description, classes: JSON.stringify(task.classes),
        });
      } else {
        network = (await readNetwork(dir)) as Required<Network>;
      }
      results.push({
        task, dir, trained,
        baseAccuracy: accuracy({ encoder: base, head: network.head }, task.validation),
        fineTunedAccuracy: accuracy(network, task.validation),
      });
    }
    return { baseDir, baseTrained, tasks: results };
  } finally {
    progress.stop();
  }
}

function directoryBytes(dir: string): number {
  const json = JSON.parse(readFileSync(modelJsonPath(dir), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const files = ['model.json', ...json.weightsManifest.flatMap((g) => g.paths)];
  return files.reduce((sum, f) => sum + (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0), 0);
}

export function describeTrained(result: TrainResult): string {
  const show = (dir: string) => relative(repositoryRoot, join(dir, 'model.json')).padEnd(40);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`.padStart(6);
  const lines = [
    `  ${show(result.baseDir)} encoder ${[IMAGE_SIZE, ...HIDDEN_UNITS].join('-')}  ${(directoryBytes(result.baseDir) / 1e6).toFixed(1)} MB  ${result.baseTrained ? 'trained' : 'up to date'}`,
    `  ${''.padEnd(40)} validation accuracy: base + head -> fine-tuned`,
  ];
  for (const t of result.tasks) {
    lines.push(`  ${show(t.dir)} ${pct(t.baseAccuracy)} -> ${pct(t.fineTunedAccuracy)}  ${t.trained ? 'trained' : 'up to date'}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      force: { type: 'boolean', default: false },
      models: { type: 'string', default: join(examplesDir, 'models') },
      data: { type: 'string', default: join(examplesDir, 'data') },
    },
  });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const tasks = buildTasks(loadSources());
  const prepared = await writeEvaluationFiles(tasks, values.data!);
  console.log(`Evaluation data (docs/examples-data.md):\n${describePrepared(prepared)}`);
  const result = await trainModels(tasks, values.models!, { force: values.force! });
  console.log(`Checkpoints (TensorFlow.js LayersModels):\n${describeTrained(result)}`);
  const text = await trainTextModels(values.models!, values.data!, { force: values.force! });
  console.log(`Language models (Hugging Face GPT-2 folders):\n${describeTextTrained(text)}`);
  if (text.table) console.log(`Validation perplexity (docs/examples-text.md):\n${formatTable(text.table, text.models)}`);
  const cpu = process.cpuUsage(cpuStart);
  console.log(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s (CPU: ${(cpu.user / 1e6).toFixed(1)} s user, ${(cpu.system / 1e6).toFixed(1)} s system).`);
}

if (isMain(import.meta.url)) main().catch(reportFailure);
