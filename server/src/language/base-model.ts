// Which model is "the base" of a recipe's edits: one rule for every consumer (the quick
// fixes and a text task's default reference in the checker, the run's base reference and
// the results' changes against it, the reference checkpoint of the hover's norms), so
// none of them can name another model. docs/language.md, "Which model is the base".
import * as P from './poly.ts';
import type { WeightNode } from './program.ts';

export interface Base {
  readonly node: WeightNode;
  /** How many task vectors subtract it. */
  readonly uses: number;
}

/**
 * The models a task vector subtracts (`finetuned - base`): the Models among the terms of a
 * Vector combination with a constant negative weight. A tied model untied to meet an
 * untied one is still that model. Any other node subtracts nothing.
 */
export function subtractedModels(node: WeightNode): WeightNode[] {
  if (node.op !== 'combine' || node.kind !== 'vector') return [];
  const models: WeightNode[] = [];
  for (const term of node.terms) {
    const weight = P.asConstant(term.coef);
    const model = term.node.op === 'select' && term.node.untie ? term.node.input : term.node;
    if (model.kind === 'model' && weight !== undefined && weight < 0 && !models.includes(model)) models.push(model);
  }
  return models;
}

/**
 * The base of the task vectors among `nodes` (each consumer passes the nodes in its scope;
 * other nodes are ignored): the model the most of them subtract, ties going to the model
 * defined first (node ids follow the recipe). `candidate` narrows the models that may be it.
 * Undefined when no task vector subtracts a candidate (a plain soup, say).
 */
export function baseModel(nodes: Iterable<WeightNode>, candidate: (model: WeightNode) => boolean = () => true): Base | undefined {
  const uses = new Map<WeightNode, number>();
  const counted = new Set<WeightNode>();
  for (const node of nodes) {
    // A vector reached twice (shared in the graph) is one task vector.
    if (counted.has(node)) continue;
    counted.add(node);
    for (const model of subtractedModels(node)) if (candidate(model)) uses.set(model, (uses.get(model) ?? 0) + 1);
  }
  let best: Base | undefined;
  for (const [node, count] of uses) {
    if (!best || count > best.uses || (count === best.uses && node.id < best.node.id)) best = { node, uses: count };
  }
  return best;
}

/**
 * Names people give the base model. Only a guess for quick fixes and a text task's default
 * reference while no task vector subtracts a model yet; the rule above never uses it.
 */
export function isConventionalBaseName(name: string): boolean {
  return /^(base|pretrained|pre|zeroshot|zero_shot|theta0)$/i.test(name);
}
