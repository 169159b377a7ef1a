// The run feature as activation sees it: the Run Recipe command and the results panels
// (with the serializer that brings them back after a reload).
import * as vscode from 'vscode';
import type { ExtensionHost } from '../extension.ts';
import { serverModulePath } from '../language-client.ts';
import { ResultsPanels } from '../results-panel.ts';
import { resultsViewType } from './panel-messages.ts';
import { RecipeRunner } from './run-command.ts';

export function registerRun(host: ExtensionHost): void {
  const { context, output } = host;
  const panels = new ResultsPanels(context.extensionUri, output);
  // The CLI is the same bundle the language server runs from.
  const runner = new RecipeRunner({ cli: serverModulePath(context.extensionUri), output, panels });
  context.subscriptions.push(
    panels,
    runner,
    vscode.commands.registerCommand('tvr.runRecipe', (target?: unknown) => runner.run(target)),
    vscode.window.registerWebviewPanelSerializer(resultsViewType, panels.serializer()),
  );
}
