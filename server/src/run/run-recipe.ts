// A recipe run, start to end: check the recipe, plan the evaluations, then evaluate the
// references (base and fine-tuned models), every sweep point of every edited model on
// the validation split (streamed as `point` events), choose each model's point by the
// objective, take test metrics there (`chosen`), compute the task vectors' similarity,
// and write the saves at the chosen points with the engine. The results file is
// rewritten after every change, so a viewer (or a cancelled run) always has the latest.
// With `jobs` > 1, up to that many evaluations run at once (references, and the points
// of one sweep in its coarse-to-fine order); the results are the serial run's.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import type { LimitFunction } from 'p-limit';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { TensorReader } from '../checkpoints/tensor-reader.ts';
import { selectBackend } from '../engine/backends/registry.ts';
import type { Backend } from '../engine/backends/types.ts';
import { EngineError } from '../engine/errors.ts';
import type { RunEvent } from '../engine/events.ts';
import { runProgram } from '../engine/execute.ts';
import { checkOutputs, resolveOutput } from '../engine/outputs.ts';
import { planSaves } from '../engine/plan/build.ts';
import type { Split } from '../engine/evaluation/data.ts';
import { EvaluationError } from '../engine/evaluation/errors.ts';
import { planCompute, tfRuntimeFor } from '../engine/evaluation/tfjs-runtime.ts';
import type { RunBackendChoice, TfRuntime } from '../engine/evaluation/tfjs-runtime.ts';
import { checkSlurm } from '../engine/evaluation/slurm.ts';
import { describeAdapter } from '../engine/evaluation/webgpu.ts';
import { createBuffers, DEFAULT_MEMO_BYTES, TensorMemo } from '../engine/evaluation/weights.ts';
import type { MaterializeContext } from '../engine/materialize.ts';
import { choosePoint, describeObjective, metricValue, normalize, scorePoint } from '../engine/sweep/objective.ts';
import type { Candidate, ObjectiveReferences } from '../engine/sweep/objective.ts';
import { namedPoint, sha256 } from '../engine/provenance.ts';
import { tvrVersion } from '../version.ts';
import { analyzeFile } from '../language/analysis.ts';
import type { Analysis } from '../language/analysis.ts';
import { inputHeaders, type PosteriorValue, type SaveStatement, type SweepPoint, type TaskValue, type TypedProgram } from '../language/program.ts';
import { resultsPath, ResultsWriter } from '../results/file.ts';
import { modelCard } from '../results/model-card.ts';
import type {
  ChosenResult, EvaluationResult, Metrics, OutputInfo, PosteriorResult, RecipeRunEvent, ReferenceResult, RunResults, SweepPointResult,
} from '../results/schema.ts';
import { RESULTS_SCHEMA_VERSION } from '../results/schema.ts';
import { CACHE_DIRECTORY, ResultsCache } from './cache.ts';
import { runAll } from './concurrent.ts';
import type { Executor } from './executor.ts';
import { ModelEvaluator } from './evaluator.ts';
import { sweepsOf } from './nodes.ts';
import { planEvaluations } from './plan.ts';
import type { PlannedEvaluation, PlannedModel } from './plan.ts';
import { taskVectorSimilarity } from './similarity.ts';

export type RecipeEvent = RunEvent | RecipeRunEvent;

const DEFAULT_RESULTS_INTERVAL_MS = 250;

export interface RecipeRunOptions {
  /** Path of the .tvr recipe. */
  readonly recipe: string;
  /** Write outputs and the results file under this folder instead of beside the recipe. */
  readonly outDir?: string;
  readonly backend?: RunBackendChoice;
  /** An untrusted workspace: external evaluator commands are refused. */
  readonly untrusted?: boolean;
  /** Use the results cache (default true). */
  readonly cache?: boolean;
  /** Replace existing outputs even where a save does not say overwrite=true. */
  readonly force?: boolean;
  /** Saves may write outside the recipe's folder (or `outDir`): the user allowed it. */
  readonly allowOutputsOutside?: boolean;
  /** fsync outputs before they are moved into place (RunOptions.sync). */
  readonly sync?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: RecipeEvent) => void;
  readonly externalTimeoutMs?: number;
  readonly batchSize?: number;
  /** Memory for input tensors kept across sweep points (default 1 GiB). */
  readonly memoryBytes?: number;
  /**
   * Least time between two `results` events (default 250 ms; the last one is always sent).
   * Each event carries every point so far, so one per point would make a run's output grow
   * with the square of its points; `point` events report each point as it comes.
   */
  readonly resultsIntervalMs?: number;
  /** Evaluations that run at once (default 1): points of a sweep, references, processes or cluster jobs. */
  readonly jobs?: number;
  /** Where evaluations run (default: here). */
  readonly executor?: Executor;
}

export interface RecipeRunOutcome {
  readonly results: RunResults;
  readonly resultsFile: string;
}

/** The recipe has errors: nothing ran. `analysis` holds the diagnostics to print; the message lists them. */
export class RecipeCheckError extends Error {
  readonly analysis: Analysis;
  constructor(analysis: Analysis) {
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    const lines = errors.map((d) => {
      const at = analysis.lines.position(d.span.start);
      return `${analysis.file}:${at.line + 1}:${at.character + 1}: error[${d.code}]: ${d.message}`;
    });
    super(`the recipe has ${errors.length} error${errors.length === 1 ? '' : 's'}, so nothing ran:\n${lines.join('\n')}`);
    this.name = 'RecipeCheckError';
    this.analysis = analysis;
  }
}

/** The recipe file cannot be read. */
export class RecipeReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipeReadError';
  }
}

/** A recipe's text; RecipeReadError when the file cannot be read. */
export async function readRecipe(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new RecipeReadError(`cannot read the recipe ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

/** The code a failure is reported with (`run-error` events, exit codes). */
export function errorCode(error: unknown): string {
  if (error instanceof RecipeCheckError) return 'check';
  if (error instanceof RecipeReadError) return 'unreadable';
  if (error instanceof EngineError || error instanceof EvaluationError) return error.code;
  if (isAbort(error)) return 'cancelled';
  return 'internal';
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR');
}

export async function runRecipe(options: RecipeRunOptions): Promise<RecipeRunOutcome> {
  const emit = options.onEvent ?? (() => {});
  try {
    return await run(options, emit);
  } catch (error) {
    emit({ type: 'run-error', code: errorCode(error), message: messageOf(error) });
    throw error;
  }
}

function messageOf(error: unknown): string {
  if (isAbort(error)) return 'run cancelled';
  return error instanceof Error ? error.message : String(error);
}

async function run(options: RecipeRunOptions, emit: (event: RecipeEvent) => void): Promise<RecipeRunOutcome> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const file = options.recipe;
  const text = await readRecipe(file);
  const headers = new HeaderCache();
  const analysis = await analyzeFile(text, file, headers, { allowOutputsOutside: options.allowOutputsOutside === true });
  if (analysis.diagnostics.some((d) => d.severity === 'error')) throw new RecipeCheckError(analysis);
  const program = analysis.checked.program;
  const plans = planEvaluations(program, { untrusted: options.untrusted ?? false });
  await checkSaves(program, options);
  // A cluster that does not answer, or a shared folder that is not one, fails before anything is computed.
  if (options.executor?.kind === 'slurm') await checkSlurm(options.executor.sharedDir);
  const resultsFile = resultsPath(file, options.outDir);
  const log = (level: 'info' | 'warning', message: string): void => emit({ type: 'log', level, message });
  const notes: string[] = [];
  const cache = new ResultsCache(options.cache === false ? undefined : join(dirname(resultsFile), CACHE_DIRECTORY), (message) => {
    notes.push(message);
    log('warning', message);
  });

  const compute = await planCompute(options.backend ?? 'auto');
  const selected = await selectBackend(compute.engine);
  const backendReason = compute.note ? `${selected.reason}; ${compute.note}` : selected.reason;
  const backend: Backend = selected.backend;
  const reader = new TensorReader(inputHeaders(program));
  const memo = new TensorMemo(options.memoryBytes ?? DEFAULT_MEMO_BYTES);
  const weights: MaterializeContext = { program, backend, reader, memo, buffers: createBuffers(backend), ...(options.signal ? { signal: options.signal } : {}) };
  let results: RunResults = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    tvrVersion: tvrVersion,
    recipe: { path: file, sha256: sha256(text) },
    startedAt,
    status: 'running',
    backend: { name: backend.name, reason: backendReason },
    sweeps: program.sweeps.filter((s) => s.posterior === undefined).map((s) => ({ name: s.name, values: s.values })),
    evaluations: plans.map((p) => emptyEvaluation(p)),
    outputs: [],
    notes,
    ...(options.executor?.kind === 'slurm'
      ? { evaluationBackend: { name: 'slurm', reason: `every evaluation a Slurm job, a built-in one run by tvr eval on a node (--backend ${options.backend ?? 'auto'}); models written to ${options.executor.sharedDir}` } }
      : {}),
  };
  let runtime: Promise<TfRuntime> | undefined;
  const jobs = options.jobs ?? 1;
  const evaluator = new ModelEvaluator({
    weights,
    recipeText: text,
    recipePath: file,
    jobs,
    ...(options.executor ? { executor: options.executor } : {}),
    ...(options.backend !== undefined ? { backendChoice: options.backend } : {}),
    recipeDir: dirname(file),
    headers,
    runtime: () => (runtime ??= tfRuntimeFor(backend.name, compute.evaluation).then((r) => {
      const adapter = r.adapter ? { adapter: { vendor: r.adapter.vendor, architecture: r.adapter.architecture, description: r.adapter.description } } : {};
      results = { ...results, evaluationBackend: { name: r.name, reason: r.reason, ...adapter } };
      return r;
    })),
    cache,
    log,
    ...(options.externalTimeoutMs !== undefined ? { externalTimeoutMs: options.externalTimeoutMs } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });

  const writer = new ResultsWriter(resultsFile);
  const interval = options.resultsIntervalMs ?? DEFAULT_RESULTS_INTERVAL_MS;
  let lastSent = -Infinity;
  const publish = (final = false): void => {
    results = { ...results, notes: [...notes], counts: { evaluated: evaluator.evaluated, cached: evaluator.cached } };
    writer.update(results);
    const now = performance.now();
    if (!final && now - lastSent < interval) return;
    lastSent = now;
    emit({ type: 'results', results });
  };
  const updateEvaluation = (id: number, change: (e: EvaluationResult) => EvaluationResult): void => {
    results = { ...results, evaluations: results.evaluations.map((e) => (e.id === id ? change(e) : e)) };
    publish();
  };

  const total = plans.reduce((sum, p) => sum + unitsOf(p), 0) + program.posteriors.length;
  let done = 0;
  const progress = (what: string): void => {
    done++;
    emit({ type: 'evaluation-progress', done, total, what });
  };
  emit({
    type: 'run-start',
    recipe: file,
    backend: backend.name,
    reason: backendReason,
    points: plans.reduce((sum, p) => sum + p.models.reduce((s, m) => s + m.points.length, 0), 0),
    evaluations: plans.length,
    resultsFile,
  });
  publish();

  try {
    // The first write shows the results file can be written (and is not an input): fail before evaluating anything.
    await writer.flush();
    for (const plan of plans) {
      if (plan.base) notes.push(`evaluation ${plan.id}: the base reference is ${plan.base.name} (subtracted in ${plan.base.uses} task vector${plan.base.uses === 1 ? '' : 's'} of the evaluated models)`);
      else notes.push(`evaluation ${plan.id}: no base model found (no task vector subtracts a model); no base reference or change against the base${plan.statement.objective === 'forget' && plan.statement.controls.length > 0 ? ', and controls do not constrain the forget objective' : ''}`);
    }
    try {
      const similarity = await taskVectorSimilarity(analysis, headers, cache, options.signal);
      notes.push(...similarity.notes);
      if (similarity.matrix) results = { ...results, similarity: similarity.matrix };
    } catch (error) {
      // The similarity is a view on the vectors, not what the run is for: say why it is missing and go on.
      if (options.signal?.aborted) throw error;
      notes.push(`the task vectors' similarity could not be computed: ${messageOf(error)}`);
    }
    publish();

    // Posteriors first: the evaluations that use them (ensembles, posterior-weighted means) need their weights.
    const estimated = await estimatePosteriors(program, evaluator, progress);
    if (estimated.results.length > 0) {
      results = { ...results, posteriors: estimated.results };
      publish();
    }
    const runPlans = estimated.results.length > 0 ? planEvaluations(withEstimates(program, estimated.values), { untrusted: options.untrusted ?? false }) : plans;
    const limit = pLimit(jobs);
    const chosenPoints: { readonly model: PlannedModel; readonly point: SweepPoint }[] = [];
    for (const plan of runPlans) {
      const context = {
        plan, evaluator, progress, updateEvaluation, evaluation: (id: number) => results.evaluations.find((e) => e.id === id)!, emit, program, limit,
        posteriorWeights: (posterior: PosteriorValue) => estimated.results[program.posteriors.indexOf(posterior)]!.weights,
      };
      const references = await evaluateReferences(context);
      for (const model of plan.models) chosenPoints.push({ model, point: await sweepModel(context, model, references) });
    }

    const outputs = await writeSaves(program, chosenPoints, notes, { backend, text, options, emit, evaluations: results.evaluations, estimates: estimated.values });
    results = { ...results, outputs };
    if (runtime) {
      const { name, adapter } = await runtime;
      notes.push(`networks evaluated on ${name}${adapter ? ` (${describeAdapter(adapter)})` : ''}`);
    }
    if (evaluator.cached > 0) notes.push(`${evaluator.cached} of ${evaluator.cached + evaluator.evaluated} evaluations came from the results cache (${join(dirname(resultsFile), CACHE_DIRECTORY)}); run with --no-cache to evaluate them again`);
    const held = evaluator.modelsHeldPeak;
    if (jobs > 1) notes.push(`up to ${jobs} evaluations at once${held > 0 ? `; at most ${held} model${held === 1 ? '' : 's'} held in memory at once` : ''}`);
    if (memo.bytesKept > 0) notes.push(`inputs read once into memory across sweep points: ${formatBytes(memo.bytesKept)} (budget ${formatBytes(options.memoryBytes ?? DEFAULT_MEMO_BYTES)})`);
    results = { ...results, status: 'done', finishedAt: new Date().toISOString() };
    publish(true);
    await writer.flush();
    emit({ type: 'run-done', resultsFile, seconds: (performance.now() - started) / 1000 });
    return { results, resultsFile };
  } catch (error) {
    const cancelled = options.signal?.aborted === true || errorCode(error) === 'cancelled';
    results = { ...results, status: cancelled ? 'cancelled' : 'failed', error: messageOf(error), finishedAt: new Date().toISOString() };
    publish(true);
    await writer.flush().catch(() => undefined);
    throw error;
  } finally {
    await evaluator.close();
    await reader.close();
    await backend.close();
  }
}

/** Outputs that would overwrite an input or an existing file fail now, not after the evaluations. */
async function checkSaves(program: TypedProgram, options: RecipeRunOptions): Promise<void> {
  // Where a save goes does not depend on the sweep point: any point plans it.
  const anyPoint = new Map(program.sweeps.map((s) => [s.id, s.values[0]!]));
  const plans = planSaves(program, anyPoint);
  await checkOutputs(program, plans, plans.map((p) => resolveOutput(p, program, options.outDir)), options.force ?? false, {
    confine: options.allowOutputsOutside !== true,
    ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
  });
}

function emptyEvaluation(plan: PlannedEvaluation): EvaluationResult {
  return {
    id: plan.id,
    line: plan.statement.range.start.line + 1,
    models: plan.models.map((m) => m.name),
    ...(plan.base ? { base: plan.base.name } : {}),
    objective: plan.statement.objective,
    objectiveDescription: describeObjective(plan.statement.objective, plan.tasks),
    tasks: plan.tasks.map((t) => t.info),
    references: [],
    points: [],
    chosen: [],
  };
}

/** Evaluations of a plan: base and fine-tuned references on both splits, every point, the chosen points' tests. */
function unitsOf(plan: PlannedEvaluation): number {
  const tasks = plan.tasks.length;
  return (plan.base ? 2 * tasks : 0) + 2 * tasks + plan.models.reduce((sum, m) => sum + (m.points.length + 1) * tasks, 0);
}

interface EvaluationContext {
  readonly plan: PlannedEvaluation;
  readonly evaluator: ModelEvaluator;
  readonly program: TypedProgram;
  readonly progress: (what: string) => void;
  readonly updateEvaluation: (id: number, change: (e: EvaluationResult) => EvaluationResult) => void;
  /** The evaluation's results so far. */
  readonly evaluation: (id: number) => EvaluationResult;
  /** The run's `--jobs` limit, shared by every evaluation. */
  readonly limit: LimitFunction;
  /** A posterior's estimated weights (every posterior is estimated before the plans run). */
  readonly posteriorWeights: (posterior: PosteriorValue) => readonly number[];
  readonly emit: (event: RecipeEvent) => void;
}

/** Reference metrics per split: the base on every task, each fine-tuned model on its own task. */
interface References {
  readonly base: Readonly<Record<Split, Readonly<Record<string, Metrics>>>>;
  readonly finetuned: Readonly<Record<Split, Readonly<Record<string, Metrics>>>>;
}

async function evaluateReferences(context: EvaluationContext): Promise<References> {
  const { plan, evaluator, progress } = context;
  const tasks = plan.tasks.map((t) => t.task);
  const base: Record<Split, Record<string, Metrics>> = { validation: {}, test: {} };
  const finetuned: Record<Split, Record<string, Metrics>> = { validation: {}, test: {} };
  const evaluations: (() => Promise<void>)[] = [];
  for (const split of ['validation', 'test'] as const) {
    if (plan.base) {
      const { node, name } = plan.base;
      evaluations.push(async () => {
        const found = await evaluator.evaluate(node, new Map(), tasks, split, (task) => progress(`${name} on ${task.name} (${split})`));
        for (const [task, m] of found) base[split][task.name] = m;
      });
    }
    for (const task of tasks) {
      evaluations.push(async () => {
        const found = await evaluator.evaluate(task.finetuned, new Map(), [task], split, () => progress(`${finetunedName(task)} on ${task.name} (${split})`));
        finetuned[split][task.name] = found.get(task)!;
      });
    }
  }
  await runAll(context.limit, evaluations);
  const references: ReferenceResult[] = [];
  if (plan.base) {
    for (const t of tasks) references.push({ kind: 'base', model: plan.base.name, task: t.name, validation: base.validation[t.name]!, test: base.test[t.name]! });
  }
  for (const t of tasks) references.push({ kind: 'finetuned', model: finetunedName(t), task: t.name, validation: finetuned.validation[t.name]!, test: finetuned.test[t.name]! });
  context.updateEvaluation(plan.id, (e) => ({ ...e, references }));
  return { base, finetuned };
}

function finetunedName(task: TaskValue): string {
  return task.finetuned.name ?? `${task.name} (fine-tuned)`;
}

function referenceValues(plan: PlannedEvaluation, references: References, split: Split): ObjectiveReferences {
  const pick = (from: Readonly<Record<string, Metrics>>): Record<string, number | undefined> =>
    Object.fromEntries(plan.tasks.map((t) => [t.name, metricValue(from[t.name], t.metric)]));
  return { base: pick(references.base[split]), finetuned: pick(references.finetuned[split]) };
}

/** Evaluates every point of one model on validation, chooses one, and takes its test metrics; returns the chosen point. */
async function sweepModel(context: EvaluationContext, model: PlannedModel, references: References): Promise<SweepPoint> {
  const { plan, progress, program } = context;
  const objective = plan.statement.objective;
  const validation = referenceValues(plan, references, 'validation');
  // Points finish in any order with --jobs; the results list them in evaluation order, as a serial run does.
  const earlierPoints = context.evaluation(plan.id).points.length;
  const results: (SweepPointResult | undefined)[] = new Array(model.points.length);
  const scoredPoints = await runAll(context.limit, model.points.map((point, index) => async () => {
    const named = resultPoint(program, point);
    const label = Object.keys(named).length > 0 ? `${model.name} at ${Object.entries(named).map(([k, v]) => `${k}=${v}`).join(', ')}` : model.name;
    const found = await evaluateAt(context, model, point, 'validation', (task) => progress(`${label} on ${task.name} (validation)`));
    const metrics = Object.fromEntries(plan.tasks.map((t) => [t.name, found.get(t.task)!]));
    const scored = scorePoint(objective, plan.tasks, validation, metrics);
    const controlsVsBase = Object.fromEntries(plan.tasks.filter((t) => t.role === 'control').flatMap((t) => {
      const ratio = normalize(metricValue(metrics[t.name], t.metric), validation.base[t.name], t.higherIsBetter);
      return ratio === undefined ? [] : [[t.name, ratio]];
    }));
    const result: SweepPointResult = { model: model.name, point: named, split: 'validation', metrics, normalized: scored.normalized, score: scored.score, admissible: scored.admissible };
    results[index] = result;
    context.emit({ type: 'point', evaluation: plan.id, result });
    context.updateEvaluation(plan.id, (e) => ({ ...e, points: [...e.points.slice(0, earlierPoints), ...results.filter((r) => r !== undefined)] }));
    return { point, candidate: { point: named, scored, controlsVsBase } as Candidate };
  }));
  // In sweep order (smallest values first), so ties choose the smallest coefficients.
  const ordered = [...scoredPoints].sort((a, b) => comparePoints(model, a.point, b.point));
  const choice = choosePoint(objective, plan.tasks, ordered.map((s) => s.candidate));
  const chosen = ordered[choice.index]!.point;
  const named = resultPoint(program, chosen);
  const found = await evaluateAt(context, model, chosen, 'test', (task) => progress(`${model.name} on ${task.name} (test)`));
  const test = Object.fromEntries(plan.tasks.map((t) => [t.name, found.get(t.task)!]));
  const testRefs = referenceValues(plan, references, 'test');
  const normalized: Record<string, number> = {};
  const deltaVsBase: Record<string, number> = {};
  for (const t of plan.tasks) {
    const value = metricValue(test[t.name], t.metric);
    const n = normalize(value, testRefs.finetuned[t.name], t.higherIsBetter);
    if (n !== undefined) normalized[t.name] = n;
    const b = testRefs.base[t.name];
    if (value !== undefined && b !== undefined) deltaVsBase[t.name] = value - b;
  }
  const result: ChosenResult = { model: model.name, point: named, reason: choice.reason, test, normalized, deltaVsBase };
  context.emit({ type: 'chosen', evaluation: plan.id, result });
  context.updateEvaluation(plan.id, (e) => ({ ...e, chosen: [...e.chosen, result] }));
  return chosen;
}

/** A planned model's metrics at a point on the plan's tasks: the model itself, or an ensemble's mixture. */
function evaluateAt(context: EvaluationContext, model: PlannedModel, point: SweepPoint, split: Split, onTask: (task: TaskValue) => void): Promise<Map<TaskValue, Metrics>> {
  const tasks = context.plan.tasks.map((t) => t.task);
  if (!model.ensemble) return context.evaluator.evaluate(model.node, point, tasks, split, onTask);
  const { weights } = model.ensemble;
  return context.evaluator.evaluateEnsemble(model.ensemble, Array.isArray(weights) ? weights : context.posteriorWeights(weights as PosteriorValue), tasks, split, onTask);
}

interface PosteriorEstimates {
  readonly results: readonly PosteriorResult[];
  /** Each posterior coordinate's estimated weight, by SweepVar id. */
  readonly values: ReadonlyMap<number, number>;
}

/** Estimates every posterior of the program (evaluator.estimatePosterior), one after another. */
async function estimatePosteriors(program: TypedProgram, evaluator: ModelEvaluator, progress: (what: string) => void): Promise<PosteriorEstimates> {
  const results: PosteriorResult[] = [];
  const values = new Map<number, number>();
  for (const posterior of program.posteriors) {
    const estimate = await evaluator.estimatePosterior(posterior);
    posterior.variables.forEach((id, i) => values.set(id, estimate.weights[i]!));
    results.push({
      name: posterior.name,
      task: posterior.task.name,
      models: posterior.members.map((m) => m.name ?? `model ${m.id}`),
      weights: estimate.weights,
      documents: posterior.documents,
      documentsUsed: estimate.documents,
      ...(posterior.topk !== undefined ? { topk: posterior.topk } : {}),
    });
    progress(`posterior ${posterior.name} on ${posterior.task.name} (validation)`);
  }
  return { results, values };
}

/** The program with each posterior coordinate's one value the estimate instead of the uniform weight. */
function withEstimates(program: TypedProgram, values: ReadonlyMap<number, number>): TypedProgram {
  return { ...program, sweeps: program.sweeps.map((s) => (values.has(s.id) ? { ...s, values: [values.get(s.id)!] } : s)) };
}

/** A point as the results show it: the sweeps' values (posterior weights are in `posteriors`). */
function resultPoint(program: TypedProgram, point: SweepPoint): Record<string, number> {
  return namedPoint({ ...program, sweeps: program.sweeps.filter((s) => s.posterior === undefined) }, point);
}

function comparePoints(model: PlannedModel, a: SweepPoint, b: SweepPoint): number {
  for (const s of model.sweeps) {
    const d = a.get(s.id)! - b.get(s.id)!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The point each save runs at: an evaluated model's chosen point when the save writes
 * that model, else, per sweep, the value chosen by the first evaluated model that
 * depends on it. Saves sharing a point are written by one engine run. A model folder
 * output's card holds the run's evaluations.
 */
async function writeSaves(
  program: TypedProgram,
  chosen: readonly { readonly model: PlannedModel; readonly point: SweepPoint }[],
  notes: string[],
  context: {
    readonly backend: Backend; readonly text: string; readonly options: RecipeRunOptions; readonly emit: (event: RecipeEvent) => void;
    readonly evaluations: readonly EvaluationResult[]; readonly estimates: ReadonlyMap<number, number>;
  },
): Promise<OutputInfo[]> {
  // A posterior's weights are what the run estimated, whatever was evaluated.
  const firstChoice = new Map<number, { value: number; model: string }>([...context.estimates].map(([id, value]) => [id, { value, model: 'the posterior' }]));
  for (const { model, point } of chosen) {
    for (const [id, value] of point) {
      const earlier = firstChoice.get(id);
      if (!earlier) firstChoice.set(id, { value, model: model.name });
      else if (earlier.value !== value) {
        const name = program.sweeps.find((s) => s.id === id)?.name ?? String(id);
        notes.push(`sweep ${name}: ${earlier.model} chose ${earlier.value} and ${model.name} chose ${value}; saves of other values use ${earlier.value}`);
      }
    }
  }
  const groups = new Map<string, { point: SweepPoint; saves: SaveStatement[] }>();
  for (const save of program.saves) {
    const own = chosen.find((c) => c.model.node === save.node)?.point;
    const point = own ?? new Map([...sweepsOf(save.node)].map((id) => {
      const value = firstChoice.get(id)?.value;
      if (value === undefined) throw new EvaluationError('model', `line ${save.range.start.line + 1}: the saved value depends on sweep ${program.sweeps.find((s) => s.id === id)?.name ?? id}, which no evaluate(...) chose`);
      return [id, value];
    }));
    const key = JSON.stringify([...point].sort((a, b) => a[0] - b[0]));
    const group = groups.get(key) ?? { point, saves: [] };
    group.saves.push(save);
    groups.set(key, group);
  }
  const outputs: OutputInfo[] = [];
  for (const { point, saves } of groups.values()) {
    const { options } = context;
    const done = await runProgram({ ...program, saves }, {
      backend: context.backend,
      point,
      recipeText: context.text,
      modelCard: (request) => modelCard({ ...request, recipeText: context.text, evaluations: context.evaluations }),
      overwrite: options.force ?? false,
      confineOutputs: options.allowOutputsOutside !== true,
      ...(options.sync ? { sync: true } : {}),
      ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onEvent: (event) => {
        if (event.type === 'notice') notes.push(event.message);
        context.emit(event);
      },
    });
    for (const o of done.outputs) outputs.push({ ...o, point: resultPoint(program, point) });
  }
  return outputs;
}

function formatBytes(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}
