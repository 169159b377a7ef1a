// The tvr language server as seen from VS Code: one LanguageClient at a time, started over
// Node IPC from the bundled CLI (`dist/tvr.mjs lsp --node-ipc`), replaced by a fresh one on
// restart (vscode-languageclient 11 has no in-place restart). Workspace trust goes to the
// server in `initialize` and, when granted later, in a `tvr/setTrusted` notification.
// `client: 'vscode'` tells the server it may use VS Code's commands and `$(icon)` titles,
// and that this extension runs recipes itself (the server offers its own run command only
// to other editors).
import * as vscode from 'vscode';
import { LanguageClient, Trace, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import type { InitializationOptions } from '../../server/src/lsp/client-support.ts';

export const traceSetting = 'tvr.server.trace';

/** Tells a running server that the workspace trust changed (`tvr/setTrusted`). */
export const setTrustedNotification = 'tvr/setTrusted';

export function serverModulePath(extensionUri: vscode.Uri): string {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'tvr.mjs').fsPath;
}

export function createLanguageClient(serverModule: string, output: vscode.LogOutputChannel): LanguageClient {
  // The client appends `--node-ipc --clientProcessId=<pid>` to these arguments.
  const serverOptions: ServerOptions = { module: serverModule, args: ['lsp'], transport: TransportKind.ipc };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: 'tvr' }],
    outputChannel: output,
    // Evaluated at each `initialize`, so a restarted server gets the trust of that moment.
    initializationOptions: (): InitializationOptions => ({
      client: 'vscode',
      trusted: vscode.workspace.isTrusted,
      allowOutputsOutside: allowOutputsOutside(),
    }),
  };
  return new LanguageClient('tvr', 'tvr language server', serverOptions, clientOptions);
}

export function configuredTrace(): Trace {
  return Trace.fromString(vscode.workspace.getConfiguration().get<string>(traceSetting, 'off'));
}

/** The setting tvr.run.allowOutputsOutside: saves may write outside the recipe's folder (honoured only when trusted). */
export function allowOutputsOutside(): boolean {
  return vscode.workspace.getConfiguration('tvr').get<boolean>('run.allowOutputsOutside', false) === true;
}

/**
 * Owns the running client. Start, restart and stop are queued one after another, so a
 * restart command racing a trust grant cannot leave two servers running.
 */
export class LanguageServerSession implements vscode.Disposable {
  readonly #serverModule: string;
  readonly #output: vscode.LogOutputChannel;
  #client: LanguageClient | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(serverModule: string, output: vscode.LogOutputChannel) {
    this.#serverModule = serverModule;
    this.#output = output;
  }

  /** The client now running or starting; undefined after a failed start or after stop. */
  get client(): LanguageClient | undefined {
    return this.#client;
  }

  start(): Promise<void> {
    return this.#enqueue(() => this.#start());
  }

  restart(reason: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#output.info(`restarting the language server: ${reason}`);
      await this.#stop();
      await this.#start();
    });
  }

  stop(): Promise<void> {
    return this.#enqueue(() => this.#stop());
  }

  async applyTrace(): Promise<void> {
    await this.#client?.setTrace(configuredTrace());
  }

  /** Passes a trust grant to the running server; a server that is not running gets it when it (re)starts. */
  trustGranted(): Promise<void> {
    return this.#enqueue(async () => {
      const client = this.#client;
      if (client?.isRunning()) {
        await client.sendNotification(setTrustedNotification, { trusted: vscode.workspace.isTrusted });
        this.#output.info('workspace trusted: told the language server');
      } else {
        await this.#stop();
        await this.#start();
      }
    });
  }

  dispose(): void {
    void this.stop();
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(step);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #start(): Promise<void> {
    const client = createLanguageClient(this.#serverModule, this.#output);
    this.#client = client;
    try {
      await client.start();
      await client.setTrace(configuredTrace());
      this.#output.info(`language server started (${this.#serverModule}, workspace trusted: ${vscode.workspace.isTrusted})`);
    } catch (error) {
      this.#client = undefined;
      await client.dispose().catch(() => undefined);
      const message = `The tvr language server did not start: ${error instanceof Error ? error.message : String(error)}`;
      this.#output.error(message);
      void vscode.window.showErrorMessage(message, 'Show Output').then((choice) => {
        if (choice) this.#output.show(true);
      });
    }
  }

  async #stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client?.needsStop()) await client.dispose(2000).catch((error: unknown) => this.#output.warn(`stopping the language server: ${String(error)}`));
  }
}
