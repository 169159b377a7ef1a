// Worker thread for the statistics pass, so norms over gigabytes never block the
// language server's request loop. Protocol, per request (a worker serves many, one at
// a time): `progress` messages, then exactly one of `result`, `error` or `cancelled`.
// The pass reads synchronously, so cancellation is a shared flag checked at every
// chunk boundary.
import { parentPort } from 'node:worker_threads';
import { runGramPass } from './gram-pass.ts';
import type { GramPassOptions, GramResult } from './gram-pass.ts';
import type { CheckpointHeader } from './types.ts';

export interface StatisticsRequest {
  readonly headers: readonly CheckpointHeader[];
  readonly includeReference: boolean;
  readonly chunkElements?: number;
  readonly part?: GramPassOptions['part'];
  /** Int32 slot 0 becomes non-zero to cancel. */
  readonly cancel: SharedArrayBuffer;
}

export type StatisticsReply =
  | { readonly type: 'progress'; readonly bytesDone: number; readonly bytesTotal: number }
  | { readonly type: 'result'; readonly result: GramResult }
  | { readonly type: 'error'; readonly error: { readonly name: string; readonly message: string; readonly code?: string; readonly file?: string } }
  | { readonly type: 'cancelled' };

const PROGRESS_INTERVAL_MS = 100;
const port = parentPort!;
const cancelledMarker = new Error('cancelled');

function send(reply: StatisticsReply): void {
  port.postMessage(reply);
}

port.on('message', (request: StatisticsRequest) => {
  const cancel = new Int32Array(request.cancel);
  let lastProgress = 0;
  try {
    const result = runGramPass(request.headers, {
      includeReference: request.includeReference,
      ...(request.chunkElements !== undefined ? { chunkElements: request.chunkElements } : {}),
      ...(request.part ? { part: request.part } : {}),
      shouldStop: () => Atomics.load(cancel, 0) !== 0,
      stopError: () => cancelledMarker,
      onProgress: (bytesDone, bytesTotal) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_INTERVAL_MS && bytesDone < bytesTotal) return;
        lastProgress = now;
        send({ type: 'progress', bytesDone, bytesTotal });
      },
    });
    send({ type: 'result', result });
  } catch (error) {
    if (error === cancelledMarker) {
      send({ type: 'cancelled' });
      return;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    const { code, file } = e as { code?: unknown; file?: unknown };
    send({
      type: 'error',
      error: {
        name: e.name,
        message: e.message,
        ...(typeof code === 'string' ? { code } : {}),
        ...(typeof file === 'string' ? { file } : {}),
      },
    });
  }
});
