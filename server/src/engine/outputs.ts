// Where and in which format each save is written, and the checks made before anything
// runs: an output outside the recipe's folder, an output that is also an input, two saves
// to one place, an existing output without overwrite, a model folder whose files cannot
// be copied.
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { guardOutput, tidyFolderOnce } from '../checkpoints/atomic-output.ts';
import { findInputClash, isWithin, locate, overlaps, type IdentityMemo, type PathLocation } from '../checkpoints/locate.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import type { CheckpointFormat } from '../checkpoints/types.ts';
import { hfBaseModel, hfFolderContents, hfModelFolder, isInside, readHfAnchor, torchDtypeOf } from '../checkpoints/write-hf-folder.ts';
import type { FolderContents, HfAnchor } from '../checkpoints/write-hf-folder.ts';
import type { OutputTensor } from '../checkpoints/write-stream.ts';
import type { SaveStatement, TypedProgram } from '../language/program.ts';
import { inputPaths, type InputLocation } from '../language/run-files.ts';
import { EngineError, lineOf } from './errors.ts';
import type { SavePlan } from './plan/types.ts';
import type { Provenance } from './provenance.ts';

/** A model folder output's anchor folder, as read when the outputs are checked. */

export interface OutputTarget {
  /** What the writer creates: a .safetensors file, or a directory (sharded safetensors, tfjs). */
  readonly destination: string;
  readonly format: CheckpointFormat;
  /**
   * A Hugging Face model folder output (`destination` is the folder): the anchor's folder,
   * whose config.json, tokenizer files and generation_config.json it takes.
   */
  readonly hfFolder?: string;
}

/**
 * - `*.safetensors`: one file; with a shard size, a directory named without the extension
 *   holding `model-0000k-of-0000n.safetensors` and `model.safetensors.index.json`.
 * - `*.safetensors.index.json` with a shard size: the shards and index in its directory.
 * - `*model.json`: a TensorFlow.js LayersModel in its directory (the anchor must be one).
 * - anything else is a directory: tfjs when the anchor is tfjs; a Hugging Face model folder
 *   (weights, config, tokenizer, card) when a Model's anchor was loaded from one; sharded
 *   safetensors with a shard size; else `model.safetensors` inside it.
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
  const hfFolder = plan.anchor.header ? hfModelFolder(plan.anchor.header) : undefined;
  // A Vector (a difference of weights) is no model: it stays a plain checkpoint.
  if (hfFolder !== undefined && saveOf(plan, program)?.node.kind === 'model') {
    return { destination: path, format: sharded ? 'safetensors-sharded' : 'safetensors', hfFolder };
  }
  return sharded ? { destination: path, format: 'safetensors-sharded' } : { destination: join(path, 'model.safetensors'), format: 'safetensors' };
}

function saveOf(plan: SavePlan, program: TypedProgram): SaveStatement | undefined {
  return program.saves.find((s) => s.range === plan.range);
}

/** Whether an output is a folder (so writing it would replace whatever it holds). */
function isFolderOutput(target: OutputTarget): boolean {
  return target.format !== 'safetensors' || target.hfFolder !== undefined;
}

/** What the card of a model folder output is made from (its anchor's name, dtype, provenance); the card is the caller's. */
export interface ModelCardRequest {
  readonly save: SaveStatement;
  /** The provenance written into the weights' metadata (provenance.ts), as entries and as facts. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly provenance: Provenance;
  /** The anchor model's name for the card's `base_model`. */
  readonly baseModel: string;
  /** The output's dtype as transformers names it (`float32`, `float16`, `bfloat16`). */
  readonly torchDtype: string | undefined;
}

/** Writes the README.md of a model folder output; without one the folder has no card. */
export type ModelCardWriter = (request: ModelCardRequest) => string;

/**
 * What a model folder output writes besides its weights (config, copied tokenizer files,
 * card), from its anchor's folder as checkOutputs read it; undefined for other outputs.
 */
export function folderContents(anchor: HfAnchor | undefined, tensors: readonly OutputTensor[], card: ((request: Omit<ModelCardRequest, 'save' | 'metadata' | 'provenance'>) => string) | undefined): FolderContents | undefined {
  if (anchor === undefined) return undefined;
  return hfFolderContents(anchor, tensors, card?.({ baseModel: hfBaseModel(anchor), torchDtype: torchDtypeOf(tensors) }));
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
  return resolve(outDir, isInside(path, recipeDir) ? relative(recipeDir, path) : basename(path));
}

/** Every file and folder an input consists of, located (symlinks followed). */
async function inputLocations(program: TypedProgram, memo: IdentityMemo): Promise<InputLocation[]> {
  const wanted = [...program.loads, ...program.methodInputs].flatMap(inputPaths).map((input) => ({ ...input, path: resolve(input.path) }));
  return Promise.all(wanted.map(async (w) => ({ ...w, location: await locate(w.path, memo) })));
}

export interface OutputPolicy {
  /**
   * Refuse outputs outside the recipe's folder (or `outDir`), as a recipe run does unless
   * the user allows them. Off by default: the engine's own callers write elsewhere (the
   * evaluator's temporary checkpoints).
   */
  readonly confine?: boolean;
  /** Outputs are relocated under this folder: they must stay inside it instead. */
  readonly outDir?: string;
}

/**
 * Fails before anything runs when an output would leave the recipe's folder (or `outDir`),
 * replace an input, another output, or an existing file without overwrite (the save's own,
 * or `overwriteAll`). Paths compare by where they lead (symlinks, file identity). First,
 * what dead runs left in the outputs' folders is cleaned up (an interrupted folder
 * replacement is rolled back). The inputs are then guarded at commit time too, so a file
 * swapped in meanwhile is not replaced either. Returns, per target, the anchor folder a
 * model folder output is made from, as read for the check (undefined for other outputs).
 */
export async function checkOutputs(program: TypedProgram, plans: readonly SavePlan[], targets: readonly OutputTarget[], overwriteAll: boolean, policy: OutputPolicy = {}): Promise<(HfAnchor | undefined)[]> {
  const destinations = targets.map((t) => resolve(t.destination));
  for (const folder of new Set(destinations.map((d) => dirname(d)))) await tidyFolderOnce(folder);
  const memo: IdentityMemo = new Map();
  const inputs = await inputLocations(program, memo);
  const rootPath = policy.outDir ?? dirname(program.file);
  const root = await locate(rootPath, memo);
  const guarded = new Set(inputs.filter((i) => !i.modelFolder && i.location.identity !== undefined).map((i) => i.location.identity!));
  const seen: { location: PathLocation; plan: SavePlan; destination: string }[] = [];
  const anchors: (HfAnchor | undefined)[] = [];
  for (const [i, target] of targets.entries()) {
    const plan = plans[i]!;
    const destination = destinations[i]!;
    const location = await locate(destination, memo);
    const via = location.real === destination ? '' : ` (it leads to ${location.real})`;
    if (policy.confine === true && !isWithin(location, root)) {
      throw new EngineError('output', `${lineOf(plan.range)}: output ${destination}${via} is outside ${policy.outDir !== undefined ? 'the output folder' : "the recipe's folder"} ${rootPath}; tvr writes outputs only inside it. Save to a path inside it, or allow outputs elsewhere with --allow-outputs-outside (refused in an untrusted workspace)`, { range: plan.range, file: destination });
    }
    const input = findInputClash(location, isFolderOutput(target), inputs, root)?.input;
    if (input) {
      const what = input.modelFolder ? `would be written inside ${input.path}, the folder of an input model` : `would overwrite ${input.path}, an input of this recipe`;
      throw new EngineError('output', `${lineOf(plan.range)}: output ${destination}${via} ${what} (loaded at ${lineOf(input.load.range)}); save somewhere else`, { range: plan.range, file: destination });
    }
    const other = seen.find((s) => overlaps(s.location, location));
    if (other) {
      throw new EngineError('output', `${lineOf(plan.range)}: output ${destination} collides with the output of ${lineOf(other.plan.range)} (${other.destination})`, { range: plan.range, file: destination });
    }
    seen.push({ location, plan, destination });
    if (!overwriteAll && !plan.overwrite && (await exists(destination))) {
      throw new EngineError('output', `${lineOf(plan.range)}: ${destination} already exists; add overwrite=true to the save to replace it`, { range: plan.range, file: destination });
    }
    guardOutput(destination, guarded);
    anchors.push(target.hfFolder !== undefined ? await checkHfAnchor(target.hfFolder, plan) : undefined);
  }
  return anchors;
}

/** A model folder output takes config.json and tokenizer files from its anchor's folder: what cannot be copied fails now, not after the run. */
async function checkHfAnchor(folder: string, plan: SavePlan): Promise<HfAnchor> {
  try {
    return await readHfAnchor(folder);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    throw new EngineError('input', `${lineOf(plan.range)}: the output is a model folder made from ${folder} (the anchor model's folder), but ${error.message}`, { range: plan.range, file: error.file, cause: error });
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
