// An output of copies and linear combinations, written in place by the backend's own
// threads (Backend.streamLinear): this file connects them to the run, turning their
// reports into progress and tensor events and background syncs, and their failures into
// errors that name the tensor, the file and the recipe line, as the chunk pipeline's do.
import { basename } from 'node:path';
import { writeFailure } from '../checkpoints/errors.ts';
import type { FileIdentity } from '../checkpoints/types.ts';
import type { PlacedSafetensorsOutput } from '../checkpoints/write-placed.ts';
import { LinearStreamError } from './backends/io-threads.ts';
import type { Backend } from './backends/types.ts';
import { EngineError } from './errors.ts';
import type { LinearTensor } from './plan/linear.ts';
import type { SavePlan, TensorPlan } from './plan/types.ts';
import { inputError } from './stream.ts';
import { NonFiniteOutputError } from './finite.ts';

export interface InPlaceOptions {
  readonly chunkElements: number;
  readonly signal?: AbortSignal;
  readonly onRead: (bytes: number, tensor: TensorPlan) => void;
  readonly onTensor: (tensor: TensorPlan) => void;
  /** Values of a tensor written as NaN or infinity because its inputs hold such values. */
  readonly onNonFinitePassed?: (tensor: TensorPlan, count: number) => void;
}

/** Streams `linear` (the plan's tensors as linear combinations) into `placed`; the caller commits or aborts it. */
export async function streamInPlace(backend: Backend, plan: SavePlan, linear: readonly LinearTensor[], placed: PlacedSafetensorsOutput, inputs: readonly FileIdentity[], options: InPlaceOptions, where: { tensor?: string | undefined }): Promise<void> {
  try {
    await backend.streamLinear!({
      tensors: linear,
      placements: placed.placements,
      outputs: placed.paths,
      inputs,
      chunkElements: options.chunkElements,
      ...(options.signal ? { signal: options.signal } : {}),
      onRead: (bytes, tensor) => options.onRead(bytes, plan.tensors[tensor]!),
      onWritten: (file, bytes) => placed.wrote(file, bytes),
      onTensor: (tensor) => options.onTensor(plan.tensors[tensor]!),
      onNonFinitePassed: (tensor, count) => options.onNonFinitePassed?.(plan.tensors[tensor]!, count),
    });
  } catch (error) {
    if (!(error instanceof LinearStreamError)) throw error;
    const cause = error.cause as Error;
    const tensor = error.tensor === undefined ? undefined : plan.tensors[error.tensor];
    if (!tensor) throw cause;
    where.tensor = tensor.name;
    if (error.stage === 'read') {
      const lin = linear[error.tensor!]!;
      throw inputError(cause, tensor.kind === 'copied' ? tensor.input : tensor.inputs[lin.kind === 'lin' ? lin.slots[error.input ?? 0]! : 0]!);
    }
    if (error.stage === 'value') throw new NonFiniteOutputError(tensor.name, cause.message);
    if (error.stage === 'write') {
      const file = placed.paths[placed.placements[error.tensor!]!.file]!;
      throw writeFailure(cause, placed.destination, `write ${basename(file)} (nothing was left behind)`);
    }
    throw new EngineError('internal', `tensor ${tensor.name}: ${cause.message}`, { tensor: tensor.name, cause });
  }
}
