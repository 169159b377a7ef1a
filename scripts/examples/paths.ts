// Where the examples live, and the shared entry-point plumbing of the scripts.
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceError } from './sources.ts';

export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const examplesDir = join(repositoryRoot, 'examples');

/** True when the module at `url` is the script Node was started with. */
export function isMain(url: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/** Prints a failure without a stack trace for expected problems (missing sources), and sets the exit code. */
export function reportFailure(error: unknown): void {
  const message = error instanceof SourceError || (error as { name?: string })?.name === 'CheckpointError'
    ? (error as Error).message
    : (error as Error)?.stack ?? String(error);
  console.error(`error: ${message}`);
  process.exitCode = 1;
}
