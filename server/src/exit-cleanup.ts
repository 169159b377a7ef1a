// Paths removed when the process exits, whatever ends it: temporaries of outputs being
// written and of evaluations in flight, so that a run stopped early leaves nothing behind.
import { rmSync } from 'node:fs';

const paths = new Set<string>();
let hookInstalled = false;

/** Removes `path` (a file or a directory tree) at exit, unless `forgetAtExit` is called first. */
export function removeAtExit(path: string): void {
  if (!hookInstalled) {
    hookInstalled = true;
    process.once('exit', () => {
      for (const p of paths) rmSync(p, { recursive: true, force: true });
    });
  }
  paths.add(path);
}

/** `path` was moved into place or removed already: leave it alone at exit. */
export function forgetAtExit(path: string): void {
  paths.delete(path);
}
