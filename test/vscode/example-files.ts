// Files of the repository's own examples for a scenario that runs an example as a user
// would. Kept apart from workspace.ts, which the in-extension-host suite bundles as
// CommonJS (where import.meta is not available).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkspaceFiles } from './workspace.ts';

const examplesDir = fileURLToPath(new URL('../../examples/', import.meta.url));

/**
 * Recipes, and checkpoint or data folders and files under examples/. The checkpoints
 * come from `npm run examples:train` (npm test trains them before this suite).
 */
export function exampleFiles(paths: readonly string[]): WorkspaceFiles {
  const files: Record<string, Uint8Array> = {};
  const add = (rel: string): void => {
    const absolute = join(examplesDir, rel);
    if (!existsSync(absolute)) throw new Error(`examples/${rel} is missing: run \`npm run examples:train\` first`);
    if (statSync(absolute).isDirectory()) for (const entry of readdirSync(absolute)) add(`${rel}/${entry}`);
    else files[rel] = readFileSync(absolute);
  };
  for (const path of paths) add(path);
  return files;
}
