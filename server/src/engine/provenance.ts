// Provenance written into every output's metadata (safetensors `__metadata__`, tfjs
// `userDefinedMetadata`): what made it, from what, with which seeds and sweep point.
import { createHash } from 'node:crypto';
import { readFailure } from '../checkpoints/errors.ts';
import { openRegularFile } from '../checkpoints/open-input.ts';
import { readSafetensorsLayout } from '../checkpoints/safetensors.ts';
import { CheckpointError, type CheckpointHeader } from '../checkpoints/types.ts';
import type { MethodInput, SweepPoint, TypedProgram, WeightNode } from '../language/program.ts';
import { isMethodNode, methodOf } from '../methods/registry.ts';
import { preOrder } from './plan/walk.ts';
import { EngineError } from './errors.ts';
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
 * A file changed since it was checked is caught by the tensor reads that follow (which name
 * the tensor); here each file must only still be a regular file. Throws CheckpointError.
 */
export async function headerHash(header: CheckpointHeader): Promise<string> {
  const hash = createHash('sha256');
  const hashLayout = async (path: string, whole: boolean): Promise<void> => {
    let opened;
    try {
      opened = await openRegularFile(path, whole ? 'a checkpoint manifest' : 'a .safetensors file');
    } catch (error) {
      throw readFailure(error, path, 'open the checkpoint');
    }
    const { handle, stats } = opened;
    try {
      if (whole) {
        hash.update(await handle.readFile());
      } else {
        const { prefix, json } = await readSafetensorsLayout(handle, path, stats.size);
        hash.update(prefix).update(json);
      }
    } catch (error) {
      throw readFailure(error, path, 'read the header');
    } finally {
      await handle.close().catch(() => undefined);
    }
  };
  if (header.format === 'safetensors') {
    await hashLayout(header.path, false);
  } else {
    await hashLayout(header.path, true);
    if (header.format === 'safetensors-sharded') {
      for (const file of header.files) if (file.path !== header.path) await hashLayout(file.path, false);
    }
  }
  return hash.digest('hex');
}

/** The files a value reads: its loads' checkpoints and what its methods read themselves (LoRA adapters). */
function inputsOf(root: WeightNode): MethodInput[] {
  return [...preOrder([root])].flatMap((node) => (node.op === 'load' ? [node] : isMethodNode(node) ? methodOf(node).inputs?.(node) ?? [] : []));
}

export interface ProvenanceInput {
  readonly program: TypedProgram;
  readonly root: WeightNode;
  readonly plan: SavePlan;
  readonly point: SweepPoint;
  readonly recipeHash: string;
}

/** What made one output: tvr, the recipe, each input's layout hash, the seeds and the sweep point. */
export interface Provenance {
  readonly version: string;
  readonly recipe: string;
  readonly recipeHash: string;
  readonly inputs: readonly { readonly path: string; readonly header_sha256: string | null }[];
  readonly seeds: readonly { readonly op: string; readonly seed: number; readonly line: number }[];
  readonly point: Readonly<Record<string, number>>;
}

/** The provenance of one output; a header that cannot be hashed is an EngineError naming its load. */
export async function provenance(input: ProvenanceInput): Promise<Provenance> {
  const inputs = [];
  for (const load of inputsOf(input.root)) {
    let hashed: string | null = null;
    try {
      if (load.header) hashed = await headerHash(load.header);
    } catch (error) {
      const file = error instanceof CheckpointError ? error.file : load.path;
      throw new EngineError('input', `${load.path} (loaded at line ${load.range.start.line + 1}): ${(error as Error).message}`, { file, range: load.range, cause: error });
    }
    inputs.push({ path: load.path, header_sha256: hashed });
  }
  return {
    version: tvrVersion,
    recipe: input.program.file,
    recipeHash: input.recipeHash,
    inputs,
    seeds: input.plan.seeds.map((s) => ({ op: s.op, seed: s.seed, line: s.range.start.line + 1 })),
    point: namedPoint(input.program, input.point),
  };
}

/** The metadata entries of one output (string to string, as both formats require). */
export function provenanceMetadata(facts: Provenance): Record<string, string> {
  return {
    [PROVENANCE_KEYS.version]: facts.version,
    [PROVENANCE_KEYS.recipe]: facts.recipe,
    [PROVENANCE_KEYS.recipeHash]: facts.recipeHash,
    [PROVENANCE_KEYS.inputs]: JSON.stringify(facts.inputs),
    [PROVENANCE_KEYS.seeds]: JSON.stringify(facts.seeds),
    [PROVENANCE_KEYS.point]: JSON.stringify(facts.point),
  };
}
