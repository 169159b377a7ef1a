// The language server: capabilities and wiring. Each feature lives in its own file and
// only converts between the analysis core and LSP.
import { createConnection, DidChangeWatchedFilesNotification, TextDocumentSyncKind, type Connection } from 'vscode-languageserver/node';
import { registerCodeActions } from './code-actions.ts';
import { registerCodeLens } from './code-lens.ts';
import { completionTriggers, registerCompletion } from './completion.ts';
import type { FeatureContext } from './context.ts';
import { uriToPath } from './convert.ts';
import { registerDiagnostics } from './diagnostics.ts';
import { registerDocumentSymbols } from './document-symbols.ts';
import { registerFormatting } from './formatting.ts';
import { registerHover } from './hover.ts';
import { registerNavigation } from './navigation.ts';
import { registerSemanticTokens, semanticTokensLegend } from './semantic-tokens.ts';
import { registerSignatureHelp, signatureTriggers } from './signature-help.ts';
import { StatisticsService } from './statistics.ts';
import { RecipeWorkspace } from './workspace.ts';

export interface ServerOptions {
  readonly version: string;
}

/** Starts the server on the transport named on the command line (--stdio, --node-ipc, --socket=N). */
export function startLanguageServer(options: ServerOptions, connection: Connection = createConnection()): void {
  const workspace = new RecipeWorkspace(connection, { debounceMs: 150 });
  const statistics = new StatisticsService(connection, workspace.headers);
  const context: FeatureContext = { connection, workspace, statistics };
  let watchFiles = false;

  // A bug in one request must never take the server down; it is logged instead.
  process.on('uncaughtException', (error) => connection.console.error(`uncaught: ${error.stack ?? error}`));
  process.on('unhandledRejection', (error) => connection.console.error(`unhandled rejection: ${(error as Error)?.stack ?? error}`));

  connection.onInitialize((params) => {
    const init = params.initializationOptions as { trusted?: boolean; allowOutputsOutside?: boolean } | undefined;
    workspace.trusted = init?.trusted !== false;
    workspace.allowOutputsOutside = init?.allowOutputsOutside === true;
    statistics.progressSupported = params.capabilities.window?.workDoneProgress === true;
    watchFiles = params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
    return {
      serverInfo: { name: 'tvr', version: options.version },
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        completionProvider: { triggerCharacters: completionTriggers, resolveProvider: false },
        hoverProvider: true,
        signatureHelpProvider: { triggerCharacters: signatureTriggers, retriggerCharacters: [','] },
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        documentSymbolProvider: true,
        codeActionProvider: { codeActionKinds: ['quickfix'] },
        documentFormattingProvider: true,
        semanticTokensProvider: { legend: semanticTokensLegend, full: true },
        codeLensProvider: { resolveProvider: false },
      },
    };
  });

  connection.onInitialized(() => {
    if (watchFiles) {
      void connection.client.register(DidChangeWatchedFilesNotification.type, {
        watchers: [{ globPattern: '**/*.{safetensors,json,bin}' }],
      });
    }
  });
  connection.onDidChangeWatchedFiles((params) => workspace.filesChanged(params.changes.map((c) => uriToPath(c.uri))));
  connection.onNotification('tvr/setTrusted', (params: { trusted: boolean }) => {
    workspace.trusted = params.trusted;
  });

  workspace.onAnalysis((uri, analysis) => statistics.analysed(uri, analysis));
  workspace.documents.onDidClose((e) => statistics.closed(e.document.uri));
  registerDiagnostics(context);
  registerCompletion(context);
  registerHover(context);
  registerSignatureHelp(context);
  registerSemanticTokens(context);
  registerNavigation(context);
  registerDocumentSymbols(context);
  registerCodeActions(context);
  registerFormatting(context);
  registerCodeLens(context);

  connection.listen();
}
