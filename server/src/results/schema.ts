// The results of a recipe run: the single source for the terminal table, the VS Code
// webview, CSV/JSON export and anything else. Written as `<recipe>.results.json` next
// to the recipe (or in the run's --out folder); documented in docs/results.md.
// Version the schema: readers reject a major version they do not know.

import type { MetricName, Metrics } from '../engine/evaluation/metrics.ts';
import type { Objective, PointValues, TaskRole } from '../engine/sweep/objective.ts';

// Defined by the stages that produce them (evaluation, the sweep's objective); part of the contract here.
export type { MetricName, Metrics, Objective, PointValues, TaskRole };

export const RESULTS_SCHEMA_VERSION = 1;

export interface TaskInfo {
  readonly name: string;
  readonly role: TaskRole;
  /** The metric reported and used by the objective. */
  readonly metric: MetricName;
  /** Accuracy: higher is better; loss and perplexity: lower is better. */
  readonly higherIsBetter: boolean;
  readonly data: string;
  readonly evaluator: 'builtin' | 'external';
}

/** One edited model evaluated at one sweep point on the validation split. */
export interface SweepPointResult {
  readonly model: string;
  readonly point: PointValues;
  readonly split: 'validation';
  /** Task name -> metrics. */
  readonly metrics: Readonly<Record<string, Metrics>>;
  /** Task name -> metric / fine-tuned metric on that task (for accuracy). */
  readonly normalized: Readonly<Record<string, number>>;
  /** The objective's value at this point (higher is better after orientation). */
  readonly score: number;
  /** False when a constraint fails (e.g. a control below 95% of the base for `forget`). */
  readonly admissible: boolean;
}

/** The references a reader needs: the base, and each fine-tuned model on its own task. */
export interface ReferenceResult {
  readonly kind: 'base' | 'finetuned';
  /** For fine-tuned references, the task it was fine-tuned for (evaluated on that task only). */
  readonly model: string;
  readonly task: string;
  readonly validation: Metrics;
  readonly test: Metrics;
}

/** Test metrics of an edited model at its chosen point. */
export interface ChosenResult {
  readonly model: string;
  readonly point: PointValues;
  /** Why this point: the objective and how the point satisfied it. */
  readonly reason: string;
  /** Task name -> test metrics. */
  readonly test: Readonly<Record<string, Metrics>>;
  /** Task name -> test metric / fine-tuned test metric. */
  readonly normalized: Readonly<Record<string, number>>;
  /** Task name -> test metric - base test metric. */
  readonly deltaVsBase: Readonly<Record<string, number>>;
}

/** One `evaluate(...)` statement. */
export interface EvaluationResult {
  readonly id: number;
  /** One-based line of the `evaluate(...)` statement in the recipe. */
  readonly line?: number;
  readonly models: readonly string[];
  /** The base model the references and deltas use (the model the task vectors subtract), when there is one. */
  readonly base?: string;
  readonly objective: Objective;
  /** A sentence, e.g. "lowest target accuracy keeping every control >= 95% of the base". */
  readonly objectiveDescription: string;
  readonly tasks: readonly TaskInfo[];
  readonly references: readonly ReferenceResult[];
  /** In the order they finished. */
  readonly points: readonly SweepPointResult[];
  readonly chosen: readonly ChosenResult[];
}

export interface SweepInfo {
  readonly name: string;
  readonly values: readonly number[];
}

/** Cosine similarities between the recipe's task vectors. */
export interface SimilarityMatrix {
  readonly vectors: readonly string[];
  /** Row-major, vectors.length squared. */
  readonly cosine: readonly (readonly number[])[];
  readonly norms: readonly number[];
}

export interface OutputInfo {
  readonly path: string;
  readonly format: string;
  readonly tensors: number;
  readonly bytes: number;
  readonly point: PointValues;
}

/** A posterior(...) as the run estimated it: one weight per model, in the recipe's order. */
export interface PosteriorResult {
  readonly name: string;
  readonly task: string;
  readonly models: readonly string[];
  readonly weights: readonly number[];
  /** Validation documents asked for (n=) and those that gave evidence. */
  readonly documents: number;
  readonly documentsUsed: number;
  readonly topk?: number;
}

export interface RunResults {
  readonly schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  readonly tvrVersion: string;
  readonly recipe: { readonly path: string; readonly sha256: string };
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly status: 'running' | 'done' | 'failed' | 'cancelled';
  readonly error?: string;
  readonly backend: { readonly name: string; readonly reason: string };
  /** The TensorFlow.js backend networks are evaluated on (built-in evaluator), when one was needed. */
  readonly evaluationBackend?: {
    readonly name: string;
    readonly reason: string;
    /** The WebGPU adapter it computed on (backend webgpu). */
    readonly adapter?: { readonly vendor: string; readonly architecture: string; readonly description: string };
  };
  /** Evaluations computed in this run and taken from the results cache. */
  readonly counts?: { readonly evaluated: number; readonly cached: number };
  readonly sweeps: readonly SweepInfo[];
  readonly evaluations: readonly EvaluationResult[];
  readonly similarity?: SimilarityMatrix;
  /** Posteriors estimated by the run (posterior(...)), before the evaluations that use them. */
  readonly posteriors?: readonly PosteriorResult[];
  readonly outputs: readonly OutputInfo[];
  /** Notices a reader should see (integer tensors copied, cache hits, skipped points). */
  readonly notes: readonly string[];
}

/**
 * JSON-lines events of `tvr run --json`, in order. Engine events (`start`, `progress`,
 * `tensor`, `notice`, `output`, `error`) pass through unchanged; the run adds these,
 * and `results` carries the whole RunResults after every change so a viewer can
 * simply redraw from the latest one.
 */
export type RecipeRunEvent =
  | { readonly type: 'run-start'; readonly recipe: string; readonly backend: string; readonly reason: string; readonly points: number; readonly evaluations: number; readonly resultsFile?: string }
  | { readonly type: 'evaluation-progress'; readonly done: number; readonly total: number; readonly what: string }
  | { readonly type: 'point'; readonly evaluation: number; readonly result: SweepPointResult }
  | { readonly type: 'chosen'; readonly evaluation: number; readonly result: ChosenResult }
  | { readonly type: 'results'; readonly results: RunResults }
  | { readonly type: 'run-done'; readonly resultsFile: string; readonly seconds: number }
  | { readonly type: 'run-error'; readonly message: string; readonly code: string }
  /** A line for the log (an external evaluator's stderr, notes): the editor shows it in its output channel. */
  | { readonly type: 'log'; readonly level: 'info' | 'warning'; readonly message: string };
