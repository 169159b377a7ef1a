// A model at a sweep point, computed into memory (for in-process evaluation): the same
// plan, backend and kernels as a run, with the values kept instead of written.
import { TensorReader } from '../checkpoints/tensor-reader.ts';
import type { CheckpointHeader, Dtype } from '../checkpoints/types.ts';
import type { SweepPoint, TypedProgram, WeightNode } from '../language/program.ts';
import { selectBackend } from './backends/registry.ts';
import type { BackendChoice } from './backends/registry.ts';
import type { Backend } from './backends/types.ts';
import { ChunkBuffers, runPipeline } from './compute.ts';
import { DEFAULT_CHUNK_ELEMENTS, planSave } from './plan/build.ts';
import { copyTensor, fileSource } from './stream.ts';

export interface MaterializedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** The dtype a save would write (the anchor's, for float tensors). */
  readonly dtype: Dtype;
  /** Float tensors: the computed float32 values. */
  readonly values?: Float32Array;
  /** Integer/bool tensors: the anchor's bytes, unchanged (little-endian). */
  readonly bytes?: Uint8Array;
}

export interface MaterializeOptions {
  readonly backend?: BackendChoice | Backend;
  readonly point?: SweepPoint;
  readonly signal?: AbortSignal;
  readonly chunkElements?: number;
}

/** Computes `node` (a Model or Vector of `program`) at `point`; tensors in output order. */
export async function materialize(program: TypedProgram, node: WeightNode, options: MaterializeOptions = {}): Promise<Map<string, MaterializedTensor>> {
  const point = options.point ?? new Map<number, number>();
  const chunkElements = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const plan = planSave(program, { node, path: '', range: node.range, overwrite: false }, point, chunkElements);
  const own = options.backend === undefined || typeof options.backend === 'string';
  const backend = typeof options.backend === 'object' ? options.backend : (await selectBackend(options.backend ?? 'auto')).backend;
  const reader = new TensorReader(program.loads.map((l) => l.header).filter((h): h is CheckpointHeader => h !== undefined));
  const result = new Map<string, MaterializedTensor>();
  try {
    await runPipeline(plan.tensors, backend, new ChunkBuffers(backend, chunkElements), fileSource(reader), {
      writeFloat32: async (tensor, values, start) => {
        let known = result.get(tensor.name);
        if (!known) {
          known = { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, values: new Float32Array(tensor.elements) };
          result.set(tensor.name, known);
        }
        known.values!.set(values, start);
      },
      copy: async (tensor) => {
        const bytes = new Uint8Array(tensor.input.entry.byteLength);
        let filled = 0;
        await copyTensor(tensor, reader, async (piece) => {
          bytes.set(piece, filled);
          filled += piece.length;
        }, chunkElements * 4, options.signal);
        result.set(tensor.name, { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, bytes });
      },
    }, options.signal ? { signal: options.signal } : {});
    return result;
  } finally {
    await reader.close();
    if (own) await backend.close();
  }
}
