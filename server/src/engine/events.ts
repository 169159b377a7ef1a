// Typed run events: the CLI prints them as JSON lines, the editor shows them as progress.
import type { CheckpointFormat, Dtype } from '../checkpoints/types.ts';

/** How an output is reported: its checkpoint format, or a Hugging Face model folder (safetensors with config, tokenizer and card). */
export type OutputFormat = CheckpointFormat | 'hf-model-folder';
import type { Range } from '../language/program.ts';
import type { BackendName } from './backends/types.ts';
import type { EngineErrorCode } from './errors.ts';

export interface PlannedOutput {
  readonly path: string;
  readonly format: OutputFormat;
  readonly tensors: number;
  /** Bytes the output will hold (tensor data). */
  readonly bytes: number;
}

export type RunEvent =
  | {
    readonly type: 'start';
    readonly backend: BackendName;
    readonly device: string;
    /** Why this backend (e.g. what `auto` skipped). */
    readonly reason: string;
    readonly outputs: readonly PlannedOutput[];
    /** Total input bytes the run will read (statistics passes over large tensors re-read). */
    readonly bytesTotal: number;
    readonly point: Readonly<Record<string, number>>;
  }
  | { readonly type: 'progress'; readonly bytesDone: number; readonly bytesTotal: number; readonly tensor: string; readonly output: string }
  | {
    readonly type: 'tensor';
    readonly output: string;
    readonly tensor: string;
    readonly dtype: Dtype;
    readonly shape: readonly number[];
    /** `computed` in `passes` streaming passes, or `copied` unchanged from the anchor. */
    readonly how: 'computed' | 'copied';
    readonly passes: number;
  }
  | {
    /** Integer/bool tensors copied from the anchor, or left out of a Vector output; NaN or infinite input values passed through. */
    readonly type: 'notice';
    readonly output: string;
    readonly kind: 'integers-copied' | 'integers-dropped' | 'non-finite-inputs';
    readonly tensors: readonly string[];
    readonly message: string;
  }
  | {
    readonly type: 'output';
    readonly path: string;
    readonly format: OutputFormat;
    readonly tensors: number;
    readonly bytes: number;
    /** `streaming`: in order through the chunk pipeline; `placed`: in place by the backend's I/O threads (copies and linear combinations). */
    readonly writer: 'streaming' | 'placed';
  }
  | { readonly type: 'done'; readonly outputs: readonly string[]; readonly seconds: number; readonly bytesRead: number; readonly bytesWritten: number }
  | {
    readonly type: 'error';
    readonly code: EngineErrorCode;
    readonly message: string;
    readonly tensor?: string;
    readonly file?: string;
    readonly range?: Range;
  };
