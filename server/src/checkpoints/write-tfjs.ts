// Streaming TensorFlow.js LayersModel output: model.json (the given topology, a fresh
// weightsManifest, user metadata in `userDefinedMetadata`) and `group1-shardKofN.bin`
// shards of fixed size, the weights laid back to back across them as tfjs expects.
// The whole directory is written under a temporary name and renamed on commit.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beginAtomicOutput } from './atomic-output.ts';
import { isFloatDtype } from './dtypes.ts';
import { checkOutputTensors, StreamingCheckpointWriter, tensorByteLength } from './write-stream.ts';
import type { CheckpointWriter, OutputTensor, PlannedFile } from './write-stream.ts';
import type { Dtype } from './types.ts';

/** tfjs's own default shard size. */
export const TFJS_SHARD_BYTES = 4 * 1024 * 1024;

const TFJS_DTYPE_NAMES: Partial<Record<Dtype, string>> = { F32: 'float32', I32: 'int32', BOOL: 'bool' };

export interface TfjsWriterOptions {
  /**
   * The model.json whose topology is reused, normally `CheckpointHeader.tfjsModel` of an
   * input; everything but its weightsManifest and userDefinedMetadata is kept.
   */
  readonly model: unknown;
  /** Written as model.json's `userDefinedMetadata`. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly overwrite?: boolean;
  /** Shard size; default 4 MiB like tfjs. */
  readonly maxShardBytes?: number;
}

/** The stored form of a tensor in a tfjs model: float tensors are float32; int32 and bool as they are. */
export function tfjsStoredTensor(tensor: OutputTensor): OutputTensor {
  if (isFloatDtype(tensor.dtype)) return { ...tensor, dtype: 'F32' };
  if (tensor.dtype === 'I32' || tensor.dtype === 'BOOL') return tensor;
  throw new TypeError(`tensor "${tensor.name}" is ${tensor.dtype}: TensorFlow.js models hold only float32, int32 and bool weights`);
}

/**
 * Starts writing a TensorFlow.js LayersModel into the directory `destination`
 * (model.json + shards). Float data is stored as float32; feed tensors in order, then commit.
 */
export async function createTfjsWriter(
  destination: string,
  tensors: readonly OutputTensor[],
  options: TfjsWriterOptions,
): Promise<CheckpointWriter> {
  const template = options.model;
  if (typeof template !== 'object' || template === null || typeof (template as { modelTopology?: unknown }).modelTopology !== 'object') {
    throw new TypeError('a TensorFlow.js output needs the model.json (with modelTopology) of the model it is derived from');
  }
  const stored = tensors.map(tfjsStoredTensor);
  checkOutputTensors(stored);
  const shardBytes = options.maxShardBytes ?? TFJS_SHARD_BYTES;
  if (!(shardBytes > 0)) throw new RangeError(`maxShardBytes must be positive, got ${shardBytes}`);

  const output = await beginAtomicOutput(destination, { isDirectory: true, overwrite: options.overwrite ?? false });
  const total = stored.reduce((sum, t) => sum + tensorByteLength(t), 0);
  const count = Math.ceil(total / shardBytes);
  const paths = Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}.bin`);
  const files = paths.map((name, i): PlannedFile => ({
    path: join(output.temporary, name),
    prefix: new Uint8Array(0),
    dataBytes: Math.min(shardBytes, total - i * shardBytes),
  }));
  const writeModelJson = async () => {
    const { weightsManifest: _manifest, userDefinedMetadata: _metadata, ...rest } = template as Record<string, unknown>;
    const modelJson = {
      format: 'layers-model',
      generatedBy: 'tvr',
      convertedBy: null,
      ...rest,
      weightsManifest: [{
        paths,
        weights: stored.map((t) => ({ name: t.name, shape: [...t.shape], dtype: TFJS_DTYPE_NAMES[t.dtype] })),
      }],
      ...(options.metadata && Object.keys(options.metadata).length > 0 ? { userDefinedMetadata: { ...options.metadata } } : {}),
    };
    await writeFile(join(output.temporary, 'model.json'), JSON.stringify(modelJson), { flag: 'wx' });
  };
  return new StreamingCheckpointWriter(output, stored, files, writeModelJson);
}
