// The results cache: what an evaluation (or a similarity matrix) produced, stored
// under `.tvr-cache/` beside the results file and keyed by a hash of everything that
// determines it (input file identities, the model's structure at the point, task,
// split, evaluator). An unchanged re-run finds every entry and evaluates nothing.
// Entries are written atomically; an unreadable or corrupt entry is a miss.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Bump when what an entry means changes (metric definitions, key layout). */
export const CACHE_FORMAT = 1;

export const CACHE_DIRECTORY = '.tvr-cache';

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class ResultsCache {
  readonly #dir: string | undefined;
  readonly #onProblem: (message: string) => void;
  #disabled = false;

  /** `dir` undefined: a cache that never hits nor stores (--no-cache). */
  constructor(dir: string | undefined, onProblem: (message: string) => void) {
    this.#dir = dir;
    this.#onProblem = onProblem;
  }

  get enabled(): boolean {
    return this.#dir !== undefined && !this.#disabled;
  }

  async get<T>(kind: string, key: string): Promise<T | undefined> {
    if (!this.enabled) return undefined;
    try {
      const entry = JSON.parse(await readFile(this.#path(kind, key), 'utf8')) as { format?: number; key?: string; value?: T };
      return entry.format === CACHE_FORMAT && entry.key === key ? entry.value : undefined;
    } catch {
      return undefined;
    }
  }

  async put(kind: string, key: string, value: unknown, about: unknown): Promise<void> {
    if (!this.enabled) return;
    const path = this.#path(kind, key);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(join(this.#dir!, kind), { recursive: true });
      await writeFile(temporary, JSON.stringify({ format: CACHE_FORMAT, key, about, value }));
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      this.#disabled = true;
      this.#onProblem(`cannot write the results cache in ${this.#dir}: ${(error as Error).message}; this run continues without caching`);
    }
  }

  #path(kind: string, key: string): string {
    return join(this.#dir!, kind, `${key}.json`);
  }
}
