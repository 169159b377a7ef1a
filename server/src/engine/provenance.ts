// Provenance written into every output's metadata (safetensors `__metadata__`, tfjs
// `userDefinedMetadata`): what made it, from what, with which seeds and sweep point.
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import type { CheckpointHeader } from '../checkpoints/types.ts';
import type { LoadNode, SweepPoint, TypedProgram, WeightNode } from '../language/program.ts';
import type { SavePlan } from './plan/types.ts';
import { tvrVersion } from '../version.ts';

export const PROVENANCE_KEYS = {
  version: 'tvr.version',
  recipe: 'tvr.recipe',
  recipeHash: 'tvr.recipe_sha256',
  inputs: 'tvr.inputs',
  seeds: 'tvr.seeds',
  point: 'tvr.sweep_point',
} as const;

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Sweep point as `{name: value}`. */
export function namedPoint(program: TypedProgram, point: SweepPoint): Record<string, number> {
  const named: Record<string, number> = {};
  for (const sweep of program.sweeps) {
    const value = point.get(sweep.id);
    if (value !== undefined) named[sweep.name] = value;
  }
  return named;
}

/**
 * The bytes that define a checkpoint's layout, hashed: a safetensors file's length prefix
 * and JSON header; a sharded checkpoint's index then every shard's header; a tfjs model.json.
 */
export async function headerHash(header: CheckpointHeader): Promise<string> {
  const hash = createHash('sha256');
  if (header.format === 'safetensors') {
    hash.update(await safetensorsHeaderBytes(header.path));
  } else {
    hash.update(await readFile(header.path));
    if (header.format === 'safetensors-sharded') {
      for (const file of header.files) if (file.path !== header.path) hash.update(await safetensorsHeaderBytes(file.path));
    }
  }
  return hash.digest('hex');
}

async function safetensorsHeaderBytes(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const prefix = new Uint8Array(8);
    await handle.read(prefix, 0, 8, 0);
    const length = Number(new DataView(prefix.buffer).getBigUint64(0, true));
    const bytes = new Uint8Array(8 + length);
    await handle.read(bytes, 0, bytes.length, 0);
    return bytes;
  } finally {
    await handle.close();
  }
}

function loadsOf(root: WeightNode): LoadNode[] {
  const seen = new Set<number>();
  const loads: LoadNode[] = [];
  const visit = (node: WeightNode): void => {
    if (seen.has(node.id)) return;
    seen.add(node.id);
    switch (node.op) {
      case 'load': loads.push(node); return;
      case 'combine': node.terms.forEach((t) => visit(t.node)); return;
      case 'ties': node.inputs.forEach(visit); return;
      case 'slerp': visit(node.a); visit(node.b); return;
      default: visit(node.input);
    }
  };
  visit(root);
  return loads;
}

export interface ProvenanceInput {
  readonly program: TypedProgram;
  readonly root: WeightNode;
  readonly plan: SavePlan;
  readonly point: SweepPoint;
  readonly recipeHash: string;
}

/** The metadata entries of one output (string to string, as both formats require). */
export async function provenance(input: ProvenanceInput): Promise<Record<string, string>> {
  const inputs = [];
  for (const load of loadsOf(input.root)) {
    inputs.push({ path: load.path, header_sha256: load.header ? await headerHash(load.header) : null });
  }
  return {
    [PROVENANCE_KEYS.version]: tvrVersion,
    [PROVENANCE_KEYS.recipe]: input.program.file,
    [PROVENANCE_KEYS.recipeHash]: input.recipeHash,
    [PROVENANCE_KEYS.inputs]: JSON.stringify(inputs),
    [PROVENANCE_KEYS.seeds]: JSON.stringify(input.plan.seeds.map((s) => ({ op: s.op, seed: s.seed, line: s.range.start.line + 1 }))),
    [PROVENANCE_KEYS.point]: JSON.stringify(namedPoint(input.program, input.point)),
  };
}
