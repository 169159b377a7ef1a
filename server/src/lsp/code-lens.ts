// "Run Recipe" above the first statement of a recipe that has something to run (a save
// or an evaluation); the client implements the `tvr.runRecipe` command.
import type { CodeLens } from 'vscode-languageserver/node';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toRange } from './convert.ts';

export function registerCodeLens(context: FeatureContext): void {
  context.connection.onCodeLens((params) => withAnalysis(context, params.textDocument.uri, 'code lens', [] as CodeLens[], (analysis) => {
    const program = analysis.checked.program;
    const first = analysis.tree.statements[0];
    if (!first || (program.saves.length === 0 && program.evaluations.length === 0)) return [];
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error').length;
    const what = [
      program.evaluations.length > 0 ? `${program.evaluations.length} evaluation${program.evaluations.length === 1 ? '' : 's'}` : '',
      program.saves.length > 0 ? `${program.saves.length} output${program.saves.length === 1 ? '' : 's'}` : '',
    ].filter(Boolean).join(', ');
    const title = errors > 0 ? `$(error) Run Recipe (fix ${errors} error${errors === 1 ? '' : 's'} first)` : `$(play) Run Recipe: ${what}`;
    return [{ range: toRange(analysis, { start: first.start, end: first.start }), command: { title, command: 'tvr.runRecipe', arguments: [params.textDocument.uri] } }];
  }));
}
