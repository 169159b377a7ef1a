// The messages between the results panel (extension host) and its webview, and the state
// the webview keeps across reloads. Both TypeScript projects (client and client/src/webview)
// include this file, so it must stay free of `vscode` and of the DOM; each side checks what
// it receives with the parsers below rather than trusting the other end.
import type { RunResults } from '../../../server/src/results/schema.ts';

/** The webview panel's view type: the serializer and `onWebviewPanel:tvr.results` name it. */
export const resultsViewType = 'tvr.results';

export type ExportFormat = 'csv' | 'json';

/** Extension host -> webview. */
export type HostMessage =
  /** The whole results after every change: the webview redraws from the latest one. */
  | { readonly type: 'results'; readonly results: RunResults }
  /** The line under the status while a run is going; `fraction` in 0..1 when known. */
  | { readonly type: 'progress'; readonly message: string; readonly fraction?: number };

/** Webview -> extension host. */
export type WebviewMessage =
  /** The webview has loaded (again, after it was hidden or reloaded) and wants the latest results. */
  | { readonly type: 'ready' }
  | { readonly type: 'export'; readonly format: ExportFormat };

/** Kept by the webview through `vscode.setState`; the panel serializer restores a panel from it. */
export interface PanelState {
  readonly version: 1;
  readonly results?: RunResults;
  readonly progress?: { readonly message: string; readonly fraction?: number };
}

const runStatuses: ReadonlySet<unknown> = new Set(['running', 'done', 'failed', 'cancelled']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A shallow check of the fields every reader relies on. The schema version is checked by
 * the renderer, which tells the user about a version it does not know instead of dropping it.
 */
export function isRunResults(value: unknown): value is RunResults {
  if (!isRecord(value)) return false;
  const { schemaVersion, recipe, status, evaluations, sweeps, outputs, notes, backend } = value;
  return typeof schemaVersion === 'number'
    && isRecord(recipe) && typeof recipe['path'] === 'string'
    && runStatuses.has(status)
    && isRecord(backend)
    && Array.isArray(evaluations) && Array.isArray(sweeps) && Array.isArray(outputs) && Array.isArray(notes);
}

function parseFraction(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : undefined;
}

function parseProgress(message: unknown, fraction: unknown): { message: string; fraction?: number } | undefined {
  if (typeof message !== 'string') return undefined;
  const clamped = parseFraction(fraction);
  return clamped === undefined ? { message } : { message, fraction: clamped };
}

export function parseHostMessage(data: unknown): HostMessage | undefined {
  if (!isRecord(data)) return undefined;
  if (data['type'] === 'results') return isRunResults(data['results']) ? { type: 'results', results: data['results'] } : undefined;
  if (data['type'] === 'progress') {
    const progress = parseProgress(data['message'], data['fraction']);
    return progress && { type: 'progress', ...progress };
  }
  return undefined;
}

export function parseWebviewMessage(data: unknown): WebviewMessage | undefined {
  if (!isRecord(data)) return undefined;
  if (data['type'] === 'ready') return { type: 'ready' };
  if (data['type'] === 'export' && (data['format'] === 'csv' || data['format'] === 'json')) return { type: 'export', format: data['format'] };
  return undefined;
}

/** Reads a stored state; anything unrecognisable becomes an empty state rather than an error. */
export function parsePanelState(data: unknown): PanelState {
  if (!isRecord(data) || data['version'] !== 1) return { version: 1 };
  const results = isRunResults(data['results']) ? data['results'] : undefined;
  const stored = data['progress'];
  const progress = isRecord(stored) ? parseProgress(stored['message'], stored['fraction']) : undefined;
  return { version: 1, ...(results && { results }), ...(progress && { progress }) };
}
