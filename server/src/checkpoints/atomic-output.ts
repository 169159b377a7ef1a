// Outputs appear whole or not at all: everything is written under a temporary name
// in the destination's directory (same file system, so rename is atomic) and renamed
// into place on commit. Temporaries are removed on abort, on error, and at exit.
import { link, lstat, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { forgetAtExit, removeAtExit } from '../exit-cleanup.ts';
import { checkpointError, writeFailure } from './errors.ts';

/** Names a directory output may hold; anything else makes `overwrite` refuse to delete it. */
const OUTPUT_FILE = /^(model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors|model\.json|group\d+-shard\d+of\d+\.bin)$/;

export interface AtomicOutput {
  /** Where the output will be once committed. */
  readonly destination: string;
  /** Where it is written meanwhile (a file, or a directory for multi-file outputs). */
  readonly temporary: string;
  readonly isDirectory: boolean;
  readonly overwrite: boolean;
}

async function existing(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw writeFailure(error, path, 'inspect the output path');
  }
}

/** Fails unless `destination` is absent, or may be replaced (overwrite, and of the same kind). */
async function checkReplaceable(destination: string, isDirectory: boolean, overwrite: boolean): Promise<void> {
  const stats = await existing(destination);
  if (!stats) return;
  if (!overwrite) throw checkpointError('output-exists', destination, 'output already exists; pass overwrite to replace it');
  if (stats.isDirectory() !== isDirectory || stats.isSymbolicLink()) {
    throw checkpointError('output-exists', destination, `output exists and is ${stats.isDirectory() ? 'a directory' : 'not a directory'}; refusing to replace it with a ${isDirectory ? 'directory' : 'file'}`);
  }
  if (isDirectory) {
    const strangers = (await readdir(destination)).filter((name) => !OUTPUT_FILE.test(name));
    if (strangers.length > 0) {
      throw checkpointError('output-exists', destination, `refusing to replace this directory: it holds files a checkpoint output does not write (${strangers.slice(0, 3).join(', ')}${strangers.length > 3 ? ', ...' : ''})`);
    }
  }
}

/** Checks the destination and creates the temporary (a directory for multi-file outputs). */
export async function beginAtomicOutput(destination: string, options: { isDirectory: boolean; overwrite?: boolean }): Promise<AtomicOutput> {
  const target = resolve(destination);
  const overwrite = options.overwrite ?? false;
  await checkReplaceable(target, options.isDirectory, overwrite);
  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw writeFailure(error, parent, 'create the output directory');
  }
  const temporary = join(parent, `.${basename(target)}.tvr-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  removeAtExit(temporary);
  if (options.isDirectory) {
    try {
      await mkdir(temporary);
    } catch (error) {
      forgetAtExit(temporary);
      throw writeFailure(error, temporary, 'create a temporary output directory');
    }
  }
  return { destination: target, temporary, isDirectory: options.isDirectory, overwrite };
}

/** Moves the finished temporary into place. On failure the temporary is removed. */
export async function commitAtomicOutput(output: AtomicOutput): Promise<void> {
  const { destination, temporary } = output;
  try {
    await checkReplaceable(destination, output.isDirectory, output.overwrite);
    if (!output.isDirectory && !output.overwrite) {
      // link() fails if the destination appeared meanwhile: no-clobber without a race.
      await linkOrRename(temporary, destination);
    } else if (output.isDirectory && (await existing(destination))) {
      const old = `${temporary}-old`;
      removeAtExit(old);
      await rename(destination, old);
      try {
        await rename(temporary, destination);
      } catch (error) {
        await rename(old, destination).catch(() => undefined);
        throw error;
      }
      await rm(old, { recursive: true, force: true });
      forgetAtExit(old);
    } else {
      await rename(temporary, destination);
    }
    forgetAtExit(temporary);
  } catch (error) {
    await discardAtomicOutput(output);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' || (error as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
      throw checkpointError('output-exists', destination, 'output appeared while it was being written; nothing was replaced');
    }
    throw writeFailure(error, destination, 'move the finished output into place');
  }
}

async function linkOrRename(temporary: string, destination: string): Promise<void> {
  try {
    await link(temporary, destination);
  } catch (error) {
    // File systems without hard links: fall back to checking, then renaming.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EMLINK') throw error;
    if (await existing(destination)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
    await rename(temporary, destination);
    return;
  }
  await unlink(temporary);
}

/** Removes the temporary (idempotent). */
export async function discardAtomicOutput(output: AtomicOutput): Promise<void> {
  await rm(output.temporary, { recursive: true, force: true }).catch(() => undefined);
  forgetAtExit(output.temporary);
}
