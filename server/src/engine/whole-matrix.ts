// Matrices computed whole for the methods that decompose them (plan/types.ts MatrixSlot):
// each argument's terms are read whole through the pipeline's reader, summed in float64,
// the method's rule computes the matrix once, and its chunks are served from it, rounded
// once to float32, while the tensor's passes read it.
import { matrix } from '../methods/svd.ts';
import type { InputSlot, MatrixSlot, MatrixTools } from './plan/types.ts';
import { rngKey, uniformDraws } from './rng.ts';

/**
 * Tensors whose computed matrices are kept: the one being read and the one the pipeline reads
 * ahead. A tensor's program may read several (DELLA prunes each task vector in its own slot),
 * and every chunk reads them all, so they are kept or dropped together.
 */
const KEPT_TENSORS = 2;

type Read = (slot: InputSlot, start: number, target: Float32Array) => Promise<void>;

/** Fills chunks of whole-matrix slots, computing each matrix once for all its chunks and passes. */
export function wholeMatrices(read: Read): (slot: MatrixSlot, start: number, target: Float32Array) => Promise<void> {
  const kept = new Map<string, Map<string, Promise<Float32Array>>>();
  const computed = (slot: MatrixSlot): Promise<Float32Array> => {
    let ofTensor = kept.get(slot.tensor);
    if (!ofTensor) {
      ofTensor = new Map();
      kept.set(slot.tensor, ofTensor);
      while (kept.size > KEPT_TENSORS) kept.delete(kept.keys().next().value!);
    }
    let values = ofTensor.get(slot.key);
    if (!values) {
      values = compute(read, slot);
      ofTensor.set(slot.key, values);
      const settled = ofTensor;
      values.catch(() => settled.delete(slot.key));
    }
    return values;
  };
  return async (slot, start, target) => {
    target.set((await computed(slot)).subarray(start, start + target.length));
  };
}

async function compute(read: Read, slot: MatrixSlot): Promise<Float32Array> {
  const size = slot.rows * slot.cols;
  const buffer = new Float32Array(size);
  const vectors = [];
  for (const terms of slot.vectors) {
    const sum = new Float64Array(size);
    for (const { slot: input, coef } of terms) {
      await read(input, 0, buffer);
      for (let i = 0; i < size; i++) sum[i]! += coef * buffer[i]!;
    }
    vectors.push(matrix(slot.rows, slot.cols, sum));
  }
  const tools: MatrixTools = { draws: (stream, start, count) => uniformDraws(rngKey(slot.seed, slot.tensor, stream), start, count) };
  return Float32Array.from(slot.rule(vectors, tools).data);
}
