// The order sweep points are evaluated in: the most informative first, so a viewer
// sees the shape of each curve early and a cancelled run still has a usable coarse
// grid. Along one axis: both ends, the middle, then the midpoints of every interval,
// level by level (bisection). Over several axes: by the coarsest level any coordinate
// needs, so the coarse grid is complete before any finer point.

/** Indices 0..count-1 in bisection order: 0, count-1, the middle, then quarters, eighths, ... */
export function bisectionOrder(count: number): number[] {
  if (count <= 0) return [];
  if (count === 1) return [0];
  const order = [0, count - 1];
  let intervals: [number, number][] = [[0, count - 1]];
  while (intervals.length > 0) {
    const next: [number, number][] = [];
    for (const [lo, hi] of intervals) {
      if (hi - lo < 2) continue;
      const mid = Math.floor((lo + hi) / 2);
      order.push(mid);
      next.push([lo, mid], [mid, hi]);
    }
    intervals = next;
  }
  return order;
}

/**
 * Every index tuple of a grid with `sizes[k]` values on axis k, coarse first: sorted by
 * the largest per-axis bisection rank, then their sum, then axis by axis.
 */
export function gridOrder(sizes: readonly number[]): number[][] {
  const ranks = sizes.map((n) => {
    const rank = new Array<number>(n);
    bisectionOrder(n).forEach((index, position) => { rank[index] = position; });
    return rank;
  });
  let tuples: number[][] = [[]];
  for (const n of sizes) tuples = tuples.flatMap((t) => Array.from({ length: n }, (_, i) => [...t, i]));
  const key = (t: readonly number[]): number[] => {
    const r = t.map((i, axis) => ranks[axis]![i]!);
    return [Math.max(0, ...r), r.reduce((a, b) => a + b, 0), ...r];
  };
  const keyed = tuples.map((t) => ({ t, k: key(t) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < a.k.length; i++) if (a.k[i] !== b.k[i]) return a.k[i]! - b.k[i]!;
    return 0;
  });
  return keyed.map((x) => x.t);
}
