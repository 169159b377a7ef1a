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
  readonly textData?: ReadonlyMap<string, TextDataLookup>;
}

export interface AnalysisOptions {
  /** Saves may write outside the recipe's folder (the user allowed it). */
  readonly allowOutputsOutside?: boolean;
}

/**
 * Analyzes with the headers and locations a previous analysis used (if any), then
 * revalidates every header the recipe asked for through `headers` (a cache: a stat per
 * unchanged file) and every location, and analyzes again only when one was missing or
 * changed. An edit costs one analysis.
 */
export async function analyzeFileIncrementally(text: string, file: string, headers: HeaderSource, previous?: Pick<FileAnalysis, 'lookups' | 'locations' | 'textData'>, options: AnalysisOptions = {}): Promise<FileAnalysis> {
  const known = new Map(previous?.lookups);
  const located = new Map(previous?.locations);
  const knownText = new Map(previous?.textData);
  const asked = new Set<string>();
  const askedWhere = new Set<string>();
  const askedText = new Set<string>();
  const env: CheckEnvironment = {
    file,
    checkpoint: (path) => {
      asked.add(path);
      return known.get(path) ?? { status: 'pending' };
    },
    locate: (path) => {
      askedWhere.add(path);
      return located.get(path);
    },
    textData: (path) => {
      askedText.add(path);
      return knownText.get(path) ?? { status: 'pending' };
    },
    ...(options.allowOutputsOutside ? { allowOutputsOutside: true } : {}),
  };
  const parsed = parseRecipe(text);
  let analysis = checkParsed(parsed, env);
  // Paths are literals: headers, then the locations of the files they list, then done; the bound guards against surprises.
  for (let round = 0; round < 4; round++) {
    const paths = [...asked];
    const wherePaths = [...askedWhere];
    const textPaths = [...askedText];
    const memo: IdentityMemo = new Map();
    const [fresh, freshWhere, freshText] = await Promise.all([
      Promise.all(paths.map((path) => lookup(headers, path))),
      Promise.all(wherePaths.map((path) => locate(path, memo))),
      Promise.all(textPaths.map(textLookup)),
    ]);
    const changed = paths.some((path, i) => !sameLookup(known.get(path), fresh[i]!))
      || wherePaths.some((path, i) => !sameWhere(located.get(path), freshWhere[i]!))
      || textPaths.some((path, i) => !sameTextLookup(knownText.get(path), freshText[i]!));
    knownText.clear();
    textPaths.forEach((path, i) => knownText.set(path, freshText[i]!));
    known.clear();
    paths.forEach((path, i) => known.set(path, fresh[i]!));
    located.clear();
    wherePaths.forEach((path, i) => located.set(path, freshWhere[i]!));
    if (!changed) break;
    asked.clear();
    askedWhere.clear();
    askedText.clear();
    analysis = checkParsed(parsed, env);
  }
  return { analysis, lookups: known, locations: located, textData: knownText };
}

/** Analyzes a recipe file, reading every header it needs through `headers`. */
export async function analyzeFile(text: string, file: string, headers: HeaderSource, options: AnalysisOptions = {}): Promise<Analysis> {
  return (await analyzeFileIncrementally(text, file, headers, undefined, options)).analysis;
}

async function lookup(headers: HeaderSource, path: string): Promise<CheckpointLookup> {
  try {
    return { status: 'ok', header: await headers.get(path) };
  } catch (error) {
    if (error instanceof CheckpointError) return { status: 'error', error };
    return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
  }
}

async function textLookup(path: string): Promise<TextDataLookup> {
  try {
    return { status: 'ok', summary: await readTextDataSummary(path) };
  } catch (error) {
    if (error instanceof CheckpointError) return { status: 'error', error };
    return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
  }
}

/** Text summaries are kept by file identity, so an unchanged file gives the same object. */
function sameTextLookup(a: TextDataLookup | undefined, b: TextDataLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.summary === b.summary;
  if (a?.status === 'error' && b.status === 'error') return a.error.code === b.error.code && a.error.message === b.error.message;
  return false;
}

/** A header cache hands out the same object while the files are unchanged; errors compare by what they say. */
function sameLookup(a: CheckpointLookup | undefined, b: CheckpointLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.header === b.header;
  if (a?.status === 'error' && b.status === 'error') return a.error.code === b.error.code && a.error.file === b.error.file && a.error.message === b.error.message;
  return false;
}

function sameWhere(a: PathLocation | undefined, b: PathLocation): boolean {
  return a !== undefined && a.real === b.real && a.identity === b.identity && a.ancestors.length === b.ancestors.length && a.ancestors.every((id, i) => id === b.ancestors[i]);
}
