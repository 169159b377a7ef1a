// Turning file-system failures into CheckpointErrors with a message a user can act on.
import { CheckpointError } from './types.ts';
import type { CheckpointErrorCode } from './types.ts';

export function checkpointError(code: CheckpointErrorCode, file: string, message: string): CheckpointError {
  return new CheckpointError(code, file, `${file}: ${message}`);
}

function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent of this path is not a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
};

/** Short human reason for a file-system error (`permission denied`), with the errno name. */
export function reasonOf(error: unknown): string {
  const code = errnoOf(error);
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** A failure to open or read an input: `not-found` for a missing path, `unreadable` otherwise. */
export function readFailure(error: unknown, file: string, action: string): CheckpointError {
  if (error instanceof CheckpointError) return error;
  const code = errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR' ? 'not-found' : 'unreadable';
  return checkpointError(code, file, `cannot ${action}: ${reasonOf(error)}`);
}

/** A failure to write an output (ENOSPC, EACCES, ...), naming the path written. */
export function writeFailure(error: unknown, file: string, action: string): CheckpointError {
  if (error instanceof CheckpointError) return error;
  return checkpointError('write-failed', file, `cannot ${action}: ${reasonOf(error)}`);
}
