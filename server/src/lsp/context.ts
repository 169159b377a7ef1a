// What every LSP feature receives and announces, and the guard around its requests:
// cancellation, and the crash policy (an exception answers its request with an error; a
// second one in a row ends the process, so that the client starts a fresh server).
import {
  ErrorCodes, LSPErrorCodes, ResponseError,
  type CancellationToken, type Connection, type ServerCapabilities, type TextDocumentIdentifier,
} from 'vscode-languageserver/node';
import type { Analysis } from '../language/analysis.ts';
import type { ClientSupport } from './client-support.ts';
import type { StatisticsService } from './statistics.ts';
import type { RecipeWorkspace } from './workspace.ts';

export interface FeatureContext {
  readonly connection: Connection;
  readonly workspace: RecipeWorkspace;
  readonly statistics: StatisticsService;
  /** Filled in by `initialize`, before any request arrives. */
  readonly client: ClientSupport;
  readonly failures: RequestFailures;
  /** The script of this CLI (`dist/tvr.mjs`), which runs recipes as `tvr run` in a child process. */
  readonly cli: string;
}

/** One LSP feature: its handlers, and what `initialize` announces for it. */
export interface Feature {
  register(context: FeatureContext): void;
  capabilities?(client: ClientSupport): ServerCapabilities;
  /** After the client's `initialized`: dynamic registrations and the like. */
  initialized?(context: FeatureContext): void;
}

/** Exit status when the server ends itself after repeated failures (as the CLI's internal errors). */
export const failureExitCode = 70;

const answerWrittenMs = 50;

/**
 * Counts requests that failed with an exception since the last one that succeeded; the
 * second in a row ends the process (after its error answer is written): state that made
 * two requests fail is not worth keeping, and clients restart a server that exits.
 */
export class RequestFailures {
  #inARow = 0;
  readonly #log: (message: string) => void;
  readonly #end: () => void;

  constructor(log: (message: string) => void, end: () => void) {
    this.#log = log;
    this.#end = end;
  }

  succeeded(): void {
    this.#inARow = 0;
  }

  failed(what: string, error: unknown): void {
    this.#inARow++;
    this.#log(`${what} failed: ${(error as Error)?.stack ?? String(error)}`);
    if (this.#inARow < 2) return;
    this.#log('a second failure in a row: the server exits so that the client starts a fresh one');
    // The connection writes the error answer on a later turn of the event loop; exit after it.
    setTimeout(this.#end, answerWrittenMs);
  }
}

export function throwIfCancelled(token: CancellationToken): void {
  if (token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'request cancelled');
}

/**
 * Runs a request handler under the crash policy: a ResponseError is an answer (cancelled,
 * refused) and passes through; any other exception is counted and answered as an internal error.
 */
export async function guarded<T>(context: FeatureContext, what: string, run: () => T | Promise<T>): Promise<T> {
  try {
    const result = await run();
    context.failures.succeeded();
    return result;
  } catch (error) {
    if (error instanceof ResponseError) throw error;
    context.failures.failed(what, error);
    throw new ResponseError(ErrorCodes.InternalError, `tvr: ${what} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

/**
 * A request on the current analysis of a document: `fallback` for a document the server
 * does not have open, RequestCancelled when the client gave up while the analysis ran.
 */
export function analysisRequest<P extends { readonly textDocument: TextDocumentIdentifier }, T>(
  context: FeatureContext,
  feature: string,
  fallback: T,
  run: (analysis: Analysis, params: P, token: CancellationToken) => T | Promise<T>,
): (params: P, token: CancellationToken) => Promise<T> {
  return (params, token) => guarded(context, feature, async () => {
    const analysis = await context.workspace.analysis(params.textDocument.uri);
    throwIfCancelled(token);
    return analysis ? run(analysis, params, token) : fallback;
  });
}
