// A model at a sweep point, computed into memory (for in-process evaluation): the same
// plan, backend and kernels as a run, with the values kept instead of written.
import { TensorReader } from '../checkpoints/tensor-reader.ts';
import type { Dtype } from '../checkpoints/types.ts';
import { inputHeaders, type SweepPoint, type TypedProgram, type WeightNode } from '../language/program.ts';
import { selectBackend } from './backends/registry.ts';
import type { BackendChoice } from './backends/registry.ts';
import type { Backend } from './backends/types.ts';
import { ChunkBuffers, runPipeline } from './compute.ts';
import { NonFiniteOutputError, nonFiniteEngineError } from './finite.ts';
import { DEFAULT_CHUNK_ELEMENTS, planSave } from './plan/build.ts';
import { copyTensor, fileSource } from './stream.ts';
import type { TensorMemo } from './evaluation/weights.ts';

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

/** What materialisations share: a run's backend, chunk buffers, file reader and (for sweeps) a memo of inputs. */
export interface MaterializeContext {
  readonly program: TypedProgram;
  readonly backend: Backend;
  readonly reader: TensorReader;
  /** Keeps input tensors in memory across sweep points; without it every call reads the files. */
  readonly memo?: TensorMemo;
  readonly buffers?: ChunkBuffers;
  readonly chunkElements?: number;
  readonly signal?: AbortSignal;
}

/** Computes `node` at `point` into memory with a context's backend and reader; tensors in output order. */
export async function materializeWith(context: MaterializeContext, node: WeightNode, point: SweepPoint): Promise<Map<string, MaterializedTensor>> {
  const chunkElements = context.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const plan = planSave(context.program, { node, path: '', range: node.range, overwrite: false }, point, chunkElements);
  const buffers = context.buffers ?? new ChunkBuffers(context.backend, chunkElements);
  const files = fileSource(context.reader);
  const source = context.memo ? context.memo.source(files) : files;
  const readBytes = async (tensor: Parameters<typeof copyTensor>[0]): Promise<Uint8Array> => {
    const out = new Uint8Array(tensor.input.entry.byteLength);
    let filled = 0;
    await copyTensor(tensor, context.reader, async (piece) => {
      out.set(piece, filled);
      filled += piece.length;
    }, chunkElements * 4, context.signal);
    return out;
  };
  const result = new Map<string, MaterializedTensor>();
  try {
    await runPipeline(plan.tensors, context.backend, buffers, source, {
      writeFloat32: async (tensor, values, start) => {
        let known = result.get(tensor.name);
        if (!known) {
          known = { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, values: new Float32Array(tensor.elements) };
          result.set(tensor.name, known);
        }
        known.values!.set(values, start);
      },
      copy: async (tensor) => {
        const bytes = context.memo ? await context.memo.bytes(tensor.input, () => readBytes(tensor)) : await readBytes(tensor);
        result.set(tensor.name, { name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, bytes });
      },
    }, { storedDtype: () => 'F32', ...(context.signal ? { signal: context.signal } : {}) });
  } catch (error) {
    throw error instanceof NonFiniteOutputError ? nonFiniteEngineError(error, node.range) : error;
  } finally {
    if (!context.buffers) buffers.release();
  }
  return result;
}

/** Computes `node` (a Model or Vector of `program`) at `point`; tensors in output order. */
export async function materialize(program: TypedProgram, node: WeightNode, options: MaterializeOptions = {}): Promise<Map<string, MaterializedTensor>> {
  const own = options.backend === undefined || typeof options.backend === 'string';
  const backend = typeof options.backend === 'object' ? options.backend : (await selectBackend(options.backend ?? 'auto')).backend;
  const reader = new TensorReader(inputHeaders(program));
  try {
    return await materializeWith({
      program, backend, reader,
      ...(options.chunkElements !== undefined ? { chunkElements: options.chunkElements } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    }, node, options.point ?? new Map<number, number>());
  } finally {
    await reader.close();
    if (own) await backend.close();
  }
}
