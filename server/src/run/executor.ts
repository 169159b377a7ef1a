// Where a run's evaluations happen. `local`: built-in evaluations in this process (one
// network at a time, see evaluator.ts), external commands as processes of this machine.
// `slurm`: every evaluation becomes a Slurm job: an external command as it is, a built-in
// one as `tvr eval` (the same evaluator, started on a node), each reading the model from a
// folder every node can read. Up to `--jobs` of them run at once either way.
import { CommandTemplateError, expandCommand, parseCommandTemplate } from '../engine/evaluation/command.ts';

export type Executor = LocalExecutor | SlurmExecutor;

export interface LocalExecutor {
  readonly kind: 'local';
}

export interface SlurmExecutor {
  readonly kind: 'slurm';
  /** Models written for the jobs, the jobs' scripts and logs: a folder every node reads and writes. */
  readonly sharedDir: string;
  /** Passed to sbatch before the job script (`--gres=gpu:1 --time=30`). */
  readonly slurmArgs: readonly string[];
  /** How a node starts this tvr (the Node binary and the CLI script, at the same paths on every node). */
  readonly tvr: readonly string[];
}

export const EXECUTORS = ['local', 'slurm'] as const;

/** sbatch options from one string, split like a command (quotes keep spaces; nothing is expanded). */
export function parseSlurmArgs(text: string): string[] {
  if (text.trim() === '') return [];
  const parsed = parseCommandTemplate(text);
  if (parsed.some((arg) => arg.some((part) => typeof part !== 'string'))) {
    throw new CommandTemplateError('Slurm options take no placeholders such as {model}');
  }
  return expandCommand(parsed, { model: '', head: '', task: '', split: '', data: '' });
}
