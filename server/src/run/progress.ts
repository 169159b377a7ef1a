// What a run's progress report says (VS Code's notification and results panel, the language
// server's `$/progress` in other editors), derived from the events of `tvr run --json`.
// Evaluation dominates a run with evaluations, so its count drives the fraction once it
// starts; before that (or without evaluations) the bytes the engine has streamed do.
import { basename } from 'node:path';
import type { RecipeEvent } from './run-recipe.ts';

export interface RunProgress {
  /** 0..1, never decreasing. */
  readonly fraction: number;
  readonly message: string;
  readonly evaluating: boolean;
}

export const initialProgress: RunProgress = { fraction: 0, message: 'starting', evaluating: false };

function percent(done: number, total: number): number {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
}

/** The progress after `event`, or undefined when the event does not change it. */
export function nextProgress(previous: RunProgress, event: RecipeEvent): RunProgress | undefined {
  const advance = (fraction: number, message: string, evaluating = previous.evaluating): RunProgress =>
    ({ fraction: Math.max(previous.fraction, fraction), message, evaluating });
  switch (event.type) {
    case 'run-start':
      return advance(0, `on ${event.backend}: ${event.points} sweep point${event.points === 1 ? '' : 's'}, ${event.evaluations} evaluation${event.evaluations === 1 ? '' : 's'}`);
    case 'start':
      return advance(previous.fraction, `computing on ${event.backend} (${event.device})`);
    case 'progress': {
      const share = percent(event.bytesDone, event.bytesTotal);
      const message = `writing ${basename(event.output)}: ${Math.round(share * 100)}% (${event.tensor})`;
      return advance(previous.evaluating ? previous.fraction : share, message);
    }
    case 'evaluation-progress':
      return advance(percent(event.done, event.total), `evaluating ${event.done}/${event.total}: ${event.what}`, true);
    case 'run-done':
      return advance(1, 'done');
    default:
      return undefined;
  }
}
