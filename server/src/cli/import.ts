// `tvr import mergekit config.yml [-o recipe.tvr] [--allow-partial]`: writes the equivalent
// recipe; every key with no exact equivalent is reported (file:line:column) and, unless
// --allow-partial, nothing is written and the exit code is 1. Malformed input exits 2.
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ownedName } from '../checkpoints/atomic-output.ts';
import { visibleControls } from '../display-text.ts';
import { importMergekit } from '../mergekit/import.ts';

/** The text of an input file the user named, or undefined after saying on stderr why it cannot be read. */
export async function readInputText(path: string, named: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    process.stderr.write(`tvr: cannot read ${visibleControls(named)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return undefined;
  }
}

export async function importMergekitCommand(config: string, options: { out?: string; allowPartial: boolean }): Promise<number> {
  const configPath = resolve(config);
  const text = await readInputText(configPath, config);
  if (text === undefined) return 2;
  const out = resolve(options.out ?? join(dirname(configPath), `${basename(configPath, extname(configPath))}.tvr`));
  const result = importMergekit(text, { configDir: dirname(configPath), recipeDir: dirname(out), configName: basename(configPath) });
  for (const r of result.reports) process.stderr.write(`${visibleControls(config)}:${r.line}:${r.column}: ${r.key ? `${visibleControls(r.key)}: ` : ''}${visibleControls(r.message)}\n`);
  if (result.malformed) return 2;
  if (result.recipe === null) {
    process.stderr.write('tvr: nothing written: the configuration has no tvr equivalent\n');
    return 1;
  }
  if (result.reports.length > 0 && !options.allowPartial) {
    process.stderr.write(`tvr: nothing written: ${result.reports.length} key${result.reports.length === 1 ? '' : 's'} not imported exactly (--allow-partial writes the recipe with a comment for each)\n`);
    return 1;
  }
  if (!(await writeTextOutput(out, result.recipe, configPath, config))) return 2;
  process.stdout.write(`wrote ${visibleControls(out)}${result.reports.length > 0 ? ` (${result.reports.length} key${result.reports.length === 1 ? '' : 's'} not imported, each noted in a comment)` : ''}\n`);
  return 0;
}

/** Writes `text` to `out` atomically (an owned temporary beside it, renamed into place), never over `input`; false after saying why not. */
export async function writeTextOutput(out: string, text: string, input: string, inputName: string): Promise<boolean> {
  if (await sameFile(out, input)) {
    process.stderr.write(`tvr: refusing to overwrite the input ${visibleControls(inputName)}\n`);
    return false;
  }
  const temporary = join(dirname(out), ownedName(basename(out), 'tmp'));
  try {
    await writeFile(temporary, text, { flag: 'wx' });
    await rename(temporary, out);
  } catch (error) {
    await rm(temporary, { force: true });
    process.stderr.write(`tvr: cannot write ${visibleControls(out)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return false;
  }
  return true;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [sa, sb] = await Promise.all([stat(a), stat(b)]);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}
