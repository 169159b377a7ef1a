// Files a run writes besides the saves, named here so that the checker (which must not
// let them replace an input) and the run that writes them agree.
import { basename } from 'node:path';

/** `edit.tvr` -> `edit.results.json` (written beside the recipe, or under `--out`). */
export function resultsFileName(recipe: string): string {
  return `${basename(recipe).replace(/\.tvr$/i, '')}.results.json`;
}
