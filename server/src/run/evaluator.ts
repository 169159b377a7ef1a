// Evaluates models of a program on tasks: each (model at a point, task, split) once per
// run (an in-run memo) and once across runs (the results cache). The built-in evaluator
// computes the model into memory and runs the task's network; an external evaluator gets
// the model as a checkpoint file (the loaded file itself, or one written for it) and
// prints metrics. Nothing is computed, read or loaded when every answer is cached.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { HeaderCache } from '../checkpoints/read-header.ts';
import { isTextDataPath, readTextData } from '../checkpoints/text-data.ts';
import type { TextData, TextSplit } from '../checkpoints/text-data.ts';
import { runProgram } from '../engine/execute.ts';
import type { SplitData, Split } from '../engine/evaluation/data.ts';
import { readSplit } from '../engine/evaluation/data.ts';
import { EvaluationError, evaluationCancelled } from '../engine/evaluation/errors.ts';
import { expandCommand, parseCommandTemplate } from '../engine/evaluation/command.ts';
import type { TemplateArgument } from '../engine/evaluation/command.ts';
import { requireMetric, runExternalEvaluator } from '../engine/evaluation/external.ts';
import { TfjsNetwork } from '../engine/evaluation/tfjs-network.ts';
import { TextClassifier } from '../engine/evaluation/text-classifier.ts';
import { loadTextModel } from '../engine/evaluation/text-models.ts';
import type { TextModel, TextScorer } from '../engine/evaluation/text-models.ts';
import type { TextMetrics } from '../engine/evaluation/text-lm.ts';
import type { TfRuntime } from '../engine/evaluation/tfjs-runtime.ts';
import { materializeWith, type MaterializeContext, type MaterializedTensor } from '../engine/materialize.ts';
import { planSave } from '../engine/plan/build.ts';
import { forgetAtExit, removeAtExit } from '../exit-cleanup.ts';
import { tvrVersion } from '../version.ts';
import type { SweepPoint, TaskValue, WeightNode } from '../language/program.ts';
import type { MetricName, Metrics } from '../results/schema.ts';
import { cacheKey } from './cache.ts';
import type { ResultsCache } from './cache.ts';
import { pointFor, structureAt } from './nodes.ts';

/** Temporary checkpoints for external commands: removed after use, or at exit if tvr stops first. */
async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tvr-eval-'));
  removeAtExit(dir);
  return dir;
}

async function removeTemporary(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  forgetAtExit(dir);
}

/** Checkpoint files written for external commands during one evaluate call. */
interface CheckpointFiles {
  readonly paths: Map<WeightNode, string>;
  readonly temporaries: string[];
}

export interface EvaluatorOptions {
  readonly weights: MaterializeContext;
  readonly recipeText: string;
  /** The folder external commands run in, and relative command paths resolve against. */
  readonly recipeDir: string;
  readonly headers: HeaderCache;
  /** The tfjs runtime, created on first need (so a fully cached run never loads tfjs). */
  readonly runtime: () => Promise<TfRuntime>;
  readonly cache: ResultsCache;
  readonly externalTimeoutMs?: number;
  readonly batchSize?: number;
  readonly log: (level: 'info' | 'warning', message: string) => void;
  readonly signal?: AbortSignal;
}

export class ModelEvaluator {
  readonly #options: EvaluatorOptions;
  readonly #memo = new Map<string, Metrics>();
  readonly #networks = new Map<WeightNode, Promise<TfjsNetwork>>();
  readonly #data = new Map<string, Promise<SplitData>>();
  readonly #commands = new Map<TaskValue, TemplateArgument[]>();
  /** Text models by model folder, text data by file, and tokenized examples by (folder, file, split): read once a run. */
  readonly #languageModels = new Map<string, Promise<TextModel>>();
  readonly #texts = new Map<string, Promise<TextData>>();
  readonly #tokens = new Map<string, readonly unknown[]>();
  /** Identities of a text task's data file and its model folder's files, taken once a run as those files are read once. */
  readonly #identities = new Map<string, Promise<unknown>>();
  /** The last model computed into memory (the references' test split reuses the validation one). */
  #lastModel: { readonly key: string; readonly tensors: Map<string, MaterializedTensor> } | undefined;
  /** Evaluations computed in this run, and answered by the results cache. */
  evaluated = 0;
  cached = 0;

  constructor(options: EvaluatorOptions) {
    this.#options = options;
  }

  /** A task's parsed command template; throws EvaluationError naming the task. */
  #command(task: TaskValue): TemplateArgument[] {
    let parsed = this.#commands.get(task);
    if (!parsed) {
      try {
        parsed = parseCommandTemplate(task.command!);
      } catch (error) {
        throw new EvaluationError('external', `line ${task.range.start.line + 1}: task '${task.name}': cannot use the command ${JSON.stringify(task.command)}: ${(error as Error).message}`);
      }
      this.#commands.set(task, parsed);
    }
    return parsed;
  }

  /** Metrics of `node` at `point` on each task's `split`; `onTask` after each task. */
  async evaluate(node: WeightNode, point: SweepPoint, tasks: readonly TaskValue[], split: Split, onTask?: (task: TaskValue, metrics: Metrics) => void): Promise<Map<TaskValue, Metrics>> {
    const at = pointFor(node, point);
    const modelKey = JSON.stringify(structureAt(node, at));
    const out = new Map<TaskValue, Metrics>();
    const files: CheckpointFiles = { paths: new Map(), temporaries: [] };
    // Found once a call, and only for a text task: it takes a whole save plan.
    let folder: string | undefined;
    const modelFolder = (): string => (folder ??= this.#modelFolder(node, at));
    try {
      for (const task of tasks) {
        if (this.#options.signal?.aborted) throw evaluationCancelled();
        const key = await this.#key(modelKey, task, split, modelFolder);
        let metrics = this.#memo.get(key);
        if (!metrics) {
          const hit = await this.#options.cache.get<Metrics>('evaluations', key);
          if (hit) {
            metrics = { ...hit, seconds: 0, cached: true };
            this.cached++;
          } else {
            const started = performance.now();
            const measured = task.command !== undefined
              ? await this.#external(node, at, task, split, files)
              : isTextDataPath(task.data)
                ? await this.#text(node, at, modelKey, modelFolder(), task, split)
                : await this.#builtin(node, at, modelKey, task, split);
            metrics = { ...measured, seconds: (performance.now() - started) / 1000 };
            this.evaluated++;
            await this.#options.cache.put('evaluations', key, metrics, { model: node.name ?? `node ${node.id}`, task: task.name, split });
          }
          this.#memo.set(key, metrics);
        }
        out.set(task, metrics);
        onTask?.(task, metrics);
      }
      return out;
    } finally {
      await Promise.all(files.temporaries.map(removeTemporary));
    }
  }

  async close(): Promise<void> {
    const networks = await Promise.allSettled(this.#networks.values());
    for (const n of networks) if (n.status === 'fulfilled') n.value.dispose();
    this.#networks.clear();
    this.#lastModel = undefined;
  }

  async #key(modelKey: string, task: TaskValue, split: Split, modelFolder: () => string): Promise<string> {
    const text = isTextDataPath(task.data);
    const common = {
      tvr: tvrVersion,
      model: modelKey,
      head: structureAt(task.head, new Map()),
      data: text ? [await this.#fileIdentity(task.data)] : (await this.#options.headers.get(task.data)).files.map((f) => [f.path, f.size, f.mtimeMs]),
      split,
      metric: task.metric,
    };
    if (task.command === undefined && text) {
      // The folder's configuration and tokenizer decide the metrics as much as the weights do.
      const folder = modelFolder();
      const files = await Promise.all(['config.json', 'tokenizer.json', 'tokenizer_config.json'].map((f) => this.#fileIdentity(join(folder, f))));
      return cacheKey({ ...common, evaluator: 'builtin-text', folder: files });
    }
    if (task.command === undefined) return cacheKey({ ...common, evaluator: 'builtin' });
    return cacheKey({ ...common, evaluator: 'external', command: task.command, files: await this.#commandFiles(task) });
  }

  #fileIdentity(path: string): Promise<unknown> {
    let identity = this.#identities.get(path);
    if (!identity) {
      identity = fileIdentity(path);
      this.#identities.set(path, identity);
    }
    return identity;
  }

  /** Identities of the files a command names (its program, a script): a changed evaluator is a cache miss. */
  async #commandFiles(task: TaskValue): Promise<unknown[]> {
    const identities: unknown[] = [];
    for (const arg of this.#command(task)) {
      if (!arg.every((p) => typeof p === 'string')) continue;
      const text = arg.join('');
      const path = isAbsolute(text) ? text : resolve(this.#options.recipeDir, text);
      try {
        const s = await stat(path);
        if (s.isFile()) identities.push([path, s.size, s.mtimeMs]);
      } catch {
        // not a file: a word like `python` or `--flag`
      }
    }
    return identities;
  }

  async #builtin(node: WeightNode, point: SweepPoint, modelKey: string, task: TaskValue, split: Split): Promise<Omit<Metrics, 'seconds'>> {
    const network = await this.#network(task);
    const data = await this.#split(task, split);
    const measured = await network.evaluate(await this.#materialized(node, point, modelKey), data, {
      ...(this.#options.batchSize !== undefined ? { batchSize: this.#options.batchSize } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
    });
    return withMetric({ accuracy: measured.accuracy, loss: measured.loss, examples: data.rows }, task.metric, measured.perplexity);
  }

  #network(task: TaskValue): Promise<TfjsNetwork> {
    let network = this.#networks.get(task.head);
    if (!network) {
      network = (async () => {
        const anchor = headAnchor(this.#options.weights, task);
        const head = await materializeWith(this.#options.weights, task.head, new Map());
        return TfjsNetwork.load(await this.#options.runtime(), anchor.header?.tfjsModel, head, `task '${task.name}' (head ${anchor.path})`);
      })();
      network.catch(() => undefined);
      this.#networks.set(task.head, network);
    }
    return network;
  }

  #split(task: TaskValue, split: Split): Promise<SplitData> {
    const key = `${task.data}\0${split}`;
    let data = this.#data.get(key);
    if (!data) {
      data = this.#options.headers.get(task.data).then((header) => readSplit(header, split));
      data.catch(() => undefined);
      this.#data.set(key, data);
    }
    return data;
  }

  /** A text task: the evaluated model's own folder gives its architecture and tokenizer; the model is its own head. */
  async #text(node: WeightNode, point: SweepPoint, modelKey: string, folder: string, task: TaskValue, split: Split): Promise<Omit<Metrics, 'seconds'>> {
    const model = await this.#languageModel(folder, `task '${task.name}' (model folder ${folder})`);
    let measured;
    try {
      // A causal LM scores next tokens, a classifier labels: each on its own kind of examples.
      measured = model instanceof TextClassifier
        ? await this.#scoreText(model, node, point, modelKey, folder, task, split)
        : await this.#scoreText(model, node, point, modelKey, folder, task, split);
    } catch (error) {
      // The language model's own messages name the task and folder; a cancellation is told which evaluation it stopped.
      if (error instanceof EvaluationError && error.code === 'cancelled') throw new EvaluationError(error.code, `task '${task.name}', ${split} split, model ${node.name ?? 'computed'} (folder ${folder}): ${error.message}`, { cause: error });
      throw error;
    }
    return withMetric({ accuracy: measured.accuracy, loss: measured.loss, examples: measured.documents }, task.metric, measured.perplexity);
  }

  /** Metrics of the model at `point` on the task's split, in the examples `model` makes of it. */
  async #scoreText<E>(model: TextScorer<E>, node: WeightNode, point: SweepPoint, modelKey: string, folder: string, task: TaskValue, split: TextSplit): Promise<TextMetrics> {
    const examples = await this.#textTokens(model, folder, task, split);
    return model.evaluate(await this.#materialized(node, point, modelKey), examples, this.#options.signal ? { signal: this.#options.signal } : {});
  }

  /** The model's tensors, kept while consecutive evaluations are of the same model. */
  async #materialized(node: WeightNode, point: SweepPoint, modelKey: string): Promise<Map<string, MaterializedTensor>> {
    if (this.#lastModel?.key !== modelKey) {
      // Let the previous model go before computing the next.
      this.#lastModel = undefined;
      this.#lastModel = { key: modelKey, tensors: await materializeWith(this.#options.weights, node, point) };
    }
    return this.#lastModel.tensors;
  }

  /** The folder of the checkpoint a model's tensors come from at a point (its anchor, as for a save). */
  #modelFolder(node: WeightNode, point: SweepPoint): string {
    const anchor = planSave(this.#options.weights.program, { node, path: '', range: node.range, overwrite: false }, point).anchor;
    return dirname(anchor.header?.path ?? anchor.path);
  }

  #languageModel(folder: string, what: string): Promise<TextModel> {
    let lm = this.#languageModels.get(folder);
    if (!lm) {
      lm = this.#options.runtime().then((runtime) => loadTextModel(runtime, folder, what));
      lm.catch(() => undefined);
      this.#languageModels.set(folder, lm);
    }
    return lm;
  }

  /** The split's examples as the folder's model tokenizes them, once a run. */
  async #textTokens<E>(model: TextScorer<E>, folder: string, task: TaskValue, split: TextSplit): Promise<readonly E[]> {
    const key = `${folder}\0${task.data}\0${split}`;
    // A folder is one model, so the examples kept under its key are of that model's kind.
    const known = this.#tokens.get(key) as readonly E[] | undefined;
    if (known) return known;
    let data = this.#texts.get(task.data);
    if (!data) {
      data = readTextData(task.data).catch((error: unknown) => {
        throw new EvaluationError('data', `task '${task.name}': ${(error as Error).message}`, { file: task.data, cause: error });
      });
      data.catch(() => undefined);
      this.#texts.set(task.data, data);
    }
    const text = await data;
    if (text.problemCount > 0) {
      const first = text.problems[0]!;
      throw new EvaluationError('data', `task '${task.name}': ${task.data} line ${first.line} ${first.message}${text.problemCount > 1 ? ` (and ${text.problemCount - 1} more lines)` : ''}`, { file: task.data });
    }
    const documents = text.documents.filter((d) => d.split === split);
    if (documents.length === 0) throw new EvaluationError('data', `task '${task.name}': ${task.data} has no lines with "split": "${split}"`, { file: task.data });
    const tokens = model.tokenize(documents, task.data);
    this.#tokens.set(key, tokens);
    return tokens;
  }

  async #external(node: WeightNode, point: SweepPoint, task: TaskValue, split: Split, files: CheckpointFiles): Promise<Omit<Metrics, 'seconds'>> {
    const what = `task '${task.name}', ${split} split`;
    const values = {
      model: await this.#checkpointPath(node, point, files),
      head: await this.#checkpointPath(task.head, new Map(), files),
      task: task.name,
      split,
      data: task.data,
    };
    const metrics = await runExternalEvaluator({
      argv: expandCommand(this.#command(task), values),
      cwd: this.#options.recipeDir,
      what,
      ...(this.#options.externalTimeoutMs !== undefined ? { timeoutMs: this.#options.externalTimeoutMs } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      onStderr: (line) => this.#options.log('info', `[${task.name}/${split}] ${line}`),
    });
    requireMetric(metrics, task.metric as MetricName, `${what}: the evaluator`);
    return metrics;
  }

  /**
   * A file holding `node` at `point`: the loaded checkpoint itself, or a safetensors file
   * written for the commands (once per evaluate call, whatever the number of tasks).
   */
  async #checkpointPath(node: WeightNode, point: SweepPoint, files: CheckpointFiles): Promise<string> {
    if (node.op === 'load') return node.header?.path ?? node.path;
    const known = files.paths.get(node);
    if (known) return known;
    const dir = await temporaryDirectory();
    files.temporaries.push(dir);
    const path = join(dir, 'model.safetensors');
    const { program, backend, signal } = this.#options.weights;
    await runProgram({ ...program, saves: [{ node, path, overwrite: false, range: node.range }] }, {
      backend,
      point,
      recipeText: this.#options.recipeText,
      ...(signal ? { signal } : {}),
    });
    files.paths.set(node, path);
    return path;
  }
}

/** The checkpoint whose model.json gives a task's network: the head's anchor model (as for a tfjs save). */
function headAnchor(weights: MaterializeContext, task: TaskValue) {
  return planSave(weights.program, { node: task.head, path: '', range: task.range, overwrite: false }, new Map()).anchor;
}

/** Path, size and modification time of a file (absent: null), for cache keys. */
async function fileIdentity(path: string): Promise<unknown> {
  try {
    const s = await stat(path);
    return [path, s.size, s.mtimeMs];
  } catch {
    return [path, null];
  }
}

function withMetric(metrics: Omit<Metrics, 'seconds'>, metric: string, perplexity: number): Omit<Metrics, 'seconds'> {
  return metric === 'perplexity' ? { ...metrics, perplexity } : metrics;
}
