// What is tidied when the process exits, whatever ends it: work still running elsewhere
// (evaluator processes, cluster jobs) is stopped first, then temporaries of outputs being
// written and of evaluations in flight are removed, so that a run stopped early leaves
// nothing behind; an old output moved aside for its replacement is put back if the new
// one is not in place yet. (A kill -9 runs none of this: the next run in that folder
// cleans up, see cleanStaleTemporaries in checkpoints/atomic-output.ts.)
import { lstatSync, renameSync, rmSync } from 'node:fs';

/** Each path, and where to put it back (a destination left empty), or nothing to remove it. */
const paths = new Map<string, string | undefined>();
/** Synchronous stops of work still running, run before the paths are tidied (its files may be among them). */
const stops = new Set<() => void>();
let hookInstalled = false;

function installHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const stop of stops) {
      try {
        stop();
      } catch {
        // Exiting: the rest is still stopped and tidied.
      }
    }
    for (const [path, restoreTo] of paths) {
      try {
        if (restoreTo !== undefined && lstatSync(restoreTo, { throwIfNoEntry: false }) === undefined) renameSync(path, restoreTo);
        else rmSync(path, { recursive: true, force: true });
      } catch {
        // Exiting: what could not be tidied is found by the next run.
      }
    }
  });
}

/** Removes `path` (a file or a directory tree) at exit, unless `forgetAtExit` is called first. */
export function removeAtExit(path: string): void {
  installHook();
  paths.set(path, undefined);
}

/** At exit, moves `path` back to `destination` if nothing is there (else removes it), unless `forgetAtExit` is called first. */
export function restoreAtExit(path: string, destination: string): void {
  installHook();
  paths.set(path, destination);
}

/** `path` was moved into place or removed already: leave it alone at exit. */
export function forgetAtExit(path: string): void {
  paths.delete(path);
}

/** Runs `stop` (synchronously) at exit, unless the returned function is called first: the work ended by itself. */
export function stopAtExit(stop: () => void): () => void {
  installHook();
  stops.add(stop);
  return () => stops.delete(stop);
}
