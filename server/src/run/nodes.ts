// Facts about weight nodes that the run needs: which sweeps a node depends on, and a
// structural key of a node at a sweep point (input file identities included) for the
// results cache.
import { evaluate, sweepIds, type Poly } from '../language/poly.ts';
import { nodeInputs } from '../language/program.ts';
import type { SweepPoint, WeightNode } from '../language/program.ts';
import type { Json, StructureKey } from '../methods/method.ts';
import { methodOf } from '../methods/registry.ts';
import { postOrder } from '../engine/plan/walk.ts';

const sweepCache = new WeakMap<WeightNode, ReadonlySet<number>>();

/** Ids of the sweeps a node's value depends on. */
export function sweepsOf(root: WeightNode): ReadonlySet<number> {
  // Children first, so each node's set is its own coefficients' plus its children's, known already.
  for (const node of postOrder([root], nodeInputs, (n) => sweepCache.has(n))) {
    const ids = new Set<number>();
    for (const coef of coefficientsOf(node)) for (const id of sweepIds(coef)) ids.add(id);
    for (const child of nodeInputs(node)) for (const id of sweepCache.get(child)!) ids.add(id);
    sweepCache.set(node, ids);
  }
  return sweepCache.get(root)!;
}

/**
 * A canonical description of a node's value at `point`: operations, parameters,
 * coefficients evaluated at the point, and for each load its files' identities
 * (path, size, mtime). Equal descriptions mean equal weights. A list of distinct
 * steps, each naming its inputs by index (the last is the node): a node used many
 * times (`v2 = v1 + v1`, ...) is described once, so the size grows with the recipe, not with
 * the number of paths through it.
 */
export function structureAt(root: WeightNode, point: SweepPoint): Json[] {
  const steps: Json[] = [];
  // Keyed by the step's JSON text: equal descriptions are one step.
  const indexOfStep = new Map<string, number>();
  const indexOfNode = new Map<WeightNode, number>();
  const key: StructureKey = { ref: (child) => indexOfNode.get(child)!, at: (coef) => evaluate(coef, point) };
  for (const node of postOrder([root])) {
    const step = describeStep(node, key);
    const text = JSON.stringify(step);
    let index = indexOfStep.get(text);
    if (index === undefined) {
      index = steps.push(step) - 1;
      indexOfStep.set(text, index);
    }
    indexOfNode.set(node, index);
  }
  return steps;
}

/** A node's step: the language's own nodes here, every merge method's from its module (typed as JSON, so no step can be undefined). */
function describeStep(node: WeightNode, key: StructureKey): Json {
  switch (node.op) {
    case 'load': return { op: 'load', files: node.header?.files.map((f) => [f.path, f.size, f.mtimeMs]) ?? node.path };
    case 'combine': return { op: 'combine', terms: node.terms.map((t) => [key.at(t.coef), key.ref(t.node)]) };
    case 'select': return { op: 'select', include: node.include, exclude: node.exclude, ...(node.untie ? { untie: { ...node.untie } } : {}), input: key.ref(node.input) };
    default: return methodOf(node).structure(node, key);
  }
}

/** The coefficients of a node that may depend on sweeps. */
function coefficientsOf(node: WeightNode): readonly Poly[] {
  switch (node.op) {
    case 'load': case 'select': return [];
    case 'combine': return node.terms.map((t) => t.coef);
    default: return methodOf(node).coefficients?.(node) ?? [];
  }
}

/** The point restricted to the sweeps `node` depends on (so unrelated sweeps do not split cache entries). */
export function pointFor(node: WeightNode, point: SweepPoint): Map<number, number> {
  const ids = sweepsOf(node);
  return new Map([...point].filter(([id]) => ids.has(id)));
}
