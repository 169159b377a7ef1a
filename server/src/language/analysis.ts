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

/** Analyzes, reads every header the recipe needs, and analyzes again with them. */
export async function analyzeFile(text: string, file: string, headers: HeaderSource): Promise<Analysis> {
  const known = new Map<string, CheckpointLookup>();
  const env: CheckEnvironment = { file, checkpoint: (path) => known.get(path) ?? { status: 'pending' } };
  let analysis = analyze(text, env);
  // Paths are literals, so one extra round suffices; the bound guards against surprises.
  for (let round = 0; round < 3 && analysis.checked.pending.length > 0; round++) {
    await Promise.all(analysis.checked.pending.map(async (path) => {
      known.set(path, await lookup(headers, path));
    }));
    analysis = analyze(text, env);
  }
  return analysis;
}

async function lookup(headers: HeaderSource, path: string): Promise<CheckpointLookup> {
  try {
    return { status: 'ok', header: await headers.get(path) };
  } catch (error) {
    if (error instanceof CheckpointError) return { status: 'error', error };
    return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
  }
}
