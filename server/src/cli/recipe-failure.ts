// How `tvr run` and `tvr eval` report a failure on stderr: a recipe with errors as `tvr check`
// prints them, anything else as one line (an internal error with its stack).
import { relative } from 'node:path';
import { visibleControls } from '../display-text.ts';
import { errorCode, RecipeCheckError } from '../run/run-recipe.ts';
import { renderDiagnostics } from './report.ts';

/** `outcome` ends the summary line of a recipe with errors: "nothing ran". */
export function reportRecipeFailure(error: unknown, file: string, outcome: string): void {
  if (error instanceof RecipeCheckError) {
    const display = relative(process.cwd(), file) || file;
    const errors = error.analysis.diagnostics.filter((d) => d.severity === 'error');
    process.stderr.write(renderDiagnostics(display, error.analysis, errors, process.stderr));
    const count = errors.length;
    process.stderr.write(`tvr: ${count} error${count === 1 ? '' : 's'} in ${display}; ${outcome}\n`);
    return;
  }
  const code = errorCode(error);
  process.stderr.write(`tvr: ${visibleControls(code === 'internal' && error instanceof Error ? (error.stack ?? error.message) : (error as Error).message)}\n`);
}
