// Where the results file lives, and writing it atomically (a temporary name in the same
// folder, owned by this process, then rename) so a reader never sees half a file, however
// often it is rewritten. It never replaces a file that is not a results file.
import { cleanStaleTemporaries, ownedName } from '../checkpoints/atomic-output.ts';
import { openRegularFile } from '../checkpoints/open-input.ts';
import { EngineError } from '../engine/errors.ts';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resultsFileName } from '../language/run-files.ts';
import type { RunResults } from './schema.ts';
import { parseResults, ResultsFormatError } from './validate.ts';

/** `edit.tvr` -> `edit.results.json`, next to the recipe or in `outDir`. */
export function resultsPath(recipe: string, outDir?: string): string {
  return join(outDir ?? dirname(recipe), resultsFileName(recipe));
}

export async function writeResultsFile(path: string, results: RunResults): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await refuseForeignFile(path);
  const temporary = join(dirname(path), ownedName(basename(path), 'tmp'));
  try {
    await writeFile(temporary, `${JSON.stringify(results, null, 2)}\n`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** What every results file starts with (`schemaVersion` is written first). */
const RESULTS_START = /^\{\s*"schemaVersion"\s*:/;

/**
 * A results file replaces only an earlier results file: anything else at its path (a
 * checkpoint the recipe loads, say) is refused, whatever the checker saw, so no race or
 * `--out` folder can make a run replace an input with its results.
 */
async function refuseForeignFile(path: string): Promise<void> {
  let head: string;
  try {
    const { handle } = await openRegularFile(path, 'a results file');
    try {
      const bytes = new Uint8Array(64);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      head = new TextDecoder().decode(bytes.subarray(0, bytesRead));
    } finally {
      await handle.close().catch(() => undefined);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new EngineError('output', `cannot write the results file ${path}: ${(error as Error).message}`, { file: path });
  }
  if (!RESULTS_START.test(head)) {
    throw new EngineError('output', `refusing to replace ${path} with the results of this run: it is not a tvr results file (an input of the recipe?). Rename that file or the recipe, or write the results elsewhere with --out`, { file: path });
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
  #tidied = false;

  constructor(path: string) {
    this.path = path;
  }

  /** Schedules a write of `results`; failures surface from `flush`. */
  update(results: RunResults): void {
    const idle = this.#pending === undefined;
    this.#pending = results;
    if (!idle) return;
    // The first write of a run also removes what killed runs left in the folder.
    if (!this.#tidied) {
      this.#tidied = true;
      this.#writing = this.#writing.then(() => cleanStaleTemporaries(dirname(this.path))).then(() => undefined);
    }
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
