// The one error type a run rejects with: a message a user can act on, plus where it
// comes from (tensor, file, recipe range), so the CLI and the editor can point at it.
import type { Range } from '../language/program.ts';

export type EngineErrorCode =
  /** The program cannot be planned (no sweep value, missing tensor, bad argument). */
  | 'plan'
  /** An input could not be read (missing, truncated, changed on disk). */
  | 'input'
  /** An output could not be written, or would overwrite something it must not. */
  | 'output'
  /** The run computed NaN or an infinity from finite inputs (an overflow): nothing was written. */
  | 'non-finite'
  /** The backend asked for cannot be used. */
  | 'backend'
  | 'cancelled'
  /** A failure tvr did not anticipate (a bug): the message says what it was. */
  | 'internal';

export interface EngineErrorDetails {
  readonly tensor?: string;
  readonly file?: string;
  readonly range?: Range;
  readonly cause?: unknown;
}

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly tensor?: string;
  readonly file?: string;
  readonly range?: Range;
  constructor(code: EngineErrorCode, message: string, details: EngineErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'EngineError';
    this.code = code;
    if (details.tensor !== undefined) this.tensor = details.tensor;
    if (details.file !== undefined) this.file = details.file;
    if (details.range !== undefined) this.range = details.range;
  }
}

export function cancelled(): EngineError {
  return new EngineError('cancelled', 'run cancelled');
}

/** "line 3" for messages (ranges are zero-based). */
export function lineOf(range: Range): string {
  return `line ${range.start.line + 1}`;
}
