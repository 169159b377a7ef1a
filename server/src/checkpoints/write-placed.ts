// A safetensors output written in place: every file is created up front with its header
// and its final size, each tensor gets a fixed byte offset, and other threads write
// their chunks there in any order (positional writes need no ordering). The output is
// atomic like the streaming writer's: nothing appears at the destination before commit,
// and abort removes everything.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { commitAtomicOutput, discardAtomicOutput } from './atomic-output.ts';
import type { AtomicOutput } from './atomic-output.ts';
import { writeFailure } from './errors.ts';
import { beginSafetensorsOutput } from './write-safetensors.ts';
import type { SafetensorsWriterOptions } from './write-safetensors.ts';
import { BackgroundSync, tensorByteLength } from './write-stream.ts';
import type { OutputTensor } from './write-stream.ts';

/** Where one tensor's bytes go: a file of the output and the byte offset in it. */
export interface TensorPlacement {
  readonly file: number;
  readonly offset: number;
}

interface OpenFile {
  readonly path: string;
  readonly handle: FileHandle;
  /** Background syncs while the threads write (when syncing); a failure fails the commit. */
  readonly background: BackgroundSync | undefined;
}

export class PlacedSafetensorsOutput {
  readonly tensors: readonly OutputTensor[];
  readonly placements: readonly TensorPlacement[];
  readonly #output: AtomicOutput;
  readonly #files: OpenFile[];
  readonly #finish: () => Promise<void>;
  readonly #sync: boolean;
  #state: 'open' | 'done' | 'failed' = 'open';

  private constructor(output: AtomicOutput, tensors: readonly OutputTensor[], placements: readonly TensorPlacement[], files: OpenFile[], finish: () => Promise<void>, sync: boolean) {
    this.#output = output;
    this.tensors = tensors;
    this.placements = placements;
    this.#files = files;
    this.#finish = finish;
    this.#sync = sync;
  }

  /** Creates the files (header written, full size reserved) under a temporary name. */
  static async create(destination: string, tensors: readonly OutputTensor[], options: SafetensorsWriterOptions = {}): Promise<PlacedSafetensorsOutput> {
    const { output, files, fileOf, finish } = await beginSafetensorsOutput(destination, tensors, options);
    const opened: OpenFile[] = [];
    try {
      for (const file of files) {
        const handle = await open(file.path, 'wx');
        opened.push({ path: file.path, handle, background: (options.sync ?? true) ? new BackgroundSync(handle) : undefined });
        await handle.write(file.prefix, 0, file.prefix.length, 0);
        await handle.truncate(file.prefix.length + file.dataBytes);
      }
    } catch (error) {
      await Promise.allSettled(opened.map((f) => f.handle.close()));
      await discardAtomicOutput(output);
      throw writeFailure(error, output.destination, `create ${basename(opened.at(-1)?.path ?? output.temporary)} (nothing was left behind)`);
    }
    const next = files.map((f) => f.prefix.length);
    const placements = tensors.map((t, i): TensorPlacement => {
      const file = fileOf[i]!;
      const offset = next[file]!;
      next[file] = offset + tensorByteLength(t);
      return { file, offset };
    });
    return new PlacedSafetensorsOutput(output, tensors, placements, opened, finish, options.sync ?? true);
  }

  get destination(): string {
    return this.#output.destination;
  }

  /** The temporary paths the writing threads open, by file index. */
  get paths(): readonly string[] {
    return this.#files.map((f) => f.path);
  }

  /**
   * Notes `bytes` more written to file `file` by some thread. With sync on, background
   * datasyncs write the data out while the rest is computed, so the final sync is short.
   */
  wrote(file: number, bytes: number): void {
    if (this.#state === 'open') this.#files[file]!.background?.wrote(bytes);
  }

  /** Syncs (unless sync is off), closes, writes the index of a sharded output, and moves the output into place. */
  async commit(): Promise<void> {
    if (this.#state !== 'open') throw new Error(`${this.destination} is already ${this.#state === 'done' ? 'committed' : 'aborted'}`);
    try {
      await Promise.all(this.#files.map(async (f) => {
        try {
          await f.background?.settle();
          if (this.#sync) await f.handle.sync();
        } catch (error) {
          throw writeFailure(error, this.destination, `write ${basename(f.path)} to disk (nothing was left behind)`);
        }
      }));
      await Promise.all(this.#files.map((f) => f.handle.close()));
      await this.#finish();
      await commitAtomicOutput(this.#output);
      this.#state = 'done';
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Removes everything written so far. Safe to call more than once, and after a failure. */
  async abort(): Promise<void> {
    if (this.#state === 'done') return;
    this.#state = 'failed';
    await Promise.allSettled(this.#files.map(async (f) => {
      await f.background?.settle().catch(() => undefined);
      await f.handle.close();
    }));
    await discardAtomicOutput(this.#output);
  }
}
