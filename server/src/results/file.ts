// Where the results file lives, and writing it atomically (a temporary name in the same
// folder, then rename) so a reader never sees half a file, however often it is rewritten.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { RunResults } from './schema.ts';
import { parseResults, ResultsFormatError } from './validate.ts';

/** `edit.tvr` -> `edit.results.json`, next to the recipe or in `outDir`. */
export function resultsPath(recipe: string, outDir?: string): string {
  const name = basename(recipe).replace(/\.tvr$/i, '');
  return join(outDir ?? dirname(recipe), `${name}.results.json`);
}

export async function writeResultsFile(path: string, results: RunResults): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, `${JSON.stringify(results, null, 2)}\n`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Reads and validates a results file; the error names the file. */
export async function readResultsFile(path: string): Promise<RunResults> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ResultsFormatError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  try {
    return parseResults(text);
  } catch (error) {
    throw new ResultsFormatError(`${path}: ${(error as Error).message}`);
  }
}

/**
 * Rewrites one results file after every change, one write at a time: a change made
 * while a write is in flight is written right after it (only the latest state).
 */
export class ResultsWriter {
  readonly path: string;
  #pending: RunResults | undefined;
  #writing: Promise<void> = Promise.resolve();
  #failure: unknown;

  constructor(path: string) {
    this.path = path;
  }

  /** Schedules a write of `results`; failures surface from `flush`. */
  update(results: RunResults): void {
    const idle = this.#pending === undefined;
    this.#pending = results;
    if (!idle) return;
    this.#writing = this.#writing.then(async () => {
      const latest = this.#pending!;
      this.#pending = undefined;
      try {
        await writeResultsFile(this.path, latest);
      } catch (error) {
        this.#failure ??= error;
      }
    });
  }

  /** Waits for every scheduled write; throws the first write failure. */
  async flush(): Promise<void> {
    await this.#writing;
    if (this.#failure !== undefined) throw this.#failure;
  }
}
