// `tvr export mergekit recipe.tvr [-o config.yml] [--allow-partial]`: writes the mergekit
// configuration of the recipe's saved value; every statement mergekit cannot express (or
// computes differently) is reported as file:line:column, and without --allow-partial nothing
// is written (exit 1). A recipe with errors exits 1; an unreadable one 2.
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { visibleControls } from '../display-text.ts';
import { exportMergekit } from '../mergekit/export.ts';
import { analyzeFile } from '../language/analysis.ts';
import { renderDiagnostics } from './report.ts';
import { readInputText, writeTextOutput } from './import.ts';

export async function exportMergekitCommand(recipe: string, options: { out?: string; allowPartial: boolean }): Promise<number> {
  const recipePath = resolve(recipe);
  const text = await readInputText(recipePath, recipe);
  if (text === undefined) return 2;
  const analysis = await analyzeFile(text, recipePath, new HeaderCache());
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    process.stderr.write(renderDiagnostics(relative(process.cwd(), recipePath) || recipe, analysis, errors, process.stderr));
    process.stderr.write('tvr: nothing written: the recipe has errors\n');
    return 1;
  }
  const out = resolve(options.out ?? join(dirname(recipePath), `${basename(recipePath, extname(recipePath))}.yml`));
  const result = exportMergekit(analysis.checked.program, { configDir: dirname(out) });
  for (const r of result.reports) process.stderr.write(`${visibleControls(recipe)}:${r.line}:${r.column}: ${visibleControls(r.message)}\n`);
  if (result.yaml === null) {
    process.stderr.write('tvr: nothing written: mergekit cannot express the saved value\n');
    return 1;
  }
  if (result.reports.length > 0 && !options.allowPartial) {
    process.stderr.write(`tvr: nothing written: ${result.reports.length} statement${result.reports.length === 1 ? '' : 's'} not exported exactly (--allow-partial writes the configuration with a comment for each)\n`);
    return 1;
  }
  const comments = result.reports.map((r) => `# not exported: ${r.line}:${r.column} ${r.message.replace(/\s+/g, ' ')}\n`).join('');
  if (!(await writeTextOutput(out, `# Exported from ${basename(recipePath)} by \`tvr export mergekit\`.\n${comments}${result.yaml}`, recipePath, recipe))) return 2;
  process.stdout.write(`wrote ${visibleControls(out)}\n`);
  return 0;
}
