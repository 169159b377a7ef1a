// `tvr eval RECIPE --task NAME --split SPLIT --model CHECKPOINT`: one evaluation, printed
// as the external evaluator protocol's JSON object (docs/evaluation.md), the last line on
// stdout. The Slurm executor runs it on a node for every built-in evaluation; by hand it
// scores any checkpoint on a recipe's task. Exit 0 with metrics, 1 on a failed
// evaluation, 2 when the recipe cannot be read.
import { resolve } from 'node:path';
import type { Split } from '../engine/evaluation/data.ts';
import type { RunBackendChoice } from '../engine/evaluation/tfjs-runtime.ts';
import { evaluateCheckpoint } from '../run/evaluate-checkpoint.ts';
import { RecipeReadError } from '../run/run-recipe.ts';
import { visibleControls } from '../display-text.ts';
import { reportRecipeFailure } from './recipe-failure.ts';

export interface EvalCommandOptions {
  readonly task: string;
  readonly split: Split;
  readonly model: string;
  readonly backend?: string;
  readonly batchSize?: number;
}

export async function evalCommand(recipe: string, options: EvalCommandOptions): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // tfjs may print to stdout, which carries only the metrics.
  const log = console.log;
  console.log = (...args: unknown[]) => console.error(...args);
  try {
    const metrics = await evaluateCheckpoint({
      recipe,
      task: options.task,
      split: options.split,
      model: options.model,
      ...(options.backend !== undefined ? { backend: options.backend as RunBackendChoice } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      signal: controller.signal,
      log: (level, message) => process.stderr.write(`${level === 'warning' ? 'warning: ' : ''}${visibleControls(message)}\n`),
    });
    const { seconds: _seconds, cached: _cached, ...protocol } = metrics;
    process.stdout.write(`${JSON.stringify(protocol)}\n`);
    return 0;
  } catch (error) {
    reportRecipeFailure(error, resolve(recipe), 'nothing was evaluated');
    return error instanceof RecipeReadError ? 2 : 1;
  } finally {
    console.log = log;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
