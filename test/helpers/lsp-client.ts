// A real LSP client for protocol tests: spawns the built server (`dist/tvr.mjs lsp
// --stdio`) on the project's Node and talks JSON-RPC over its stdio with
// vscode-languageserver-protocol, recording what the server pushes (diagnostics,
// progress, log, trace and shown messages) so tests can wait for it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createProtocolConnection, DidChangeTextDocumentNotification, DidCloseTextDocumentNotification, DidOpenTextDocumentNotification,
  ExitNotification, InitializedNotification, InitializeRequest, LogMessageNotification, LogTraceNotification, PublishDiagnosticsNotification,
  ShowMessageNotification, ShutdownRequest, StreamMessageReader, StreamMessageWriter,
  type ClientCapabilities, type Diagnostic, type InitializeResult, type MessageConnection, type ProtocolConnection, type ShowMessageParams, type TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol/node';
import { fixtureDir } from './checkpoint-fixtures.ts';
import { writeRecipeWorkspace } from './recipe-fixtures.ts';

export const repositoryRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
/** The built CLI; `TVR_SERVER_BUNDLE` points the tests at another build of it. */
export const serverBundle = process.env['TVR_SERVER_BUNDLE'] ?? join(repositoryRoot, 'dist', 'tvr.mjs');

/** What a current VS Code announces, trimmed to what the server looks at or may use. */
export const realisticCapabilities: ClientCapabilities = {
  general: { positionEncodings: ['utf-16'] },
  window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: true } } },
  workspace: {
    applyEdit: true,
    workspaceEdit: { documentChanges: true },
    didChangeWatchedFiles: { dynamicRegistration: true, relativePatternSupport: true },
    configuration: true,
    workspaceFolders: true,
  },
  textDocument: {
    synchronization: { dynamicRegistration: true, didSave: true, willSave: true },
    publishDiagnostics: { relatedInformation: true, versionSupport: true, codeDescriptionSupport: true, tagSupport: { valueSet: [1, 2] } },
    completion: {
      completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'], insertReplaceSupport: true, labelDetailsSupport: true },
      contextSupport: true,
    },
    hover: { contentFormat: ['markdown', 'plaintext'] },
    signatureHelp: { signatureInformation: { documentationFormat: ['markdown', 'plaintext'], parameterInformation: { labelOffsetSupport: true }, activeParameterSupport: true }, contextSupport: true },
    definition: { linkSupport: true },
    references: {},
    rename: { prepareSupport: true },
    documentSymbol: { hierarchicalDocumentSymbolSupport: true },
    codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix', 'refactor', 'source'] } }, isPreferredSupport: true },
    formatting: {},
    semanticTokens: {
      requests: { full: true },
      tokenTypes: ['type', 'variable', 'parameter', 'function', 'property', 'string', 'number', 'comment', 'operator'],
      tokenModifiers: ['declaration', 'defaultLibrary', 'readonly'],
      formats: ['relative'],
    },
  },
};

export interface PublishedDiagnostics {
  readonly uri: string;
  readonly version: number | undefined;
  readonly diagnostics: Diagnostic[];
}

export interface ProgressEvent {
  readonly token: string | number;
  readonly value: { readonly kind: 'begin' | 'report' | 'end'; readonly title?: string; readonly message?: string; readonly percentage?: number };
}

export interface StartOptions {
  /** Working directory of the server (untitled documents resolve against it). */
  readonly cwd?: string;
}

export class LspTestClient {
  readonly connection: ProtocolConnection;
  readonly child: ChildProcessWithoutNullStreams;
  readonly published: PublishedDiagnostics[] = [];
  readonly progress: ProgressEvent[] = [];
  /** Requests the server sent to the client (method names), in order. */
  readonly serverRequests: string[] = [];
  readonly logs: string[] = [];
  /** `$/logTrace` messages (sent only while the client has tracing on). */
  readonly traces: string[] = [];
  /** `window/showMessage` notifications. */
  readonly messages: ShowMessageParams[] = [];
  stderr = '';
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  readonly #waiters = new Set<() => void>();

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => {
      this.#exitCode = code;
      this.#notify();
      resolve(code);
    }));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    this.connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    this.connection.onNotification(PublishDiagnosticsNotification.type, (params) => {
      this.published.push({ uri: params.uri, version: params.version, diagnostics: params.diagnostics });
      this.#notify();
    });
    this.connection.onNotification(LogMessageNotification.type, (params) => { this.logs.push(params.message); });
    this.connection.onNotification(LogTraceNotification.type, (params) => { this.traces.push(params.message); });
    this.connection.onNotification(ShowMessageNotification.type, (params) => {
      this.messages.push(params);
      this.#notify();
    });
    this.connection.onNotification('$/progress', (params: ProgressEvent) => {
      this.progress.push(params);
      this.#notify();
    });
    // Registration, progress creation and anything else the server asks: record and accept.
    // (The protocol connection is a JSON-RPC connection, which takes a handler for every method.)
    (this.connection as unknown as MessageConnection).onRequest((method: string) => {
      this.serverRequests.push(method);
      this.#notify();
      return null;
    });
    this.connection.onError(() => { /* the exit code and stderr tell what happened */ });
    this.connection.listen();
  }

  /** Spawns the built server with the Node running the tests (the project's Node 24). */
  static start(options: StartOptions = {}): LspTestClient {
    if (!existsSync(serverBundle)) throw new Error(`${serverBundle} is missing: run 'node scripts/build.ts' first`);
    const child = spawn(process.execPath, [serverBundle, 'lsp', '--stdio'], { cwd: options.cwd ?? repositoryRoot, stdio: 'pipe' });
    return new LspTestClient(child);
  }

  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  /** Resolves with the exit code when the process ends. */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  async initialize(options: { capabilities?: ClientCapabilities; rootUri?: string | null; initializationOptions?: unknown } = {}): Promise<InitializeResult> {
    const result = await this.connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: 'tvr protocol tests', version: '1' },
      rootUri: options.rootUri ?? null,
      capabilities: options.capabilities ?? realisticCapabilities,
      ...(options.initializationOptions !== undefined ? { initializationOptions: options.initializationOptions } : {}),
    });
    await this.connection.sendNotification(InitializedNotification.type, {});
    return result;
  }

  async open(uri: string, text: string, version = 1): Promise<void> {
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'tvr', version, text } });
  }

  async change(uri: string, version: number, changes: TextDocumentContentChangeEvent[]): Promise<void> {
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: changes });
  }

  async close(uri: string): Promise<void> {
    await this.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  }

  /** Opens a document and returns the diagnostics published for that version. */
  async openAndDiagnose(uri: string, text: string, version = 1): Promise<Diagnostic[]> {
    const waiting = this.diagnostics(uri, version);
    await this.open(uri, text, version);
    return waiting;
  }

  /** The first diagnostics published for `uri` at `version` (already received or still to come). */
  diagnostics(uri: string, version: number, timeoutMs = 15_000): Promise<Diagnostic[]> {
    return this.waitFor(`diagnostics of ${uri} v${version}`, () => this.published.find((p) => p.uri === uri && p.version === version)?.diagnostics, timeoutMs);
  }

  /** The next diagnostics published for `uri` after this call (e.g. after a file changed on disk). */
  nextDiagnostics(uri: string, timeoutMs = 15_000): Promise<Diagnostic[]> {
    const seen = this.published.length;
    return this.waitFor(`new diagnostics of ${uri}`, () => this.published.slice(seen).find((p) => p.uri === uri)?.diagnostics, timeoutMs);
  }

  /** Resolves with the first truthy result of `probe`, re-checked whenever the server sends something. */
  waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = probe();
        if (value !== undefined && value !== null && value !== false) {
          finish();
          resolve(value);
          return true;
        }
        if (this.#exitCode !== undefined) {
          finish();
          reject(new Error(`server exited (code ${this.#exitCode}) while waiting for ${what}; stderr: ${this.stderr}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log tail: ${this.logs.slice(-5).join(' | ')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(listener);
      };
      const listener = () => { check(); };
      if (!check()) this.#waiters.add(listener);
    });
  }

  /** Polls `request` every `intervalMs` until `accept` holds; returns the accepted answer and every earlier one. */
  async poll<T>(what: string, request: () => Promise<T>, accept: (answer: T) => boolean, timeoutMs = 15_000, intervalMs = 25): Promise<{ answer: T; earlier: T[] }> {
    const deadline = Date.now() + timeoutMs;
    const earlier: T[] = [];
    for (;;) {
      const answer = await request();
      if (accept(answer)) return { answer, earlier };
      earlier.push(answer);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms polling ${what}; last answer: ${JSON.stringify(answer)}`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** Writes raw bytes to the server's stdin (for malformed messages). */
  writeRaw(bytes: string): void {
    this.child.stdin.write(bytes);
  }

  /** shutdown, then exit; resolves with the process's exit code. */
  async shutdown(timeoutMs = 10_000): Promise<number | null> {
    await this.connection.sendRequest(ShutdownRequest.type);
    await this.connection.sendNotification(ExitNotification.type);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
      this.connection.dispose();
    }
  }

  /** Ends the process if it is still running (after a failed test). */
  kill(): void {
    if (this.#exitCode === undefined) this.child.kill('SIGKILL');
    this.connection.dispose();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** A recipe fixture workspace with a server initialised on it, for one suite. */
export interface WorkspaceServer {
  readonly dir: string;
  readonly client: LspTestClient;
  readonly initialized: InitializeResult;
}

/**
 * Writes a fixture workspace (writeRecipeWorkspace), starts and initialises a server on it
 * before the enclosing suite, and kills it and removes the folder after.
 */
export function serverOnRecipeWorkspace(): WorkspaceServer {
  const { dir, cleanup } = fixtureDir();
  writeRecipeWorkspace(dir);
  let client: LspTestClient | undefined;
  let initialized: InitializeResult | undefined;
  before(async () => {
    client = LspTestClient.start({ cwd: dir });
    initialized = await client.initialize({ rootUri: pathToFileURL(dir).href });
  });
  after(() => {
    client?.kill();
    cleanup();
  });
  return {
    dir,
    get client() {
      if (!client) throw new Error('the server starts in the suite\'s before hook');
      return client;
    },
    get initialized() {
      if (!initialized) throw new Error('the server starts in the suite\'s before hook');
      return initialized;
    },
  };
}
