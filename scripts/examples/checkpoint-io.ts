// Reading and writing the examples' checkpoints (TensorFlow.js LayersModels) and
// evaluation files through the project's own checkpoint readers and writers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../server/src/checkpoints/tensor-reader.ts';
import { createTfjsWriter } from '../../server/src/checkpoints/write-tfjs.ts';
import { writeWhole } from '../../server/src/checkpoints/write-stream.ts';
import { ENCODER_LAYERS, HEAD_LAYER, modelTopology, namedTensors } from './network.ts';
import type { Dense, Network } from './network.ts';
import { IMAGE_SIZE } from './sources.ts';
import type { ImageSet } from './sources.ts';

export function modelJsonPath(dir: string): string {
  return join(dir, 'model.json');
}

/** The `trainKey` a checkpoint was written with, or undefined when absent or unreadable. */
export function storedKey(dir: string): string | undefined {
  try {
    const json = JSON.parse(readFileSync(modelJsonPath(dir), 'utf8')) as { userDefinedMetadata?: { trainKey?: unknown } };
    const key = json.userDefinedMetadata?.trainKey;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

export async function readNetwork(dir: string): Promise<Network> {
  const header = await readCheckpointHeader(modelJsonPath(dir));
  const reader = new TensorReader([header]);
  try {
    const layer = async (name: string): Promise<Dense | undefined> => {
      const kernel = header.tensors.get(`${name}/kernel`);
      const bias = header.tensors.get(`${name}/bias`);
      if (!kernel || !bias) return undefined;
      const [inputs, outputs] = kernel.shape as [number, number];
      const k = new Float32Array(inputs * outputs);
      const b = new Float32Array(outputs);
      await reader.readFloat32(kernel, 0, k);
      await reader.readFloat32(bias, 0, b);
      return { kernel: k, bias: b, inputs, outputs };
    };
    const encoder: Dense[] = [];
    for (const name of ENCODER_LAYERS) {
      const l = await layer(name);
      if (!l) throw new Error(`${dir}: no ${name} weights`);
      encoder.push(l);
    }
    const head = await layer(HEAD_LAYER);
    return head ? { encoder, head } : { encoder };
  } finally {
    await reader.close();
  }
}

export async function writeNetwork(dir: string, network: Network, metadata: Record<string, string>): Promise<void> {
  const tensors = namedTensors(network);
  const topology = modelTopology(network.head?.outputs);
  const writer = await createTfjsWriter(dir, tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape })), {
    model: { modelTopology: topology, format: 'layers-model', generatedBy: 'scripts/examples/train.ts', convertedBy: null },
    metadata,
    overwrite: true,
  });
  await writeWhole(writer, async (w) => {
    for (const t of tensors) await w.writeFloat32(t.values);
  });
}

/** One split of an evaluation file (docs/examples-data.md) as images and labels. */
export async function readEvaluationSplit(path: string, split: 'validation' | 'test'): Promise<ImageSet> {
  const header = await readCheckpointHeader(path);
  const x = header.tensors.get(`${split}/x`);
  const y = header.tensors.get(`${split}/y`);
  if (!x || !y || x.dtype !== 'U8' || y.dtype !== 'I32' || x.shape[1] !== IMAGE_SIZE || x.shape[0] !== y.shape[0]) {
    throw new Error(`${path}: expected ${split}/x U8 [N, ${IMAGE_SIZE}] and ${split}/y I32 [N]`);
  }
  const reader = new TensorReader([header]);
  try {
    const images = new Uint8Array(x.byteLength);
    const labels = new Int32Array(y.shape[0]!);
    await reader.readBytes(x, 0, images);
    await reader.readBytes(y, 0, new Uint8Array(labels.buffer));
    return { count: labels.length, images, labels };
  } finally {
    await reader.close();
  }
}
