// Where and in which format each save is written, and the checks made before anything
// runs: an output that is also an input, two saves to one place, an existing output
// without overwrite.
import { lstat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { CheckpointFormat } from '../checkpoints/types.ts';
import type { LoadNode, TypedProgram } from '../language/program.ts';
import { EngineError, lineOf } from './errors.ts';
import type { SavePlan } from './plan/types.ts';

export interface OutputTarget {
  /** What the writer creates: a .safetensors file, or a directory (sharded safetensors, tfjs). */
  readonly destination: string;
  readonly format: CheckpointFormat;
}

/**
 * - `*.safetensors`: one file; with a shard size, a directory named without the extension
 *   holding `model-0000k-of-0000n.safetensors` and `model.safetensors.index.json`.
 * - `*.safetensors.index.json` with a shard size: the shards and index in its directory.
 * - `*model.json`: a TensorFlow.js LayersModel in its directory (the anchor must be one).
 * - anything else is a directory: tfjs when the anchor is tfjs, sharded safetensors with a
 *   shard size, else `model.safetensors` inside it.
 * `outDir` moves the output under another directory, keeping its path relative to the recipe.
 */
export function resolveOutput(plan: SavePlan, program: TypedProgram, outDir?: string): OutputTarget {
  const path = outDir === undefined ? plan.path : relocate(plan.path, dirname(program.file), outDir);
  const name = basename(path).toLowerCase();
  const anchorIsTfjs = plan.anchor.header?.format === 'tfjs-layers';
  const sharded = plan.shardBytes !== undefined;
  if (name.endsWith('model.json')) {
    if (!anchorIsTfjs) {
      throw new EngineError('output', `${lineOf(plan.range)}: a TensorFlow.js output reuses the anchor model's topology, but the anchor ${plan.anchor.path} is not a TensorFlow.js model; save to a .safetensors path`, { range: plan.range, file: path });
    }
    return tfjsTarget(plan, dirname(path));
  }
  if (name.endsWith('.safetensors.index.json')) {
    if (name !== 'model.safetensors.index.json' || !sharded) {
      throw new EngineError('output', `${lineOf(plan.range)}: a sharded output is written as model.safetensors.index.json with shards beside it; give a shard size and that name, or a directory`, { range: plan.range, file: path });
    }
    return { destination: dirname(path), format: 'safetensors-sharded' };
  }
  if (name.endsWith('.safetensors')) {
    return sharded ? { destination: path.slice(0, -'.safetensors'.length), format: 'safetensors-sharded' } : { destination: path, format: 'safetensors' };
  }
  if (anchorIsTfjs && !sharded) return tfjsTarget(plan, path);
  return sharded ? { destination: path, format: 'safetensors-sharded' } : { destination: join(path, 'model.safetensors'), format: 'safetensors' };
}

/** TensorFlow.js LayersModels hold float32 weights: a dtype override cannot be honoured. */
function tfjsTarget(plan: SavePlan, destination: string): OutputTarget {
  const other = plan.tensors.find((t) => t.kind === 'computed' && t.dtype !== 'F32');
  if (other) {
    throw new EngineError('output', `${lineOf(plan.range)}: a TensorFlow.js model stores float32 weights, but tensor ${other.name} would be ${other.dtype}; drop the dtype or save to a .safetensors path`, { range: plan.range, file: destination, tensor: other.name });
  }
  return { destination, format: 'tfjs-layers' };
}

function relocate(path: string, recipeDir: string, outDir: string): string {
  const rel = relative(recipeDir, path);
  const inside = rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  return resolve(outDir, inside ? rel : basename(path));
}

/** Every file an input consists of, with the load that reads it. */
function inputFiles(program: TypedProgram): Map<string, LoadNode> {
  const files = new Map<string, LoadNode>();
  for (const load of program.loads) {
    files.set(resolve(load.path), load);
    if (!load.header) continue;
    files.set(resolve(load.header.path), load);
    for (const f of load.header.files) files.set(resolve(f.path), load);
  }
  return files;
}

function covers(destination: string, format: CheckpointFormat, file: string): boolean {
  if (file === destination) return true;
  const directoryOutput = format !== 'safetensors';
  return directoryOutput && file.startsWith(destination + sep);
}

/**
 * Fails before anything runs when an output would replace an input, another output, or
 * an existing file without overwrite (the save's own, or `overwriteAll`).
 */
export async function checkOutputs(program: TypedProgram, plans: readonly SavePlan[], targets: readonly OutputTarget[], overwriteAll: boolean): Promise<void> {
  const inputs = inputFiles(program);
  const seen = new Map<string, SavePlan>();
  for (const [i, target] of targets.entries()) {
    const plan = plans[i]!;
    const destination = resolve(target.destination);
    for (const [file, load] of inputs) {
      if (covers(destination, target.format, file)) {
        throw new EngineError('output', `${lineOf(plan.range)}: output ${destination} would overwrite ${file}, an input of this recipe (loaded at ${lineOf(load.range)}); save somewhere else`, { range: plan.range, file: destination });
      }
    }
    for (const [other, otherPlan] of seen) {
      if (other === destination || destination.startsWith(other + sep) || other.startsWith(destination + sep)) {
        throw new EngineError('output', `${lineOf(plan.range)}: output ${destination} collides with the output of ${lineOf(otherPlan.range)} (${other})`, { range: plan.range, file: destination });
      }
    }
    seen.set(destination, plan);
    if (!overwriteAll && !plan.overwrite && (await exists(destination))) {
      throw new EngineError('output', `${lineOf(plan.range)}: ${destination} already exists; add overwrite=true to the save to replace it`, { range: plan.range, file: destination });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw new EngineError('output', `cannot inspect output ${path}: ${(error as Error).message}`, { file: path });
  }
}
