// Worker thread for the statistics passes (Gram matrices of checkpoints, norms of LoRA
// adapters), so norms over gigabytes never block the language server's request loop.
// Protocol, per request (a worker serves many, one at a time): `progress` messages, then
// exactly one of `result`, `error` or `cancelled`. The passes read synchronously, so
// cancellation is a shared flag checked at every chunk (or module) boundary.
import { parentPort } from 'node:worker_threads';
import { runGramPass } from './gram-pass.ts';
import type { GramPassOptions } from './gram-pass.ts';
import { runLoraNormPass, type LoraNormModule } from './lora-norm.ts';
import type { CheckpointHeader, FileIdentity } from './types.ts';

/** A pass to run; the request adds the cancellation flag. */
export type StatisticsTask =
  | {
    readonly pass: 'gram';
    readonly headers: readonly CheckpointHeader[];
    readonly includeReference: boolean;
    readonly chunkElements?: number;
    readonly part?: GramPassOptions['part'];
  }
  | {
    readonly pass: 'lora-norms';
    /** The adapter file's identities as its header recorded them. */
    readonly files: readonly FileIdentity[];
    readonly modules: readonly LoraNormModule[];
  };

export type StatisticsRequest = StatisticsTask & {
  /** Int32 slot 0 becomes non-zero to cancel. */
  readonly cancel: SharedArrayBuffer;
};

/** `T`: the result of the request's pass (GramResult, LoraNorms). */
export type StatisticsReply<T> =
  | { readonly type: 'progress'; readonly bytesDone: number; readonly bytesTotal: number }
  | { readonly type: 'result'; readonly result: T }
  | { readonly type: 'error'; readonly error: { readonly name: string; readonly message: string; readonly code?: string; readonly file?: string } }
  | { readonly type: 'cancelled' };

const PROGRESS_INTERVAL_MS = 100;
const port = parentPort!;
const cancelledMarker = new Error('cancelled');

function send(reply: StatisticsReply<unknown>): void {
  port.postMessage(reply);
}

port.on('message', (request: StatisticsRequest) => {
  const cancel = new Int32Array(request.cancel);
  let lastProgress = 0;
  const control = {
    shouldStop: () => Atomics.load(cancel, 0) !== 0,
    stopError: () => cancelledMarker,
    onProgress: (bytesDone: number, bytesTotal: number) => {
      const now = Date.now();
      if (now - lastProgress < PROGRESS_INTERVAL_MS && bytesDone < bytesTotal) return;
      lastProgress = now;
      send({ type: 'progress', bytesDone, bytesTotal });
    },
  };
  try {
    const result = request.pass === 'lora-norms'
      ? runLoraNormPass(request.files, request.modules, control)
      : runGramPass(request.headers, {
        includeReference: request.includeReference,
        ...(request.chunkElements !== undefined ? { chunkElements: request.chunkElements } : {}),
        ...(request.part ? { part: request.part } : {}),
        ...control,
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
