// Where a path really leads: symlinks resolved and file identities (device and inode), so
// that "is this output one of the inputs?" and "is it inside the recipe's folder?" are
// answered for the files themselves, not for the strings that name them (a symlinked
// folder, `..`, a bind mount or a case-insensitive file system all give one file two names).
// `locate` does the I/O; the predicates are pure, so the checker can use them on locations
// found elsewhere.
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';

export interface PathLocation {
  /** The real path: the existing part with every symlink resolved, then the rest as written. */
  readonly real: string;
  /** `dev:ino` of the path itself when it exists. */
  readonly identity?: string;
  /** `dev:ino` of each existing ancestor of the real path, nearest first, up to the root. */
  readonly ancestors: readonly string[];
}

/** A location known by its string only (no file system at hand). */
export function lexicalLocation(path: string): PathLocation {
  return { real: resolve(path), ancestors: [] };
}

/** The same file or folder (by identity where both exist, else by real path). */
export function sameLocation(a: PathLocation, b: PathLocation): boolean {
  if (a.identity !== undefined && b.identity !== undefined) return a.identity === b.identity;
  return a.real === b.real;
}

/** `inner` is strictly inside the folder `outer`. */
export function isWithin(inner: PathLocation, outer: PathLocation): boolean {
  if (outer.identity !== undefined && inner.ancestors.length > 0) return inner.ancestors.includes(outer.identity);
  const prefix = outer.real.endsWith(sep) ? outer.real : outer.real + sep;
  return inner.real.startsWith(prefix);
}

/** Identities of folders already looked up, shared by the locations of one batch (shards share their folder). */
export type IdentityMemo = Map<string, Promise<string | undefined>>;

/** `dev:ino` of what `path` leads to, or undefined when it cannot be stated. */
export async function identityOf(path: string, memo?: IdentityMemo): Promise<string | undefined> {
  const known = memo?.get(path);
  if (known) return known;
  const found = stat(path, { bigint: true }).then((s) => `${s.dev}:${s.ino}`, () => undefined);
  memo?.set(path, found);
  return found;
}

async function ancestorsOf(real: string, memo?: IdentityMemo): Promise<string[]> {
  const folders: string[] = [];
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    folders.push(dir);
    if (dirname(dir) === dir) break;
  }
  const ids = await Promise.all(folders.map((f) => identityOf(f, memo)));
  return ids.filter((id): id is string => id !== undefined);
}

/**
 * Finds where `path` leads: the nearest part of it that exists is resolved (symlinks
 * followed) and the rest appended. A dangling symlink counts as absent: an output written
 * there replaces the link, it does not follow it.
 */
export async function locate(path: string, memo?: IdentityMemo): Promise<PathLocation> {
  const rest: string[] = [];
  let existing = resolve(path);
  for (;;) {
    try {
      const real = await realpath(existing);
      const full = rest.length === 0 ? real : join(real, ...rest);
      const identity = rest.length === 0 ? await identityOf(real) : undefined;
      // The missing parts of `full` fail to stat, so only existing folders count.
      const ancestors = await ancestorsOf(full, memo);
      return identity === undefined ? { real: full, ancestors } : { real: full, identity, ancestors };
    } catch {
      // Absent, not a folder, unreadable or a symlink loop: go up one level.
      const parent = dirname(existing);
      if (parent === existing) return lexicalLocation(path);
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

/** One is the other, or inside it. */
export function overlaps(a: PathLocation, b: PathLocation): boolean {
  return sameLocation(a, b) || isWithin(a, b) || isWithin(b, a);
}

/** A file an input reads, or the folder of a multi-file model (`modelFolder`), located. */
export interface LocatedInput {
  readonly location: PathLocation;
  readonly modelFolder: boolean;
}

/**
 * The first input that writing `target` would harm, and how: `target` is that input
 * (`same`), is a folder (`folder`, replaced whole) holding it (`holds`), or lies inside an
 * input model's folder (`model-folder`), unless `root` (the folder outputs are kept in) is
 * that folder or inside it: then every output is, and that is no clash.
 */
export function findInputClash<T extends LocatedInput>(target: PathLocation, folder: boolean, inputs: readonly T[], root: PathLocation): { readonly input: T; readonly how: 'same' | 'holds' | 'model-folder' } | undefined {
  for (const input of inputs) {
    if (input.modelFolder) {
      if (isWithin(target, input.location) && !(sameLocation(root, input.location) || isWithin(root, input.location))) return { input, how: 'model-folder' };
    } else if (sameLocation(target, input.location)) {
      return { input, how: 'same' };
    } else if (folder && isWithin(input.location, target)) {
      return { input, how: 'holds' };
    }
  }
  return undefined;
}
