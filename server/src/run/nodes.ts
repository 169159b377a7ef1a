// Facts about weight nodes that the run needs: which sweeps a node depends on, which
// model is "the base" of an edit, and a structural key of a node at a sweep point
// (input file identities included) for the results cache.
import { evaluate, sweepIds } from '../language/poly.ts';
import type { SweepPoint, WeightNode } from '../language/program.ts';

function children(node: WeightNode): readonly WeightNode[] {
  switch (node.op) {
    case 'load': return [];
    case 'combine': return node.terms.map((t) => t.node);
    case 'ties': return node.inputs;
    case 'slerp': return [node.a, node.b];
    default: return [node.input];
  }
}

const sweepCache = new WeakMap<WeightNode, ReadonlySet<number>>();

/** Ids of the sweeps a node's value depends on. */
export function sweepsOf(node: WeightNode): ReadonlySet<number> {
  const known = sweepCache.get(node);
  if (known) return known;
  const ids = new Set<number>();
  if (node.op === 'combine') for (const t of node.terms) for (const id of sweepIds(t.coef)) ids.add(id);
  if (node.op === 'slerp') for (const id of sweepIds(node.t)) ids.add(id);
  for (const child of children(node)) for (const id of sweepsOf(child)) ids.add(id);
  sweepCache.set(node, ids);
  return ids;
}

/**
 * The base of edited models: the model subtracted most often in the task vectors they
 * contain (`finetuned - base`), ties going to the first met. Undefined when no vector
 * subtracts a model (a plain soup, say).
 */
export function inferBase(models: readonly WeightNode[]): { readonly node: WeightNode; readonly uses: number } | undefined {
  const counts = new Map<WeightNode, number>();
  const seen = new Set<WeightNode>();
  const visit = (node: WeightNode): void => {
    if (seen.has(node)) return;
    seen.add(node);
    if (node.op === 'combine' && node.kind === 'vector') {
      for (const t of node.terms) {
        const c = t.coef.get('');
        if (t.node.kind === 'model' && t.coef.size === 1 && c !== undefined && c < 0) counts.set(t.node, (counts.get(t.node) ?? 0) + 1);
      }
    }
    children(node).forEach(visit);
  };
  models.forEach(visit);
  let best: { node: WeightNode; uses: number } | undefined;
  for (const [node, uses] of counts) if (!best || uses > best.uses) best = { node, uses };
  return best;
}

/**
 * A canonical description of a node's value at `point`: operations, parameters,
 * coefficients evaluated at the point, and for each load its files' identities
 * (path, size, mtime). Equal descriptions mean equal weights.
 */
export function structureAt(node: WeightNode, point: SweepPoint): unknown {
  switch (node.op) {
    case 'load': return { op: 'load', files: node.header?.files.map((f) => [f.path, f.size, f.mtimeMs]) ?? node.path };
    case 'combine': return { op: 'combine', terms: node.terms.map((t) => [evaluate(t.coef, point), structureAt(t.node, point)]) };
    case 'select': return { op: 'select', include: node.include, exclude: node.exclude, input: structureAt(node.input, point) };
    case 'ties': return { op: 'ties', density: node.density, inputs: node.inputs.map((n) => structureAt(n, point)) };
    case 'dare': return { op: 'dare', p: node.p, seed: node.seed, input: structureAt(node.input, point) };
    case 'magnitude_prune': return { op: 'prune', density: node.density, input: structureAt(node.input, point) };
    case 'slerp': return { op: 'slerp', t: evaluate(node.t, point), a: structureAt(node.a, point), b: structureAt(node.b, point) };
    case 'random_like': return { op: 'random_like', seed: node.seed, input: structureAt(node.input, point) };
  }
}

/** The point restricted to the sweeps `node` depends on (so unrelated sweeps do not split cache entries). */
export function pointFor(node: WeightNode, point: SweepPoint): Map<number, number> {
  const ids = sweepsOf(node);
  return new Map([...point].filter(([id]) => ids.has(id)));
}
