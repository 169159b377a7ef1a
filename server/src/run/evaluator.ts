// Evaluates models of a program on tasks: each (model at a point, task, split) once per
// run (an in-run memo) and once across runs (the results cache). The built-in evaluator
// computes the model into memory and runs the task's network; an external evaluator gets
// the model as a checkpoint file (the loaded file itself, or one written for it) and
// prints metrics. Nothing is computed, read or loaded when every answer is cached.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import pLimit from 'p-limit';
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
import { runSlurmEvaluator } from '../engine/evaluation/slurm.ts';
import { TfjsNetwork } from '../engine/evaluation/tfjs-network.ts';
import { documentPosterior, mixtureMetrics, type Posterior } from '../engine/evaluation/mixture.ts';
import { TextClassifier } from '../engine/evaluation/text-classifier.ts';
import { CausalLm } from '../engine/evaluation/text-lm.ts';
import { loadTextModel } from '../engine/evaluation/text-models.ts';
import type { TextModel, TextScorer } from '../engine/evaluation/text-models.ts';
import type { TextMetrics } from '../engine/evaluation/text-lm.ts';
import type { TfRuntime } from '../engine/evaluation/tfjs-runtime.ts';
import { materializeWith, type MaterializeContext, type MaterializedTensor } from '../engine/materialize.ts';
import { planSave } from '../engine/plan/build.ts';
import { forgetAtExit, removeAtExit } from '../exit-cleanup.ts';
import { tvrVersion } from '../version.ts';
import type { EnsembleValue, PosteriorValue, SweepPoint, TaskValue, WeightNode } from '../language/program.ts';
import type { MetricName, Metrics } from '../results/schema.ts';
import { cacheKey } from './cache.ts';
import type { ResultsCache } from './cache.ts';
import type { Executor, SlurmExecutor } from './executor.ts';
import { ModelSlots } from './model-slots.ts';
import { pointFor, structureAt } from './nodes.ts';

/** Temporary checkpoints for external commands: removed after use, or at exit if tvr stops first. */
async function temporaryDirectory(parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, 'tvr-eval-'));
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
  /** The recipe's file (`tvr eval` on a cluster node reads its tasks from it). */
  readonly recipePath: string;
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
  /** Evaluations that run at once (`--jobs`), and so the models held in memory at once (default 1). */
  readonly jobs?: number;
  /** Where evaluations run (default: this process, and external commands as local processes). */
  readonly executor?: Executor;
  /** The run's --backend, which `tvr eval` on a cluster node is given too. */
  readonly backendChoice?: string;
}

export class ModelEvaluator {
  readonly #options: EvaluatorOptions;
  /** Metrics by cache key, in flight or done: evaluations running at once never compute one key twice. */
  readonly #memo = new Map<string, Promise<Metrics>>();
  readonly #networks = new Map<WeightNode, Promise<TfjsNetwork>>();
  readonly #data = new Map<string, Promise<SplitData>>();
  readonly #commands = new Map<TaskValue, TemplateArgument[]>();
  /** Text models by model folder, text data by file, and tokenized examples by (folder, file, split): read once a run. */
  readonly #languageModels = new Map<string, Promise<TextModel>>();
  readonly #texts = new Map<string, Promise<TextData>>();
  readonly #tokens = new Map<string, readonly unknown[]>();
  /** Identities of a text task's data file and its model folder's files, taken once a run as those files are read once. */
  readonly #identities = new Map<string, Promise<unknown>>();
  /** Ensemble members' per-token log-probabilities by (model, folder, data, split, documents): 8 bytes a token, kept for the run. */
  readonly #logProbs = new Map<string, Promise<Float64Array[]>>();
  /** Models computed into memory: at most one per evaluation running at once (model-slots.ts). */
  readonly #models: ModelSlots<Map<string, MaterializedTensor>>;
  /**
   * The tfjs backend runs one network at a time: a network holds the weights written into
   * it, and one backend computes on the cores it has. Evaluations running at once take
   * turns here while their models are computed and their files read side by side.
   */
  readonly #networkTurn = pLimit(1);
  /** The engine's backend and its chunk buffers serve one computation at a time, too. */
  readonly #engineTurn = pLimit(1);
  /** Evaluations computed in this run, and answered by the results cache. */
  evaluated = 0;
  cached = 0;

  constructor(options: EvaluatorOptions) {
    this.#options = options;
    this.#models = new ModelSlots(options.jobs ?? 1);
  }

  /** The most models held in memory at once in this run. */
  get modelsHeldPeak(): number {
    return this.#models.peak;
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
        const measured = await this.#once(key, () => this.#measure(key, node, at, modelKey, task, split, files, modelFolder));
        out.set(task, measured);
        onTask?.(task, measured);
      }
      return out;
    } finally {
      await Promise.all(files.temporaries.map(removeTemporary));
    }
  }

  /** The metrics under `key`, measured once a run: evaluations running at once share one measurement; a failed one is not kept. */
  #once(key: string, measure: () => Promise<Metrics>): Promise<Metrics> {
    let metrics = this.#memo.get(key);
    if (!metrics) {
      metrics = measure();
      this.#memo.set(key, metrics);
      metrics.catch(() => this.#memo.delete(key));
    }
    return metrics;
  }

  /** Metrics from the results cache, or measured by the task's evaluator (and cached). */
  #measure(key: string, node: WeightNode, at: SweepPoint, modelKey: string, task: TaskValue, split: Split, files: CheckpointFiles, modelFolder: () => string): Promise<Metrics> {
    return this.#cached(key, { model: node.name ?? `node ${node.id}`, task: task.name, split }, () => (this.#options.executor?.kind === 'slurm'
      ? this.#onCluster(this.#options.executor, node, at, task, split, files)
      : task.command !== undefined
        ? this.#external(node, at, task, split, files)
        : isTextDataPath(task.data)
          ? this.#text(node, at, modelKey, modelFolder(), task, split)
          : this.#builtin(node, at, modelKey, task, split)));
  }

  /**
   * Metrics of an ensemble on each task's `split`: every member's log-probability of each
   * next token, mixed with `weights` (mixture.ts). Cached like a model's evaluation.
   */
  async evaluateEnsemble(ensemble: EnsembleValue, weights: readonly number[], tasks: readonly TaskValue[], split: Split, onTask?: (task: TaskValue, metrics: Metrics) => void): Promise<Map<TaskValue, Metrics>> {
    const out = new Map<TaskValue, Metrics>();
    for (const task of tasks) {
      if (this.#options.signal?.aborted) throw evaluationCancelled();
      const key = await this.#mixtureKey('ensemble', ensemble.members, task, { split, weights });
      const measured = await this.#once(key, () => this.#cached(key, { model: ensemble.name, task: task.name, split }, async () => {
        const logProbs = await this.#membersLogProbs(ensemble.members, task, split, Infinity);
        const mixed = failingAs('data', `task '${task.name}', ${split} split, ensemble ${ensemble.name}`, () => mixtureMetrics(logProbs, weights));
        return { loss: mixed.loss, perplexity: mixed.perplexity, examples: logProbs[0]!.length };
      }));
      out.set(task, measured);
      onTask?.(task, measured);
    }
    return out;
  }

  /** A posterior's weights, estimated on its task's first validation documents (mixture.ts); cached. */
  async estimatePosterior(posterior: PosteriorValue): Promise<Posterior> {
    const key = await this.#mixtureKey('posterior', posterior.members, posterior.task, { documents: posterior.documents, topk: posterior.topk ?? null });
    const hit = await this.#options.cache.get<Posterior>('posteriors', key);
    if (hit) return hit;
    const logProbs = await this.#membersLogProbs(posterior.members, posterior.task, 'validation', posterior.documents);
    const estimate = failingAs('data', `${posterior.name}: task '${posterior.task.name}', validation split`, () => documentPosterior(logProbs, posterior.topk));
    await this.#options.cache.put('posteriors', key, estimate, { posterior: posterior.name, task: posterior.task.name });
    return estimate;
  }

  /** What determines a mixture's result: each member's structure and folder files, the task's data, and `extra`. */
  async #mixtureKey(kind: string, members: readonly WeightNode[], task: TaskValue, extra: object): Promise<string> {
    const folders = await Promise.all(members.map(async (member) => {
      const folder = this.#modelFolder(member, new Map());
      return Promise.all(['config.json', 'tokenizer.json', 'tokenizer_config.json'].map((f) => this.#fileIdentity(join(folder, f))));
    }));
    return cacheKey({
      tvr: tvrVersion,
      evaluator: `builtin-text-${kind}`,
      members: members.map((m) => structureAt(m, new Map())),
      folders,
      data: await this.#fileIdentity(task.data),
      metric: task.metric,
      ...extra,
    });
  }

  /** From the results cache, or measured and stored. */
  async #cached(key: string, about: object, measure: () => Promise<Omit<Metrics, 'seconds'>>): Promise<Metrics> {
    const hit = await this.#options.cache.get<Metrics>('evaluations', key);
    if (hit) {
      this.cached++;
      return { ...hit, seconds: 0, cached: true };
    }
    const started = performance.now();
    const metrics = { ...(await measure()), seconds: (performance.now() - started) / 1000 };
    this.evaluated++;
    await this.#options.cache.put('evaluations', key, metrics, about);
    return metrics;
  }

  /**
   * Each member's log-probability of every next token of the split's first `limit` documents,
   * one member at a time (each tokenizes with its own folder's tokenizer, which must agree).
   */
  async #membersLogProbs(members: readonly WeightNode[], task: TaskValue, split: TextSplit, limit: number): Promise<Float64Array[][]> {
    const out: Float64Array[][] = [];
    let lengths: readonly number[] | undefined;
    for (const member of members) {
      const folder = this.#modelFolder(member, new Map());
      const name = member.name ?? `model ${member.id}`;
      const what = `task '${task.name}' (model folder ${folder})`;
      const model = await this.#languageModel(folder, what);
      if (!(model instanceof CausalLm)) throw new EvaluationError('model', `${what}: ${name} is not a causal language model, so it gives no next-token probabilities to mix`);
      const documents = (await this.#textTokens(model, folder, task, split)).slice(0, limit);
      const here = documents.map((d) => d.length);
      if (lengths && here.some((n, i) => n !== lengths![i])) {
        throw new EvaluationError('model', `${what}: ${name} tokenizes the ${split} documents of task '${task.name}' differently from ${members[0]!.name ?? 'the first model'} (its tokenizer.json differs), so their next-token probabilities cannot be mixed`);
      }
      lengths = here;
      const modelKey = JSON.stringify(structureAt(member, new Map()));
      // Ensembles over the same models (uniform and posterior-weighted) read the same log-probabilities.
      const key = JSON.stringify([modelKey, folder, task.data, split, limit]);
      let logProbs = this.#logProbs.get(key);
      if (!logProbs) {
        logProbs = this.#withModel(member, new Map(), modelKey, (tensors) => model.tokenLogProbs(tensors, documents, this.#options.signal ? { signal: this.#options.signal } : {}));
        this.#logProbs.set(key, logProbs);
        logProbs.catch(() => this.#logProbs.delete(key));
      }
      out.push(await logProbs);
    }
    return out;
  }

  async close(): Promise<void> {
    const networks = await Promise.allSettled(this.#networks.values());
    for (const n of networks) if (n.status === 'fulfilled') n.value.dispose();
    this.#networks.clear();
    this.#models.clear();
    this.#logProbs.clear();
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
    const measured = await this.#withModel(node, point, modelKey, (tensors) => network.evaluate(tensors, data, {
      ...(this.#options.batchSize !== undefined ? { batchSize: this.#options.batchSize } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
    }));
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
    return this.#withModel(node, point, modelKey, (tensors) => model.evaluate(tensors, examples, this.#options.signal ? { signal: this.#options.signal } : {}));
  }

  /** Runs a network on the model's tensors (computed, or still held from an evaluation of the same model), one network at a time. */
  #withModel<R>(node: WeightNode, point: SweepPoint, modelKey: string, run: (tensors: Map<string, MaterializedTensor>) => Promise<R>): Promise<R> {
    return this.#models.with(modelKey, () => this.#engineTurn(() => materializeWith(this.#options.weights, node, point)), (tensors) => this.#networkTurn(() => run(tensors)));
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
   * An evaluation as a Slurm job on the model written into the shared folder: the task's
   * command, or `tvr eval` for a built-in task (the same evaluator, started on a node).
   */
  async #onCluster(executor: SlurmExecutor, node: WeightNode, point: SweepPoint, task: TaskValue, split: Split, files: CheckpointFiles): Promise<Omit<Metrics, 'seconds'>> {
    const what = `task '${task.name}', ${split} split`;
    const shared = { in: executor.sharedDir };
    let argv: string[];
    if (task.command !== undefined) {
      argv = expandCommand(this.#command(task), {
        model: await this.#checkpointPath(node, point, files, shared),
        head: await this.#checkpointPath(task.head, new Map(), files, shared),
        task: task.name,
        split,
        data: task.data,
      });
    } else {
      // A text task reads the model's folder (configuration, tokenizer), so the model is written as one.
      const model = isTextDataPath(task.data)
        ? (node.op === 'load' ? this.#modelFolder(node, point) : await this.#checkpointPath(node, point, files, { ...shared, folder: true }))
        : await this.#checkpointPath(node, point, files, shared);
      argv = [...executor.tvr, 'eval', this.#options.recipePath, '--task', task.name, '--split', split, '--model', model,
        ...(this.#options.backendChoice !== undefined ? ['--backend', this.#options.backendChoice] : []),
        ...(this.#options.batchSize !== undefined ? ['--batch-size', String(this.#options.batchSize)] : [])];
    }
    const metrics = await runSlurmEvaluator({
      argv,
      cwd: this.#options.recipeDir,
      sharedDir: executor.sharedDir,
      slurmArgs: executor.slurmArgs,
      jobName: `tvr-${task.name}-${split}`,
      what,
      ...(this.#options.externalTimeoutMs !== undefined ? { timeoutMs: this.#options.externalTimeoutMs } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      onStderr: (line) => this.#options.log('info', `[${task.name}/${split}] ${line}`),
      onJob: (id) => this.#options.log('info', `${what}, model ${node.name ?? 'computed'}: Slurm job ${id}`),
    });
    requireMetric(metrics, task.metric as MetricName, `${what}: the evaluator`);
    // `tvr eval` printed the built-in evaluator's own metrics: kept as a run here keeps them, nothing derived.
    return task.command === undefined ? withMetric({ accuracy: metrics.accuracy, loss: metrics.loss, examples: metrics.examples }, task.metric, metrics.perplexity!) : metrics;
  }

  /**
   * A file holding `node` at `point`: the loaded checkpoint itself, or a safetensors file
   * (with `folder`, a model folder) written for the commands, once per evaluate call
   * whatever the number of tasks, in a temporary folder (under `in` when given).
   */
  async #checkpointPath(node: WeightNode, point: SweepPoint, files: CheckpointFiles, where: { readonly in?: string; readonly folder?: boolean } = {}): Promise<string> {
    if (node.op === 'load') return node.header?.path ?? node.path;
    const known = files.paths.get(node);
    if (known) return known;
    const dir = await temporaryDirectory(where.in);
    files.temporaries.push(dir);
    const path = join(dir, where.folder ? 'model' : 'model.safetensors');
    const { program, backend, signal } = this.#options.weights;
    await this.#engineTurn(() => runProgram({ ...program, saves: [{ node, path, overwrite: false, range: node.range }] }, {
      backend,
      point,
      recipeText: this.#options.recipeText,
      ...(signal ? { signal } : {}),
    }));
    files.paths.set(node, path);
    return path;
  }
}

/** Runs `compute`; a RangeError (data that cannot be scored) becomes an EvaluationError saying where. */
function failingAs<T>(code: 'data', where: string, compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    if (error instanceof RangeError) throw new EvaluationError(code, `${where}: ${error.message}`, { cause: error });
    throw error;
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
