// Activation (on the first .tvr document): the `tvr` log channel, the language server, and
// the commands that manage it. Everything the client knows about recipes comes from the
// server or the CLI; nothing here parses `.tvr`.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LanguageServerSession, serverModulePath, traceSetting } from './language-client.ts';
import { registerRun } from './run/register.ts';

/** What a feature module (such as the run command) is given when the extension activates. */
export interface ExtensionHost {
  readonly context: vscode.ExtensionContext;
  readonly output: vscode.LogOutputChannel;
  /** The language client now running; a restart replaces it, so ask again each time. */
  languageClient(): LanguageClient | undefined;
}

/** What `activate` returns (`vscode.extensions.getExtension('tvr-dev.tvr').exports`): for tests and other extensions. */
export interface TvrApi {
  languageClient(): LanguageClient | undefined;
}

/** A feature registers its commands and providers, pushing their disposables onto `host.context.subscriptions`. */
export type Feature = (host: ExtensionHost) => void;

/** Features that plug into activation. */
const features: readonly Feature[] = [registerRun];

let session: LanguageServerSession | undefined;

export function activate(context: vscode.ExtensionContext): TvrApi {
  const output = vscode.window.createOutputChannel('tvr', { log: true });
  session = new LanguageServerSession(serverModulePath(context.extensionUri), output);
  const server = session;
  context.subscriptions.push(
    output,
    server,
    vscode.commands.registerCommand('tvr.restartServer', () => server.restart('requested by the user')),
    vscode.commands.registerCommand('tvr.showOutput', () => output.show(true)),
    // Trust unlocks what the server refuses in restricted mode (external evaluator commands).
    vscode.workspace.onDidGrantWorkspaceTrust(() => server.trustGranted()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(traceSetting)) void server.applyTrace();
    }),
  );
  const host: ExtensionHost = { context, output, languageClient: () => server.client };
  for (const register of features) register(host);
  // Activation does not wait for the server: a server that fails to start is reported in the
  // output channel and a notification, and the grammar, snippets and commands work regardless.
  void server.start();
  return { languageClient: host.languageClient };
}

export async function deactivate(): Promise<void> {
  await session?.stop();
  session = undefined;
}
