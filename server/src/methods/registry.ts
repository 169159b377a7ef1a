// The merge methods, one module each, in one table keyed by their nodes' ops. The node
// union is read from the table and the table is typed over the union, so TypeScript
// demands a method for every op and checks each key against its method's op. Adding a
// method is its module and one line here.
import type { NodeBase } from '../language/program.ts';
import { breadcrumbs } from './breadcrumbs.ts';
import { breadcrumbsTies } from './breadcrumbs-ties.ts';
import { consensus } from './consensus.ts';
import { dare } from './dare.ts';
import { della } from './della.ts';
import { dellaLinear } from './della-linear.ts';
import { dellaPrune } from './della-prune.ts';
import { isoC } from './iso-c.ts';
import { isoCts } from './iso-cts.ts';
import { karcher } from './karcher.ts';
import { lines } from './lines.ts';
import { lora } from './lora.ts';
import { magnitudePrune } from './magnitude-prune.ts';
import type { Method } from './method.ts';
import { modelStock } from './model-stock.ts';
import { multislerp } from './multislerp.ts';
import { nuslerp } from './nuslerp.ts';
import { pcb } from './pcb.ts';
import { randomLike } from './random-like.ts';
import { sce } from './sce.ts';
import { slerp } from './slerp.ts';
import { tall } from './tall.ts';
import { ties } from './ties.ts';
import { tsv } from './tsv.ts';

const table = {
  ties,
  dare,
  magnitude_prune: magnitudePrune,
  slerp,
  random_like: randomLike,
  breadcrumbs,
  breadcrumbs_ties: breadcrumbsTies,
  lines,
  lora,
  model_stock: modelStock,
  karcher,
  multislerp,
  nuslerp,
  tall,
  consensus,
  sce,
  tsv,
  pcb,
  iso_c: isoC,
  iso_cts: isoCts,
  della_prune: dellaPrune,
  della,
  della_linear: dellaLinear,
};

type NodeOf<M> = M extends Method<infer N> ? N : never;

/** A node made by a merge method or read by one (a LoRA adapter): every weight node but load, combine and select. */
export type MethodNode = NodeOf<(typeof table)[keyof typeof table]>;

export const methodTable: { readonly [K in MethodNode['op']]: Method<Extract<MethodNode, { readonly op: K }>> } = table;

/** One of the methods (what every method has in common: its built-in, its type rule, its facts). */
export type AnyMethod = (typeof table)[keyof typeof table];

/** Every method, in the order the reference documents them. */
export const methods: readonly AnyMethod[] = Object.values(table);

export const methodByName: ReadonlyMap<string, AnyMethod> = new Map(methods.map((m) => [m.name, m]));

/** The method that made a node. */
export function methodOf<N extends MethodNode>(node: N): Method<N> {
  // The table maps each op to the method of that op's node (checked by its type above).
  return methodTable[node.op] as unknown as Method<N>;
}

export function isMethodNode(node: NodeBase & { readonly op: string }): node is MethodNode {
  return Object.hasOwn(methodTable, node.op);
}
