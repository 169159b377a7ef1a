// Worker entry points are `*.worker.ts` in source and `dist/<name>.worker.mjs` when
// bundled; every bundle chunk sits in dist/ or dist/chunks/, so the bundled path is
// found relative to the running module.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * @param sourceUrl `new URL('./name.worker.ts', import.meta.url)` from the caller.
 */
export function workerUrl(sourceUrl: URL): URL {
  if (sourceUrl.protocol === 'file:' && existsSync(fileURLToPath(sourceUrl))) return sourceUrl;
  const base = sourceUrl.pathname.split('/').pop()!.replace(/\.ts$/, '.mjs');
  for (const candidate of [new URL(`./${base}`, import.meta.url), new URL(`../${base}`, import.meta.url)]) {
    if (existsSync(fileURLToPath(candidate))) return candidate;
  }
  throw new Error(`worker ${base} not found beside ${fileURLToPath(import.meta.url)}`);
}
