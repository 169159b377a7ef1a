// `tvr check FILE...`: diagnostics with source excerpts; exit 0 without errors, 1 with
// errors, 2 when a file cannot be read.
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { analyzeFile } from '../language/analysis.ts';
import { renderDiagnostics, toJsonDiagnostic, type JsonDiagnostic } from './report.ts';
import { visibleControls } from '../display-text.ts';

export interface CheckOptions {
  readonly json: boolean;
  /** Accept saves outside the recipe's folder (as `tvr run --allow-outputs-outside` would). */
  readonly allowOutputsOutside?: boolean;
}

export async function checkCommand(files: readonly string[], options: CheckOptions): Promise<number> {
  const headers = new HeaderCache();
  const json: JsonDiagnostic[] = [];
  let errors = 0;
  let warnings = 0;
  let unreadable = false;
  for (const file of files) {
    const absolute = resolve(file);
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      process.stderr.write(`tvr: cannot read ${visibleControls(file)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : visibleControls((error as Error).message)}\n`);
      unreadable = true;
      continue;
    }
    const analysis = await analyzeFile(text, absolute, headers, { allowOutputsOutside: options.allowOutputsOutside === true });
    const display = relative(process.cwd(), absolute) || file;
    for (const d of analysis.diagnostics) {
      if (d.severity === 'error') errors++;
      if (d.severity === 'warning') warnings++;
      if (options.json) json.push(toJsonDiagnostic(display, analysis, d));
    }
    if (!options.json) process.stdout.write(renderDiagnostics(display, analysis, analysis.diagnostics.filter((d) => d.severity !== 'hint'), process.stdout));
  }
  if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} in ${files.length} file${files.length === 1 ? '' : 's'}\n`);
  if (unreadable) return 2;
  return errors > 0 ? 1 : 0;
}
