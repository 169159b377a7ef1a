// Trains the language-model examples from real text, deterministically and offline:
//
//   1. the domain corpora (corpora.ts) and their evaluation files,
//      `examples/data/text/<domain>.jsonl` (validation and test documents);
//   2. a byte-level BPE tokenizer learnt from a sample of every domain's training text;
//   3. `examples/models/lm-seed`: a small GPT-2 pre-trained on the mixture of all domains;
//   4. per domain, `examples/models/lm-<domain>`: the seed's pre-training continued on
//      that domain alone (domain-adaptive pre-training, as in "Don't Stop Pretraining"),
//      the experts of Branch-Train-Merge.
//
// Then every model's validation perplexity on every domain, written to
// docs/examples-text.md. Up-to-date models (same configuration, same text) are kept.
// `npm run examples:train` (scripts/examples/train.ts) runs it after the image models.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TEXT_SPLITS } from '../../../server/src/checkpoints/text-data.ts';
import { useWasmBackend } from '../network.ts';
import { repositoryRoot } from '../paths.ts';
import { createRng, seedFrom } from '../random.ts';
import type { Rng } from '../random.ts';
import { DOMAINS, loadCorpus, takeCharacters } from './corpora.ts';
import type { Corpus } from './corpora.ts';
import { initialGpt2, trainGpt2 } from './gpt2-train.ts';
import type { BatchSource, Gpt2Shape, Gpt2Weights } from './gpt2-train.ts';
import { readGpt2Weights, readTokenizerJson, storedTrainKey, writeGpt2Folder } from './hf-folder.ts';
import { perplexityTable, writePerplexityReport } from './perplexity.ts';
import type { PerplexityTable } from './perplexity.ts';
import { createTextProgress } from './progress.ts';
import type { TextProgress } from './progress.ts';
import { encodeAll, trainTokenizer } from './tokenizer.ts';

export interface TextStage {
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly warmupSteps: number;
  readonly seed: number;
}

export interface TextTrainingConfig {
  /** Bump to retrain everything after a change of the training code itself. */
  readonly version: number;
  readonly model: Omit<Gpt2Shape, 'vocab'>;
  /** Token ids: 256 bytes, the merges, `<|endoftext|>`. */
  readonly vocabSize: number;
  /** Training text per domain the tokenizer learns its merges from. */
  readonly tokenizerCharacters: number;
  /** Training text per domain the models see (the first documents in hash order). */
  readonly trainCharacters: number;
  /** Evaluation text per domain and split, so a recipe's sweep evaluates in seconds. */
  readonly evaluationCharacters: number;
  readonly initSeed: number;
  /** Pre-training on the mixture: every sequence from a domain drawn uniformly. */
  readonly pretrain: TextStage;
  /** Continued pre-training of the seed on one domain. */
  readonly adapt: TextStage;
}

/**
 * Everything that shapes the models; a change retrains what it affects. Sized for about
 * three minutes on two CPU cores (the wasm backend runs one thread). Measured: the seed
 * sits at the unigram entropy (loss 6.05) for its first ~150 steps whatever the batch, so
 * many small batches at a high rate beat fewer large ones (loss 5.25 after 300 steps of
 * 16 x 64 tokens at 1e-2, 5.42 at 3e-3).
 */
export const TEXT_TRAINING: TextTrainingConfig = {
  version: 1,
  model: { positions: 64, hidden: 64, layers: 2, heads: 4, inner: 256 },
  vocabSize: 1024,
  tokenizerCharacters: 200_000,
  trainCharacters: 400_000,
  evaluationCharacters: 12_000,
  initSeed: 7,
  pretrain: { steps: 400, batchSize: 16, learningRate: 1e-2, warmupSteps: 20, seed: 11 },
  adapt: { steps: 40, batchSize: 16, learningRate: 3e-3, warmupSteps: 4, seed: 13 },
};

export const SEED_MODEL = 'lm-seed';
export const expertName = (domain: string): string => `lm-${domain}`;
export const textDataPath = (dataDir: string, domain: string): string => join(dataDir, 'text', `${domain}.jsonl`);

function sha256(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('hex');
}

/** A domain's training text as one stream of token ids, documents separated by `<|endoftext|>`. */
function tokenStream(documents: readonly Int32Array[], endOfText: number): Int32Array {
  const stream = new Int32Array(documents.reduce((sum, d) => sum + d.length + 1, 0));
  let at = 0;
  for (const d of documents) {
    stream[at++] = endOfText;
    stream.set(d, at);
    at += d.length;
  }
  return stream;
}

/** Batches of windows at seeded random offsets of streams picked uniformly from `streams`. */
function windowBatches(streams: readonly Int32Array[], positions: number, rng: Rng): BatchSource {
  return (batchSize) => {
    const batch = new Int32Array(batchSize * positions);
    for (let row = 0; row < batchSize; row++) {
      const stream = streams[Math.floor(rng() * streams.length)]!;
      const start = Math.floor(rng() * (stream.length - positions));
      batch.set(stream.subarray(start, start + positions), row * positions);
    }
    return batch;
  };
}

/** Writes a domain's evaluation documents as JSON Lines, only when the bytes change (results caches key on file identity). */
function writeEvaluationFile(path: string, corpus: Corpus, characters: number): { validation: number; test: number } {
  const lines: string[] = [];
  const counts = { validation: 0, test: 0 };
  for (const split of TEXT_SPLITS) {
    for (const text of takeCharacters(corpus.splits[split], characters)) {
      lines.push(JSON.stringify({ text, split }));
      counts[split]++;
    }
  }
  const content = `${lines.join('\n')}\n`;
  mkdirSync(join(path, '..'), { recursive: true });
  if (!existsSync(path) || readFileSync(path, 'utf8') !== content) writeFileSync(path, content);
  return counts;
}

export interface TrainedLanguageModel {
  readonly name: string;
  readonly dir: string;
  /** The domain of an expert; undefined for the seed. */
  readonly domain?: string;
  readonly trained: boolean;
}

export interface TextTrainResult {
  readonly models: readonly TrainedLanguageModel[];
  readonly dataFiles: readonly { readonly domain: string; readonly path: string; readonly validation: number; readonly test: number }[];
  /** Validation perplexity by model and domain, when anything was trained (else docs/examples-text.md has it). */
  readonly table?: PerplexityTable;
}

export interface TrainTextOptions {
  readonly force?: boolean;
  readonly config?: TextTrainingConfig;
  readonly progress?: boolean;
  /** Where the perplexity table goes; default docs/examples-text.md. */
  readonly reportPath?: string;
}

function stageTrain(start: Gpt2Weights, shape: Gpt2Shape, streams: readonly Int32Array[], stage: TextStage, seed: number, progress: TextProgress): Map<string, Float32Array> {
  return trainGpt2(start, shape, windowBatches(streams, shape.positions, createRng(seed)), {
    steps: stage.steps, batchSize: stage.batchSize, learningRate: stage.learningRate, warmupSteps: stage.warmupSteps,
    onStep: (_, loss) => progress.step(loss),
  });
}

/** Trains whatever is missing or stale under `modelsDir`; writes the evaluation files under `dataDir`. */
export async function trainTextModels(modelsDir: string, dataDir: string, options: TrainTextOptions = {}): Promise<TextTrainResult> {
  const config = options.config ?? TEXT_TRAINING;
  const force = options.force ?? false;
  const corpora = DOMAINS.map(loadCorpus);
  const dataFiles = corpora.map((c) => {
    const path = textDataPath(dataDir, c.domain.name);
    return { domain: c.domain.name, path, ...writeEvaluationFile(path, c, config.evaluationCharacters) };
  });
  const training = corpora.map((c) => takeCharacters(c.splits.train, config.trainCharacters));
  const { pretrain, adapt, ...common } = config;
  const seedKey = sha256(JSON.stringify({ common, pretrain }), ...training.flat());
  const seedDir = join(modelsDir, SEED_MODEL);
  const seedStale = force || storedTrainKey(seedDir) !== seedKey;
  const expertKey = (domain: string) => sha256(seedKey, JSON.stringify({ adapt, domain }));
  const stale = corpora.filter((c) => seedStale || storedTrainKey(join(modelsDir, expertName(c.domain.name))) !== expertKey(c.domain.name));
  const models: TrainedLanguageModel[] = [{ name: SEED_MODEL, dir: seedDir, trained: seedStale }];
  models.push(...corpora.map((c) => ({ name: expertName(c.domain.name), dir: join(modelsDir, expertName(c.domain.name)), domain: c.domain.name, trained: stale.includes(c) })));
  if (!seedStale && stale.length === 0) return { models, dataFiles };
  const started = performance.now();

  await useWasmBackend();
  const tokenizer = seedStale
    ? trainTokenizer(corpora.flatMap((c) => takeCharacters(c.splits.train, config.tokenizerCharacters)), config.vocabSize)
    : readTokenizerJson(seedDir);
  const shape: Gpt2Shape = { ...config.model, vocab: config.vocabSize };
  const endOfText = config.vocabSize - 1;
  const streams = training.map((docs) => tokenStream(encodeAll(tokenizer, docs), endOfText));
  const steps = (seedStale ? pretrain.steps : 0) + stale.length * adapt.steps;
  const progress = createTextProgress(steps, options.progress ?? true);
  try {
    let seed: Gpt2Weights;
    if (seedStale) {
      progress.stage(SEED_MODEL, pretrain.steps, pretrain.batchSize * shape.positions);
      seed = stageTrain(initialGpt2(shape, config.initSeed), shape, streams, pretrain, pretrain.seed, progress);
      writeGpt2Folder(seedDir, shape, seed, tokenizer, {
        train_key: seedKey, role: 'seed', description: `GPT-2 pre-trained on a uniform mixture of ${DOMAINS.map((d) => d.name).join(', ')}`,
        generator: 'scripts/examples/text/train-text.ts',
      });
    } else {
      seed = await readGpt2Weights(seedDir);
    }
    for (const corpus of stale) {
      const name = expertName(corpus.domain.name);
      progress.stage(name, adapt.steps, adapt.batchSize * shape.positions);
      const stream = streams[corpora.indexOf(corpus)]!;
      const expert = stageTrain(seed, shape, [stream], adapt, seedFrom(corpus.domain.name, adapt.seed), progress);
      writeGpt2Folder(join(modelsDir, name), shape, expert, tokenizer, {
        train_key: expertKey(corpus.domain.name), role: 'expert', domain: corpus.domain.name,
        description: `${SEED_MODEL} with pre-training continued on ${corpus.domain.description}`, generator: 'scripts/examples/text/train-text.ts',
      });
    }
  } finally {
    progress.stop();
  }
  const table = await perplexityTable(models, dataFiles);
  const seconds = (performance.now() - started) / 1000;
  writePerplexityReport(options.reportPath ?? join(repositoryRoot, 'docs', 'examples-text.md'), table, { config, corpora, dataFiles, models, seconds });
  return { models, dataFiles, table };
}

export function describeTextTrained(result: TextTrainResult): string {
  const lines = result.dataFiles.map((f) => `  ${relative(repositoryRoot, f.path).padEnd(40)} ${f.validation} validation, ${f.test} test documents`);
  for (const m of result.models) lines.push(`  ${relative(repositoryRoot, m.dir).padEnd(40)} ${m.trained ? 'trained' : 'up to date'}`);
  return lines.join('\n');
}
