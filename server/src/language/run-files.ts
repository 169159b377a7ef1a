// Files a run reads and writes besides the saves, named here so that the checker (which
// must not let an output replace an input) and the run agree.
import { basename, dirname } from 'node:path';
import type { PathLocation } from '../checkpoints/locate.ts';
import type { LoadNode } from './program.ts';

/** A file or folder an input consists of, with the load that reads it. */
export interface InputPath {
  readonly path: string;
  readonly load: LoadNode;
  /** The folder of a multi-file model (sharded safetensors, TensorFlow.js), not a file of it. */
  readonly modelFolder: boolean;
}

/** An input's file or folder, and where it leads. */
export interface InputLocation extends InputPath {
  readonly location: PathLocation;
}

/** The files a load reads (its path, its header's file, every data file) and the folder of a multi-file model. */
export function inputPaths(load: LoadNode): InputPath[] {
  const files = new Set([load.path, ...(load.header ? [load.header.path, ...load.header.files.map((f) => f.path)] : [])]);
  const paths = [...files].map((path) => ({ path, load, modelFolder: false }));
  if (load.header && load.header.format !== 'safetensors') paths.push({ path: dirname(load.header.path), load, modelFolder: true });
  return paths;
}

/** `edit.tvr` -> `edit.results.json` (written beside the recipe, or under `--out`). */
export function resultsFileName(recipe: string): string {
  return `${basename(recipe).replace(/\.tvr$/i, '')}.results.json`;
}
