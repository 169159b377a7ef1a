// Walks over the weight-node DAG without recursion: a recipe may chain thousands of
// bindings (`v2 = v1 + v1`, `v3 = magnitude_prune(v2, ...)`, ...), deeper than the
// JavaScript stack, and a node used twice is visited once (a DAG, not a tree per use).
import { nodeInputs } from '../../language/program.ts';
import type { WeightNode } from '../../language/program.ts';

/**
 * Each node reachable from `roots` once, parents before children, in the order a
 * recursive depth-first walk would visit them (children in the order `children` gives).
 */
export function* preOrder(roots: readonly WeightNode[], children: (node: WeightNode) => readonly WeightNode[] = nodeInputs): Generator<WeightNode> {
  const seen = new Set<number>();
  const stack = [...roots].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    yield node;
    const next = children(node);
    for (let i = next.length - 1; i >= 0; i--) if (!seen.has(next[i]!.id)) stack.push(next[i]!);
  }
}

/**
 * Each node reachable from `roots` once, children before parents (dependency order),
 * skipping nodes `done` already knows. `children` may return [] to leave a node's inputs unvisited.
 */
export function postOrder(roots: readonly WeightNode[], children: (node: WeightNode) => readonly WeightNode[] = nodeInputs, done: (node: WeightNode) => boolean = () => false): WeightNode[] {
  const order: WeightNode[] = [];
  const seen = new Set<number>();
  const stack: { node: WeightNode; expanded: boolean }[] = [...roots].reverse().map((node) => ({ node, expanded: false }));
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { node } = frame;
    if (frame.expanded) {
      order.push(node);
      continue;
    }
    if (seen.has(node.id) || done(node)) continue;
    seen.add(node.id);
    stack.push({ node, expanded: true });
    const next = children(node);
    for (let i = next.length - 1; i >= 0; i--) if (!seen.has(next[i]!.id) && !done(next[i]!)) stack.push({ node: next[i]!, expanded: false });
  }
  return order;
}
