// The one error type evaluation rejects with: a message naming the task, the split and
// the file at fault, and a stable code the CLI reports (`run-error` events).

export type EvaluationErrorCode =
  /** The evaluation data is missing, malformed or does not fit the model. */
  | 'data'
  /** The task's model cannot be evaluated by the built-in evaluator (topology, weights, outputs). */
  | 'model'
  /** An external evaluator command failed: spawn, exit status, timeout or output. */
  | 'external'
  /** An external evaluator command in an untrusted workspace. */
  | 'untrusted'
  /** The GPU failed during an evaluation step (a WebGPU validation error, out of memory, a lost device) or cannot hold a tensor. */
  | 'device'
  | 'cancelled';

export class EvaluationError extends Error {
  readonly code: EvaluationErrorCode;
  readonly file?: string;
  constructor(code: EvaluationErrorCode, message: string, details: { readonly file?: string; readonly cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'EvaluationError';
    this.code = code;
    if (details.file !== undefined) this.file = details.file;
  }
}

export function evaluationCancelled(): EvaluationError {
  return new EvaluationError('cancelled', 'run cancelled');
}
