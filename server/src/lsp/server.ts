// The language server: wiring, and capabilities gathered from the features (each in its
// own file, converting between the analysis core and LSP). `shutdown` stops background
// work so that `exit` ends the process at once.
import { createConnection, TextDocumentSyncKind, type Connection, type ServerCapabilities } from 'vscode-languageserver/node';
import { ClientSupport } from './client-support.ts';
import { codeActionsFeature } from './code-actions.ts';
import { codeLensFeature } from './code-lens.ts';
import { completionFeature } from './completion.ts';
import { failureExitCode, RequestFailures, type Feature, type FeatureContext } from './context.ts';
import { diagnosticsFeature } from './diagnostics.ts';
import { documentSymbolsFeature } from './document-symbols.ts';
import { fileChangesFeature } from './file-changes.ts';
import { formattingFeature } from './formatting.ts';
import { hoverFeature } from './hover.ts';
import { navigationFeature } from './navigation.ts';
import { runRecipeFeature } from './run-recipe.ts';
import { semanticTokensFeature } from './semantic-tokens.ts';
import { signatureHelpFeature } from './signature-help.ts';
import { StatisticsService } from './statistics.ts';
import { RecipeWorkspace } from './workspace.ts';

export interface ServerOptions {
  readonly version: string;
  /** The script of this CLI, to run recipes with (`tvr.runRecipe`). */
  readonly cli: string;
}

const features: readonly Feature[] = [
  diagnosticsFeature, completionFeature, hoverFeature, signatureHelpFeature, semanticTokensFeature, navigationFeature,
  documentSymbolsFeature, codeActionsFeature, formattingFeature, codeLensFeature, runRecipeFeature, fileChangesFeature,
];

/** Starts the server on the transport named on the command line (--stdio, --node-ipc, --socket=N). */
export function startLanguageServer(options: ServerOptions, connection: Connection = createConnection()): void {
  const workspace = new RecipeWorkspace(connection, { debounceMs: 150, trace: (message) => connection.tracer.log(message) });
  const statistics = new StatisticsService(connection, workspace.headers);
  const client = new ClientSupport();
  const failures = new RequestFailures((message) => connection.console.error(message), () => process.exit(failureExitCode));
  const context: FeatureContext = { connection, workspace, statistics, client, failures, cli: options.cli };

  // An exception outside any request counts as a failed request (the crash policy in context.ts).
  process.on('uncaughtException', (error) => failures.failed('uncaught exception', error));
  process.on('unhandledRejection', (error) => failures.failed('unhandled rejection', error));

  connection.onInitialize((params) => {
    client.initialize(params);
    workspace.trusted = client.options.trusted !== false;
    workspace.allowOutputsOutside = client.options.allowOutputsOutside === true;
    statistics.progressSupported = client.workDoneProgress;
    const capabilities: ServerCapabilities = { textDocumentSync: TextDocumentSyncKind.Incremental };
    for (const feature of features) Object.assign(capabilities, feature.capabilities?.(client));
    return { serverInfo: { name: 'tvr', version: options.version }, capabilities };
  });
  connection.onInitialized(() => {
    for (const feature of features) feature.initialized?.(context);
  });
  connection.onNotification('tvr/setTrusted', (params: { trusted: boolean }) => {
    workspace.trusted = params.trusted;
  });
  // Background work ends before shutdown answers: `exit` then has nothing to wait for (eglot
  // allows about 100 ms between `exit` and killing the server).
  connection.onShutdown(async () => {
    await workspace.dispose();
    await statistics.dispose();
  });

  workspace.onAnalysis((uri, analysis) => statistics.analysed(uri, analysis));
  workspace.documents.onDidClose((e) => statistics.closed(e.document.uri));
  for (const feature of features) feature.register(context);

  connection.listen();
}
