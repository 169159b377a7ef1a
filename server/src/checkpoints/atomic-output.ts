// Outputs appear whole or not at all: everything is written under a temporary name
// in the destination's directory (same file system, so rename is atomic) and renamed
// into place on commit. Temporaries are removed on abort, on error, and at exit.
//
// A kill -9 runs no exit handler, so temporaries are named after their owner (pid and
// process start time): the next run that writes into that folder removes those whose
// owner is gone, never those of a live concurrent run. Replacing a folder output takes
// two renames (old aside, new into place; Linux swaps two folders atomically only with
// renameat2(RENAME_EXCHANGE), which Node does not offer): a kill between them leaves the
// old output under an owned `-old` name, and the next run puts it back at the final name.
import { readFileSync } from 'node:fs';
import { link, lstat, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { forgetAtExit, removeAtExit, restoreAtExit } from '../exit-cleanup.ts';
import { checkpointError, writeFailure } from './errors.ts';
import { identityOf } from './locate.ts';

/** Names a directory output may hold; anything else makes `overwrite` refuse to delete it. */
const OUTPUT_FILE = /^(model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors|model\.json|group\d+-shard\d+of\d+\.bin)$/;

export interface AtomicOutput {
  /** Where the output will be once committed. */
  readonly destination: string;
  /** Where it is written meanwhile (a file, or a directory for multi-file outputs). */
  readonly temporary: string;
  readonly isDirectory: boolean;
  readonly overwrite: boolean;
  /** Names a directory output holds besides checkpoint files (a model folder's config, tokenizer, card). */
  readonly alsoHolds: readonly string[];
}

async function existing(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw writeFailure(error, path, 'inspect the output path');
  }
}

/**
 * Fails unless `destination` is absent (undefined), or may be replaced (overwrite, and of
 * the same kind, holding only what such an output writes): then the names it holds (none for a file).
 */
async function checkReplaceable(destination: string, isDirectory: boolean, overwrite: boolean, alsoHolds: readonly string[]): Promise<{ readonly names: readonly string[] } | undefined> {
  const stats = await existing(destination);
  if (!stats) return undefined;
  if (!overwrite) throw checkpointError('output-exists', destination, 'output already exists; pass overwrite to replace it');
  if (stats.isDirectory() !== isDirectory || stats.isSymbolicLink()) {
    throw checkpointError('output-exists', destination, `output exists and is ${stats.isDirectory() ? 'a directory' : 'not a directory'}; refusing to replace it with a ${isDirectory ? 'directory' : 'file'}`);
  }
  if (!isDirectory) return { names: [] };
  const names = await readdir(destination);
  const strangers = names.filter((name) => !OUTPUT_FILE.test(name) && !alsoHolds.includes(name));
  if (strangers.length > 0) {
    throw checkpointError('output-exists', destination, `refusing to replace this directory: it holds files a checkpoint output does not write (${strangers.slice(0, 3).join(', ')}${strangers.length > 3 ? ', ...' : ''})`);
  }
  return { names };
}

/**
 * Checks the destination and creates the temporary (a directory for multi-file outputs).
 * `alsoHolds` names files a directory output writes besides checkpoint files: an existing
 * output is replaced only when it holds nothing else.
 */
export async function beginAtomicOutput(destination: string, options: { isDirectory: boolean; overwrite?: boolean; alsoHolds?: readonly string[] }): Promise<AtomicOutput> {
  const target = resolve(destination);
  const overwrite = options.overwrite ?? false;
  const alsoHolds = options.alsoHolds ?? [];
  const parent = dirname(target);
  // First roll back a replacement of this output that a killed run left half done.
  await tidyFolderOnce(parent);
  await checkReplaceable(target, options.isDirectory, overwrite, alsoHolds);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw writeFailure(error, parent, 'create the output directory');
  }
  const temporary = join(parent, ownedName(basename(target), 'tmp'));
  removeAtExit(temporary);
  if (options.isDirectory) {
    try {
      await mkdir(temporary);
    } catch (error) {
      forgetAtExit(temporary);
      throw writeFailure(error, temporary, 'create a temporary output directory');
    }
  }
  return { destination: target, temporary, isDirectory: options.isDirectory, overwrite, alsoHolds };
}

// ---- owned temporary names ------------------------------------------------------------

/** `.NAME.tvr-(tmp|old)-PID-START-RANDOM`; older versions wrote `.NAME.tvr-tmp-PID-RANDOM` (and `...-old`). */
const OWNED = /^\.(.+)\.tvr-(tmp|old)-(\d+)(?:-(\d+))?-([0-9a-f]{8})(-old)?$/;

/** When a process started, in clock ticks since boot (Linux); undefined where it cannot be told. */
function startTimeOf(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let ownStart: number | undefined;

/** A temporary name in the destination's folder that says which process owns it. */
export function ownedName(name: string, kind: 'tmp' | 'old'): string {
  ownStart ??= startTimeOf('self') ?? 0;
  return `.${name}.tvr-${kind}-${process.pid}-${ownStart}-${randomBytes(4).toString('hex')}`;
}

/** Whether the process that named a temporary may still be writing it (when unsure: yes). */
function ownerAlive(pid: number, start: number | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // No such process; EPERM means it exists under another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  if (start === undefined || start === 0) return true;
  // The pid is in use: by the owner, or by a later process that was given the same pid.
  const actual = startTimeOf(pid);
  return actual === undefined || actual === start;
}

async function absent(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Folders this process has tidied (or is tidying): what dead runs left there was dealt with. */
const tidied = new Map<string, Promise<void>>();

/** cleanStaleTemporaries, once per folder and process: a run checks its outputs' folders, then writes into them. */
export function tidyFolderOnce(folder: string): Promise<void> {
  let tidying = tidied.get(folder);
  if (!tidying) {
    tidying = cleanStaleTemporaries(folder).then(() => undefined);
    tidied.set(folder, tidying);
  }
  return tidying;
}

/**
 * Tidies what dead runs left in `folder`: an old output moved aside with nothing at its
 * final name is put back (the interrupted replacement is rolled back); every other
 * temporary of a process that no longer exists is removed. Temporaries of live
 * processes are left alone. Returns what it did, for the run's log and for tests.
 */
export async function cleanStaleTemporaries(folder: string): Promise<{ readonly restored: string[]; readonly removed: string[] }> {
  const restored: string[] = [];
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return { restored, removed };
  }
  for (const entry of names) {
    const match = OWNED.exec(entry);
    if (!match) continue;
    const [, name, kind, pid, start, , legacyOld] = match;
    if (ownerAlive(Number(pid), start === undefined ? undefined : Number(start))) continue;
    const path = join(folder, entry);
    const final = join(folder, name!);
    try {
      if ((kind === 'old' || legacyOld) && (await absent(final))) {
        await rename(path, final);
        restored.push(final);
      } else {
        await rm(path, { recursive: true, force: true });
        removed.push(path);
      }
    } catch {
      // A concurrent run tidied it first, or it cannot be touched: leave it.
    }
  }
  return { restored, removed };
}

// ---- inputs guarded at commit ---------------------------------------------------------

/** Per destination, the identities (`dev:ino`) of the inputs of the run that checked it. */
const guards = new Map<string, ReadonlySet<string>>();

/**
 * The run that will write `destination` has these inputs (file identities): its commit
 * refuses to replace any of them, even if a path was swapped (a symlink) after the check.
 */
export function guardOutput(destination: string, inputs: ReadonlySet<string>): void {
  guards.set(resolve(destination), inputs);
}

/** Fails if what is at `destination` (or, for a folder, any file in it: `names`) is a guarded input. */
async function refuseGuardedInputs(output: AtomicOutput, names: readonly string[]): Promise<void> {
  const inputs = guards.get(output.destination);
  if (!inputs || inputs.size === 0) return;
  const at = [output.destination, ...names.map((n) => join(output.destination, n))];
  for (const path of at) {
    if (inputs.has((await identityOf(path)) ?? '')) {
      throw checkpointError('output-exists', output.destination, `refusing to replace ${path}: it is an input of this run (the path changed since the run checked its outputs, e.g. a symlink); nothing was replaced`);
    }
  }
}

/** Moves the finished temporary into place. On failure the temporary is removed. */
export async function commitAtomicOutput(output: AtomicOutput): Promise<void> {
  const { destination, temporary } = output;
  testPause('commit');
  try {
    const found = await checkReplaceable(destination, output.isDirectory, output.overwrite, output.alsoHolds);
    await refuseGuardedInputs(output, found?.names ?? []);
    if (!output.isDirectory && !output.overwrite) {
      // link() fails if the destination appeared meanwhile: no-clobber without a race.
      await linkOrRename(temporary, destination);
    } else if (output.isDirectory && found) {
      await replaceFolder(destination, temporary);
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

/**
 * Old folder aside under an owned name, new one into place, old one removed. Between the
 * two renames the final name is empty: an exit puts the old one back, and after a kill -9
 * the next run does (cleanStaleTemporaries).
 */
async function replaceFolder(destination: string, temporary: string): Promise<void> {
  const old = join(dirname(destination), ownedName(basename(destination), 'old'));
  restoreAtExit(old, destination);
  await rename(destination, old);
  testPause('swap');
  try {
    await rename(temporary, destination);
  } catch (error) {
    await rename(old, destination).catch(() => undefined);
    forgetAtExit(old);
    throw error;
  }
  forgetAtExit(old);
  await rm(old, { recursive: true, force: true });
}

/**
 * Tests only: with TVR_TEST_PAUSE naming this point, says so on stderr and blocks the
 * process for good, so a test can kill -9 it at exactly this instant.
 */
function testPause(point: 'commit' | 'swap'): void {
  if (process.env.TVR_TEST_PAUSE !== point) return;
  process.stderr.write(`tvr-test-paused ${point}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
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
