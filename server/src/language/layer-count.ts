// The layer count L that per-tensor gradients run over, for a method's node (kept apart from
// tensor-numbers.ts, which the method modules import: this one walks the typed program).
import { nodeInputs, type WeightNode } from './program.ts';
import { layersInNames } from './tensor-numbers.ts';

/**
 * L for the gradients of a method's arguments: the largest layer count a Hugging Face model
 * folder below `node` states in config.json, else 1 + the deepest layer index among the
 * node's tensor names.
 */
export function layerCountOf(node: WeightNode): number {
  let count = layerCounts.get(node);
  if (count === undefined) layerCounts.set(node, (count = countLayers(node)));
  return count;
}

/** Nodes are immutable once checked; the planner asks once per tensor. */
const layerCounts = new WeakMap<WeightNode, number>();

function countLayers(node: WeightNode): number {
  let configured = 0;
  const seen = new Set<number>();
  const stack: WeightNode[] = [node];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next.id)) continue;
    seen.add(next.id);
    if (next.op === 'load') configured = Math.max(configured, next.header?.hfConfig?.layers ?? 0);
    stack.push(...nodeInputs(next));
  }
  return configured > 0 ? configured : layersInNames(node.table?.keys() ?? []);
}
