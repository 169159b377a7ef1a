// The analysis core's entry point: text -> tokens -> tree -> names -> typed program,
// with every diagnostic. Pure and synchronous given the checkpoint headers; the
// async wrapper reads the headers a recipe names (through a cache) and checks again.
import type { CheckpointHeader } from '../checkpoints/types.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import { check, type CheckEnvironment, type CheckpointLookup, type CheckResult } from './check.ts';
import type { Diagnostic } from './diagnostics.ts';
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
  const lines = new LineIndex(text);
  const tree = parse(text);
  const resolution = resolveNames(tree, lines);
  const checked = check(tree, lines, resolution, env);
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
}

/**
 * Analyzes with the headers a previous analysis used (if any), then revalidates every
 * header the recipe asked for through `headers` (a cache: a stat per unchanged file) and
 * analyzes again only when one was missing or changed. An edit costs one analysis.
 */
export async function analyzeFileIncrementally(text: string, file: string, headers: HeaderSource, previous?: ReadonlyMap<string, CheckpointLookup>): Promise<FileAnalysis> {
  const known = new Map(previous);
  const asked = new Set<string>();
  const env: CheckEnvironment = {
    file,
    checkpoint: (path) => {
      asked.add(path);
      return known.get(path) ?? { status: 'pending' };
    },
  };
  let analysis = analyze(text, env);
  // Paths are literals, so one more round suffices; the bound guards against surprises.
  for (let round = 0; round < 3; round++) {
    const paths = [...asked];
    const fresh = await Promise.all(paths.map((path) => lookup(headers, path)));
    const changed = paths.some((path, i) => !sameLookup(known.get(path), fresh[i]!));
    known.clear();
    paths.forEach((path, i) => known.set(path, fresh[i]!));
    if (!changed) break;
    asked.clear();
    analysis = analyze(text, env);
  }
  return { analysis, lookups: known };
}

/** Analyzes a recipe file, reading every header it needs through `headers`. */
export async function analyzeFile(text: string, file: string, headers: HeaderSource): Promise<Analysis> {
  return (await analyzeFileIncrementally(text, file, headers)).analysis;
}

async function lookup(headers: HeaderSource, path: string): Promise<CheckpointLookup> {
  try {
    return { status: 'ok', header: await headers.get(path) };
  } catch (error) {
    if (error instanceof CheckpointError) return { status: 'error', error };
    return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
  }
}

/** A header cache hands out the same object while the files are unchanged; errors compare by what they say. */
function sameLookup(a: CheckpointLookup | undefined, b: CheckpointLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.header === b.header;
  if (a?.status === 'error' && b.status === 'error') return a.error.code === b.error.code && a.error.file === b.error.file && a.error.message === b.error.message;
  return false;
}
