// One evaluation by itself: a checkpoint on one task of a recipe, on one split, by the
// same evaluator `tvr run` uses. It is what a cluster node runs for a built-in task
// (`tvr eval`, started by the Slurm executor), and a way to score any checkpoint on a
// recipe's task by hand. Nothing is cached or written.
import { dirname, resolve } from 'node:path';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { TensorReader } from '../checkpoints/tensor-reader.ts';
import { selectBackend } from '../engine/backends/registry.ts';
import type { Split } from '../engine/evaluation/data.ts';
import { EvaluationError } from '../engine/evaluation/errors.ts';
import { planCompute, tfRuntimeFor } from '../engine/evaluation/tfjs-runtime.ts';
import type { RunBackendChoice } from '../engine/evaluation/tfjs-runtime.ts';
import { createBuffers } from '../engine/evaluation/weights.ts';
import { analyzeFile } from '../language/analysis.ts';
import { inputHeaders, type TaskValue } from '../language/program.ts';
import type { Metrics } from '../results/schema.ts';
import { ResultsCache } from './cache.ts';
import { ModelEvaluator } from './evaluator.ts';
import { readRecipe, RecipeCheckError } from './run-recipe.ts';

export interface CheckpointEvaluation {
  readonly recipe: string;
  /** The task's name, as the results name it. */
  readonly task: string;
  readonly split: Split;
  /** A checkpoint file or model folder, as load(...) takes it. */
  readonly model: string;
  readonly backend?: RunBackendChoice;
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
  readonly log?: (level: 'info' | 'warning', message: string) => void;
}

export async function evaluateCheckpoint(request: CheckpointEvaluation): Promise<Metrics> {
  const file = resolve(request.recipe);
  const text = await readRecipe(file);
  // The model joins the recipe as one more load, so it is read, typed and anchored as the recipe's own models are.
  const name = unusedName(text);
  const headers = new HeaderCache();
  const analysis = await analyzeFile(`${text}\n${name} = load(${JSON.stringify(resolve(request.model))})\n`, file, headers);
  // An error on the added line is about --model, not about the recipe: said as such, not as a line the file does not have.
  const modelErrors = analysis.diagnostics.filter((d) => d.severity === 'error' && d.span.start > text.length);
  if (modelErrors.length > 0) throw new EvaluationError('model', `--model ${request.model}: ${modelErrors.map((d) => d.message).join('; ')}`);
  if (analysis.diagnostics.some((d) => d.severity === 'error')) throw new RecipeCheckError(analysis);
  const program = analysis.checked.program;
  const task = findTask(program.evaluations.flatMap((e) => [...e.targets, ...e.controls]), request.task, file);
  const model = program.loads.find((l) => l.path === resolve(request.model))!;

  const compute = await planCompute(request.backend ?? 'auto');
  const { backend } = await selectBackend(compute.engine);
  const reader = new TensorReader(inputHeaders(program));
  const evaluator = new ModelEvaluator({
    weights: { program, backend, reader, buffers: createBuffers(backend), ...(request.signal ? { signal: request.signal } : {}) },
    recipeText: text,
    recipePath: file,
    recipeDir: dirname(file),
    headers,
    runtime: () => tfRuntimeFor(backend.name, compute.evaluation),
    cache: new ResultsCache(undefined, () => {}),
    log: request.log ?? (() => {}),
    ...(request.batchSize !== undefined ? { batchSize: request.batchSize } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  try {
    const found = await evaluator.evaluate(model, new Map(), [task], request.split);
    return found.get(task)!;
  } finally {
    await evaluator.close();
    await reader.close();
    await backend.close();
  }
}

function unusedName(text: string): string {
  let n = 0;
  while (new RegExp(`\\btvr_eval_model_${n}\\b`).test(text)) n++;
  return `tvr_eval_model_${n}`;
}

/** The task of that name among the recipe's evaluate(...) statements; one task, or a message listing them. */
function findTask(tasks: readonly TaskValue[], name: string, file: string): TaskValue {
  const named = [...new Set(tasks.filter((t) => t.name === name))];
  if (named.length === 1) return named[0]!;
  const all = [...new Set(tasks.map((t) => t.name))];
  if (named.length === 0) throw new EvaluationError('model', `${file} has no task named '${name}' in an evaluate(...) statement${all.length > 0 ? `; its tasks: ${all.join(', ')}` : ''}`);
  throw new EvaluationError('model', `${file} has ${named.length} different tasks named '${name}' (lines ${named.map((t) => t.range.start.line + 1).join(', ')}); give them distinct names with name="..."`);
}
