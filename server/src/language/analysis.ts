// The analysis core's entry point: text -> tokens -> tree -> names -> typed program,
// with every diagnostic. Pure and synchronous given the checkpoint headers; the
// async wrapper reads the headers a recipe names (through a cache) and checks the same
// parsed recipe again.
import type { CheckpointHeader } from '../checkpoints/types.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import { locate, type IdentityMemo, type PathLocation } from '../checkpoints/locate.ts';
import { readTextDataSummary, type TextDataLookup } from '../checkpoints/text-data.ts';
import { check, type CheckEnvironment, type CheckpointLookup, type CheckResult } from './check.ts';
import type { Diagnostic } from './diagnostics.ts';
import { recipeSizeProblem } from './limits.ts';
import { LineIndex } from './line-index.ts';
import { resolveNames, type Resolution } from './names.ts';
import { parse } from './parser.ts';
import type { SyntaxTree } from './syntax-tree.ts';

export interface Analysis {
  readonly file: string;
  readonly text: string;
  readonly lines: LineIndex;
  readonly tree: SyntaxTree;
  readonly resolution: Resolution;
  readonly checked: CheckResult;
  /** Syntax, name, type, shape and file diagnostics, in source order. */
  readonly diagnostics: readonly Diagnostic[];
}

export function analyze(text: string, env: CheckEnvironment): Analysis {
  return checkParsed(parseRecipe(text), env);
}

/** The stages before checking, which need no headers: a re-check with new headers reuses them. */
interface ParsedRecipe {
  readonly text: string;
  readonly lines: LineIndex;
  readonly tree: SyntaxTree;
  readonly resolution: Resolution;
  /** Why the recipe was not parsed (over the size limit). */
  readonly tooLarge?: string;
}

function parseRecipe(text: string): ParsedRecipe {
  const lines = new LineIndex(text);
  const tooLarge = recipeSizeProblem(text);
  if (tooLarge) {
    // Not tokenized (its tokens alone would take hundreds of megabytes): an empty program and
    // one diagnostic on the first line; the error in the tree keeps formatting away from it.
    const span = { start: 0, end: Math.min(lines.offset({ line: 0, character: 200 }), text.length) };
    const tree: SyntaxTree = { tokens: [], statements: [], comments: [], errors: [{ ...span, message: tooLarge }] };
    return { text, lines, tree, resolution: resolveNames(tree, lines), tooLarge };
  }
  const tree = parse(text);
  return { text, lines, tree, resolution: resolveNames(tree, lines) };
}

function checkParsed({ text, lines, tree, resolution, tooLarge }: ParsedRecipe, env: CheckEnvironment): Analysis {
  const checked = check(tree, lines, resolution, env);
  if (tooLarge) {
    const diagnostics: Diagnostic[] = [{ span: tree.errors[0]!, severity: 'error', code: 'recipe-too-large', message: tooLarge }];
    return { file: env.file, text, lines, tree, resolution, checked, diagnostics };
  }
  const syntax: Diagnostic[] = tree.errors.map((e) => ({ span: e, severity: 'error', code: 'syntax', message: e.message }));
  const diagnostics = [...syntax, ...resolution.diagnostics, ...checked.diagnostics].sort((a, b) => a.span.start - b.span.start || a.span.end - b.span.end);
  return { file: env.file, text, lines, tree, resolution, checked, diagnostics };
}

/** Where headers come from: in practice the checkpoints module's HeaderCache. */
export interface HeaderSource {
  get(absolutePath: string): Promise<CheckpointHeader>;
}

export interface FileAnalysis {
  readonly analysis: Analysis;
  /** The headers this analysis used: pass them to the next analysis of the same document. */
  readonly lookups: ReadonlyMap<string, CheckpointLookup>;
  /** Where the paths it compared (inputs, outputs, the recipe's folder) lead on disk: pass them on too. */
  readonly locations: ReadonlyMap<string, PathLocation>;
  /** The text data summaries it used (JSON Lines tasks): pass them on too. */
  readonly textData: ReadonlyMap<string, TextDataLookup>;
}

export interface AnalysisOptions {
  /** Saves may write outside the recipe's folder (the user allowed it). */
  readonly allowOutputsOutside?: boolean;
}

/** What an analysis used that the next analysis of the same document starts from. */
export type ReusedLookups = Omit<FileAnalysis, 'analysis'>;

/**
 * Analyzes with the headers and locations a previous analysis used (if any), then
 * revalidates every header the recipe asked for through `headers` (a cache: a stat per
 * unchanged file) and every location, and analyzes again only when one was missing or
 * changed. An edit costs one analysis.
 */
export async function analyzeFileIncrementally(text: string, file: string, headers: HeaderSource, previous?: ReusedLookups, options: AnalysisOptions = {}): Promise<FileAnalysis> {
  const lookups = new Revalidated(previous?.lookups, sameLookup);
  const locations = new Revalidated(previous?.locations, sameWhere);
  const textData = new Revalidated(previous?.textData, sameTextLookup);
  const env: CheckEnvironment = {
    file,
    checkpoint: (path) => lookups.get(path) ?? { status: 'pending' },
    locate: (path) => locations.get(path),
    textData: (path) => textData.get(path) ?? { status: 'pending' },
    ...(options.allowOutputsOutside ? { allowOutputsOutside: true } : {}),
  };
  const parsed = parseRecipe(text);
  let analysis = checkParsed(parsed, env);
  // Paths are literals: headers, then the locations of the files they list, then done; the bound guards against surprises.
  for (let round = 0; round < 4; round++) {
    const memo: IdentityMemo = new Map();
    const changed = await Promise.all([
      lookups.refresh((path) => lookup(headers, path)),
      locations.refresh((path) => locate(path, memo)),
      textData.refresh(textLookup),
    ]);
    if (!changed.includes(true)) break;
    analysis = checkParsed(parsed, env);
  }
  return { analysis, lookups: lookups.known, locations: locations.known, textData: textData.known };
}

/** Analyzes a recipe file, reading every header it needs through `headers`. */
export async function analyzeFile(text: string, file: string, headers: HeaderSource, options: AnalysisOptions = {}): Promise<Analysis> {
  return (await analyzeFileIncrementally(text, file, headers, undefined, options)).analysis;
}

/** What the checker was told about each path it asked for, fetched again after each check. */
class Revalidated<V> {
  #known: ReadonlyMap<string, V>;
  readonly #asked = new Set<string>();
  readonly #same: (a: V | undefined, b: V) => boolean;

  constructor(previous: ReadonlyMap<string, V> | undefined, same: (a: V | undefined, b: V) => boolean) {
    this.#known = previous ?? new Map();
    this.#same = same;
  }

  get known(): ReadonlyMap<string, V> {
    return this.#known;
  }

  /** What is known about `path`, noting that the checker asked. */
  get(path: string): V | undefined {
    this.#asked.add(path);
    return this.#known.get(path);
  }

  /** Fetches every path asked for since the last refresh and keeps only those: whether any was missing or changed. */
  async refresh(fetch: (path: string) => Promise<V>): Promise<boolean> {
    const paths = [...this.#asked];
    this.#asked.clear();
    const fresh = await Promise.all(paths.map(fetch));
    const changed = paths.some((path, i) => !this.#same(this.#known.get(path), fresh[i]!));
    this.#known = new Map(paths.map((path, i) => [path, fresh[i]!]));
    return changed;
  }
}

async function lookup(headers: HeaderSource, path: string): Promise<CheckpointLookup> {
  try {
    return { status: 'ok', header: await headers.get(path) };
  } catch (error) {
    return failedLookup(error, path);
  }
}

async function textLookup(path: string): Promise<TextDataLookup> {
  try {
    return { status: 'ok', summary: await readTextDataSummary(path) };
  } catch (error) {
    return failedLookup(error, path);
  }
}

function failedLookup(error: unknown, path: string): { readonly status: 'error'; readonly error: CheckpointError } {
  if (error instanceof CheckpointError) return { status: 'error', error };
  return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
}

/** A header cache hands out the same object while the files are unchanged. */
function sameLookup(a: CheckpointLookup | undefined, b: CheckpointLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.header === b.header;
  return a?.status === 'error' && b.status === 'error' && sameError(a.error, b.error);
}

/** Text summaries are kept by file identity, so an unchanged file gives the same object. */
function sameTextLookup(a: TextDataLookup | undefined, b: TextDataLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.summary === b.summary;
  return a?.status === 'error' && b.status === 'error' && sameError(a.error, b.error);
}

/** Errors compare by what they say. */
function sameError(a: CheckpointError, b: CheckpointError): boolean {
  return a.code === b.code && a.file === b.file && a.message === b.message;
}

function sameWhere(a: PathLocation | undefined, b: PathLocation): boolean {
  return a !== undefined && a.real === b.real && a.identity === b.identity && a.ancestors.length === b.ancestors.length && a.ancestors.every((id, i) => id === b.ancestors[i]);
}
