// "Run Recipe" above the first statement of a recipe that has something to run (a save
// or an evaluation). Its command, `tvr.runRecipe`, is the VS Code extension's there, and
// the server's own elsewhere (run-recipe.ts); only VS Code renders `$(icon)` in titles.
import type { CodeLens, CodeLensParams } from 'vscode-languageserver/node';
import { analysisRequest, type Feature } from './context.ts';
import { toRange } from './convert.ts';
import { runRecipeCommand } from './run-recipe.ts';

export const codeLensFeature: Feature = {
  capabilities: () => ({ codeLensProvider: { resolveProvider: false } }),
  register(context) {
    context.connection.onCodeLens(analysisRequest(context, 'code lens', [] as CodeLens[], (analysis, params: CodeLensParams) => {
      const program = analysis.checked.program;
      const first = analysis.tree.statements[0];
      if (!first || (program.saves.length === 0 && program.evaluations.length === 0)) return [];
      const errors = analysis.diagnostics.filter((d) => d.severity === 'error').length;
      const what = [
        program.evaluations.length > 0 ? `${program.evaluations.length} evaluation${program.evaluations.length === 1 ? '' : 's'}` : '',
        program.saves.length > 0 ? `${program.saves.length} output${program.saves.length === 1 ? '' : 's'}` : '',
      ].filter(Boolean).join(', ');
      const icon = (name: string) => (context.client.isVsCode ? `$(${name}) ` : '');
      const title = errors > 0 ? `${icon('error')}Run Recipe (fix ${errors} error${errors === 1 ? '' : 's'} first)` : `${icon('play')}Run Recipe: ${what}`;
      return [{ range: toRange(analysis, { start: first.start, end: first.start }), command: { title, command: runRecipeCommand, arguments: [params.textDocument.uri] } }];
    }));
  },
};
