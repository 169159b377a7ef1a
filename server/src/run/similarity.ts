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
import { cacheKey } from './cache.ts';
import type { ResultsCache } from './cache.ts';

export interface SimilarityOutcome {
  readonly matrix: SimilarityMatrix | undefined;
  readonly notes: readonly string[];
}

export async function taskVectorSimilarity(analysis: Analysis, headers: HeaderCache, cache: ResultsCache, signal?: AbortSignal): Promise<SimilarityOutcome> {
  const all = vectorBindings(analysis);
  const notes: string[] = [];
  const linear = all.filter((v) => v.coefficients !== undefined && v.coefficients.size > 0);
  const nonLinear = all.filter((v) => !linear.includes(v)).map((v) => v.binding.name);
  if (nonLinear.length > 0) notes.push(`left out of the similarity matrix (they depend on a sweep or are not linear in the checkpoints): ${nonLinear.join(', ')}`);
  if (linear.length === 0) return { matrix: undefined, notes };

  const groups = statsGroups(analysis);
  // The group holding the most vectors: vectors over other tensor tables cannot be compared with them.
  const groupOf = (v: VectorBinding): StatsGroup | undefined => groups.find((g) => [...v.coefficients!.keys()].every((l) => g.paths.includes(l.path)));
  const byGroup = new Map<StatsGroup, VectorBinding[]>();
  for (const v of linear) {
    const g = groupOf(v);
    if (g) byGroup.set(g, [...(byGroup.get(g) ?? []), v]);
  }
  const [group, vectors] = [...byGroup].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
  if (!group || !vectors) return { matrix: undefined, notes: [...notes, 'no task vector could be located in readable checkpoints'] };
  const others = linear.filter((v) => !vectors.includes(v)).map((v) => v.binding.name);
  if (others.length > 0) notes.push(`left out of the similarity matrix (other tensor shapes than ${vectors[0]!.binding.name}): ${others.join(', ')}`);

  const headersOfGroup = await Promise.all(group.paths.map((p) => headers.get(p)));
  const key = cacheKey({
    kind: 'similarity',
    files: headersOfGroup.map((h) => h.files.map((f) => [f.path, f.size, f.mtimeMs])),
    vectors: vectors.map((v) => [v.binding.name, [...v.coefficients!].map(([l, c]) => [l.path, c]), v.value.node.table ? [...v.value.node.table.keys()] : null]),
  });
  const cached = await cache.get<SimilarityMatrix>('similarity', key);
  if (cached) return { matrix: cached, notes };

  // With the reference as vector 0: the layout the vector statistics index into.
  const gram: GramResult = await computeGram(group.paths, { headers, includeReference: true, ...(signal ? { signal } : {}) });
  const source: StatsSource = { lookup: (paths) => (paths.join('\0') === group.paths.join('\0') ? { status: 'ready', gram } : undefined) };
  const norms = vectors.map((v) => {
    const stats = vectorStats(v, groups, source);
    return stats.status === 'ready' ? stats.value.norm : 0;
  });
  const cosine = vectors.map((a, i) => vectors.map((b, j) => {
    if (i === j) return norms[i]! > 0 ? 1 : 0;
    const c = cosineSimilarity(a, b, groups, source);
    return c.status === 'ready' ? c.value : 0;
  }));
  const zero = vectors.filter((_, i) => norms[i] === 0).map((v) => v.binding.name);
  if (zero.length > 0) notes.push(`zero task vectors (cosine shown as 0): ${zero.join(', ')}`);
  const matrix: SimilarityMatrix = { vectors: vectors.map((v) => v.binding.name), cosine, norms };
  await cache.put('similarity', key, matrix, { vectors: matrix.vectors });
  return { matrix, notes };
}
