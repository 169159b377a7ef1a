// Reading `tvr run --json`: stdout is JSON lines, one event each (the run's own events and
// the engine's, interleaved). Chunks split lines anywhere; anything that is not an event
// (a stray print, a half-written line at a crash) becomes text for the log, never an error.
import type { RunEvent } from '../../../server/src/engine/events.ts';
import type { RecipeRunEvent } from '../../../server/src/results/schema.ts';
import { isRunResults } from './panel-messages.ts';

export type CliEvent = RecipeRunEvent | RunEvent;

export type CliLine =
  | { readonly kind: 'event'; readonly event: CliEvent }
  | { readonly kind: 'text'; readonly text: string };

const eventTypes: ReadonlySet<string> = new Set<CliEvent['type']>([
  'run-start', 'evaluation-progress', 'point', 'chosen', 'results', 'run-done', 'run-error',
  'start', 'progress', 'tensor', 'notice', 'output', 'done', 'error',
]);

export function parseCliLine(line: string): CliLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (!text.startsWith('{')) return { kind: 'text', text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'text', text };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'text', text };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !eventTypes.has(type)) return { kind: 'text', text };
  if (type === 'results' && !isRunResults((value as { results?: unknown }).results)) return { kind: 'text', text: `(results event not in the expected schema) ${text}` };
  return { kind: 'event', event: value as CliEvent };
}

/** A line longer than this without a newline is passed on as text rather than kept growing. */
const maxLineLength = 64 * 1024 * 1024;

/** Splits text chunks into lines; a partial last line waits for the next chunk or `end()`. */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  #pending = '';

  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  push(chunk: string): void {
    const parts = (this.#pending + chunk).split('\n');
    this.#pending = parts.pop() ?? '';
    for (const line of parts) this.#onLine(line);
    if (this.#pending.length > maxLineLength) this.end();
  }

  /** Passes on what is left (a last line without a newline). */
  end(): void {
    const rest = this.#pending;
    this.#pending = '';
    if (rest.length > 0) this.#onLine(rest);
  }
}
