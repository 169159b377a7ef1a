// Files a run reads and writes besides the saves, named here so that the checker (which
// must not let an output replace an input) and the run agree.
import { basename, dirname } from 'node:path';
import type { PathLocation } from '../checkpoints/locate.ts';
import type { MethodInput } from './program.ts';

/** A file or folder an input consists of, with the load (or the method's call) that reads it. */
export interface InputPath {
  readonly path: string;
  readonly load: MethodInput;
  /** The folder of a multi-file model (sharded safetensors, TensorFlow.js, a LoRA adapter), not a file of it. */
  readonly modelFolder: boolean;
}

/** An input's file or folder, and where it leads. */
export interface InputLocation extends InputPath {
  readonly location: PathLocation;
}

/** The files a load (or a method's input) reads (its path, its header's file, every data file and configuration) and the folder of a multi-file model. */
export function inputPaths(load: MethodInput): InputPath[] {
  const configuration = load.header?.loraAdapter?.files.map((f) => f.path) ?? [];
  const files = new Set([load.path, ...(load.header ? [load.header.path, ...load.header.files.map((f) => f.path), ...configuration] : [])]);
  const paths = [...files].map((path) => ({ path, load, modelFolder: false }));
  if (load.header && (load.header.format !== 'safetensors' || load.header.loraAdapter)) paths.push({ path: dirname(load.header.path), load, modelFolder: true });
  return paths;
}

/** `edit.tvr` -> `edit.results.json` (written beside the recipe, or under `--out`). */
export function resultsFileName(recipe: string): string {
  return `${basename(recipe).replace(/\.tvr$/i, '')}.results.json`;
}
