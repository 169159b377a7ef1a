// The cosine similarity matrix (and norms) of the recipe's linear task vectors: one
// streaming Gram pass per group of checkpoints (computeGram), then the algebra of the
// language core's vector statistics. Vectors that depend on a sweep or are not linear
// in the checkpoints (TIES, DARE, ...) have no constant direction and are left out.
import { computeGram } from '../checkpoints/statistics.ts';
import type { GramResult } from '../checkpoints/statistics.ts';
import type { HeaderCache } from '../checkpoints/read-header.ts';
import type { Analysis } from '../language/analysis.ts';
import { cosineSimilarity, statsGroups, vectorBindings, vectorStats } from '../language/ide/vector-stats.ts';
import type { StatsGroup, StatsSource, VectorBinding } from '../language/ide/vector-stats.ts';
import type { SimilarityMatrix } from '../results/schema.ts';
import { preOrder } from '../engine/plan/walk.ts';
import { cacheKey } from './cache.ts';
import type { ResultsCache } from './cache.ts';

/**
 * Vectors in the matrix at most: a 64 x 64 table is as much as a person reads, and the
 * matrix's cost (Gram algebra, results file, every results event) grows with the square.
 */
export const MAX_SIMILARITY_VECTORS = 64;
/** Names listed in a note before "and N more". */
const NAMES_LISTED = 20;

/** What the results cache keeps: the matrix and what was found while computing it. */
interface CachedSimilarity {
  readonly matrix: SimilarityMatrix | undefined;
  readonly notes: readonly string[];
}

export interface SimilarityOutcome {
  readonly matrix: SimilarityMatrix | undefined;
  readonly notes: readonly string[];
}

function listNames(names: readonly string[]): string {
  return names.length <= NAMES_LISTED ? names.join(', ') : `${names.slice(0, NAMES_LISTED).join(', ')} and ${names.length - NAMES_LISTED} more`;
}

/**
 * The vectors the similarity is about: those the evaluated models, the tasks' models
 * and the saves are built from (all of the recipe's when it evaluates and saves nothing).
 */
function vectorsThatMatter(analysis: Analysis, all: readonly VectorBinding[]): VectorBinding[] {
  const program = analysis.checked.program;
  const roots = [
    ...program.evaluations.flatMap((e) => [...e.models.map((m) => m.node), ...[...e.targets, ...e.controls].flatMap((t) => [t.head, t.finetuned])]),
    ...program.saves.map((s) => s.node),
  ];
  if (roots.length === 0) return [...all];
  const used = new Set<number>();
  for (const node of preOrder(roots)) used.add(node.id);
  return all.filter((v) => used.has(v.value.node.id));
}

export async function taskVectorSimilarity(analysis: Analysis, headers: HeaderCache, cache: ResultsCache, signal?: AbortSignal): Promise<SimilarityOutcome> {
  const recipeVectors = vectorBindings(analysis);
  const all = vectorsThatMatter(analysis, recipeVectors);
  const notes: string[] = [];
  if (all.length < recipeVectors.length) notes.push(`the similarity matrix covers the ${all.length} task vector${all.length === 1 ? '' : 's'} the evaluated and saved models use, of the recipe's ${recipeVectors.length}`);
  const isLinear = (v: VectorBinding): boolean => v.coefficients !== undefined && v.coefficients.size > 0;
  const linear = all.filter(isLinear);
  const nonLinear = all.filter((v) => !isLinear(v)).map((v) => v.binding.name);
  if (nonLinear.length > 0) notes.push(`left out of the similarity matrix (they depend on a sweep or are not linear in the checkpoints): ${listNames(nonLinear)}`);
  if (linear.length === 0) return { matrix: undefined, notes };

  const groups = statsGroups(analysis);
  // The group holding the most vectors: vectors over other tensor tables cannot be compared with them.
  const groupOf = (v: VectorBinding): StatsGroup | undefined => groups.find((g) => [...v.coefficients!.keys()].every((l) => g.paths.includes(l.path)));
  const byGroup = new Map<StatsGroup, VectorBinding[]>();
  for (const v of linear) {
    const g = groupOf(v);
    if (!g) continue;
    const list = byGroup.get(g);
    if (list) list.push(v);
    else byGroup.set(g, [v]);
  }
  const [group, inGroup] = [...byGroup].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
  if (!group || !inGroup) return { matrix: undefined, notes: [...notes, 'no task vector could be located in readable checkpoints'] };
  const chosen = new Set(inGroup);
  const others = linear.filter((v) => !chosen.has(v)).map((v) => v.binding.name);
  if (others.length > 0) notes.push(`left out of the similarity matrix (other tensor shapes than ${inGroup[0]!.binding.name}): ${listNames(others)}`);
  const vectors = inGroup.slice(0, MAX_SIMILARITY_VECTORS);
  if (inGroup.length > vectors.length) {
    notes.push(`the similarity matrix shows the first ${MAX_SIMILARITY_VECTORS} of ${inGroup.length} comparable task vectors (at most ${MAX_SIMILARITY_VECTORS}); left out: ${listNames(inGroup.slice(MAX_SIMILARITY_VECTORS).map((v) => v.binding.name))}`);
  }

  const headersOfGroup = await Promise.all(group.paths.map((p) => headers.get(p)));
  const key = cacheKey({
    kind: 'similarity-v2',
    files: headersOfGroup.map((h) => h.files.map((f) => [f.path, f.size, f.mtimeMs])),
    vectors: vectors.map((v) => [v.binding.name, [...v.coefficients!].map(([l, c]) => [l.path, c]), v.value.node.table ? [...v.value.node.table.keys()] : null]),
  });
  const cached = await cache.get<CachedSimilarity>('similarity', key);
  if (cached) return { matrix: cached.matrix, notes: [...notes, ...cached.notes] };

  // With the reference as vector 0: the layout the vector statistics index into.
  const gram: GramResult = await computeGram(group.paths, { headers, includeReference: true, ...(signal ? { signal } : {}) });
  const source: StatsSource = { lookup: (paths) => (paths.join('\0') === group.paths.join('\0') ? { status: 'ready', gram } : undefined) };
  const allNorms = vectors.map((v) => {
    const stats = vectorStats(v, groups, source);
    return stats.status === 'ready' ? stats.value.norm : 0;
  });
  // A NaN or infinite norm (an input holding NaN or infinity, or coefficients so large the
  // squares overflow) has no direction to compare: said, and left out, never shown as NaN.
  const found: string[] = [];
  const nonFinite = vectors.filter((_, i) => !Number.isFinite(allNorms[i])).map((v) => v.binding.name);
  if (nonFinite.length > 0) found.push(`left out of the similarity matrix (their norm is NaN or infinite: an input holds NaN or infinite values, or the coefficients overflow): ${listNames(nonFinite)}`);
  const shown = vectors.filter((_, i) => Number.isFinite(allNorms[i]));
  const norms = allNorms.filter((n) => Number.isFinite(n));
  const cosine = shown.map((a, i) => shown.map((b, j) => {
    if (i === j) return norms[i]! > 0 ? 1 : 0;
    const c = cosineSimilarity(a, b, groups, source);
    return c.status === 'ready' && Number.isFinite(c.value) ? c.value : 0;
  }));
  const zero = shown.filter((_, i) => norms[i] === 0).map((v) => v.binding.name);
  if (zero.length > 0) found.push(`zero task vectors (cosine shown as 0): ${listNames(zero)}`);
  const matrix: SimilarityMatrix | undefined = shown.length === 0 ? undefined : { vectors: shown.map((v) => v.binding.name), cosine, norms };
  await cache.put('similarity', key, { matrix, notes: found } satisfies CachedSimilarity, { vectors: shown.map((v) => v.binding.name) });
  return { matrix, notes: [...notes, ...found] };
}
