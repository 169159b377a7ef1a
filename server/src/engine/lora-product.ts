// A LoRA adapter's ΔW = scale · B·A, computed chunk by chunk from its two factors (lora_A
// [r, in], lora_B [out, r]): each element is a dot product of length r, summed in float64
// and rounded once to float32, so memory stays the chunk plus the factors whatever the
// model's size. Where the base stores the weight as [in, out] (fan_in_fan_out, embeddings)
// the chunk is of (B·A)^T.
import type { TensorReader } from '../checkpoints/tensor-reader.ts';
import { slotKey, type LoraProductSlot } from './plan/types.ts';

export interface LoraFactors {
  /** lora_A, row-major [r, in]. */
  readonly a: Float32Array;
  /** lora_B, row-major [out, r]. */
  readonly b: Float32Array;
}

/** Factor pairs kept: the tensor being computed and the ones the pipeline reads ahead. */
const KEPT_FACTORS = 4;

/** Fills chunks of LoRA products, reading each tensor's factors once for all its chunks and passes. */
export function loraProducts(reader: TensorReader): (slot: LoraProductSlot, start: number, target: Float32Array) => Promise<void> {
  const kept = new Map<string, Promise<LoraFactors>>();
  const factorsOf = (slot: LoraProductSlot): Promise<LoraFactors> => {
    const key = slotKey(slot);
    let factors = kept.get(key);
    if (!factors) {
      factors = readFactors(reader, slot);
      kept.set(key, factors);
      factors.catch(() => kept.delete(key));
      while (kept.size > KEPT_FACTORS) kept.delete(kept.keys().next().value!);
    }
    return factors;
  };
  return async (slot, start, target) => productChunk(await factorsOf(slot), slot, start, target);
}

async function readFactors(reader: TensorReader, slot: LoraProductSlot): Promise<LoraFactors> {
  const a = new Float32Array(slot.a.shape[0]! * slot.a.shape[1]!);
  const b = new Float32Array(slot.b.shape[0]! * slot.b.shape[1]!);
  await Promise.all([reader.readFloat32(slot.a, 0, a), reader.readFloat32(slot.b, 0, b)]);
  return { a, b };
}

/** Elements [start, start + target.length) of ΔW as the base stores it, row-major. */
export function productChunk({ a, b }: LoraFactors, slot: LoraProductSlot, start: number, target: Float32Array): void {
  const rank = slot.a.shape[0]!;
  const inputs = slot.a.shape[1]!;
  const columns = slot.transposed ? slot.b.shape[0]! : inputs;
  const sums = new Float64Array(columns);
  const column = new Float64Array(rank);
  const end = start + target.length;
  for (let at = start; at < end;) {
    const row = Math.floor(at / columns);
    const from = at - row * columns;
    const to = Math.min(columns, from + end - at);
    if (slot.transposed) {
      // Row `row` of (B·A)^T is column `row` of B·A: sum_k B[j, k] A[k, row].
      for (let k = 0; k < rank; k++) column[k] = a[k * inputs + row]!;
      for (let j = from; j < to; j++) {
        let sum = 0;
        for (let k = 0; k < rank; k++) sum += b[j * rank + k]! * column[k]!;
        sums[j] = sum;
      }
    } else {
      // Row `row` of B·A: sum_k B[row, k] A[k, :], along A's contiguous rows.
      sums.fill(0, from, to);
      for (let k = 0; k < rank; k++) {
        const weight = b[row * rank + k]!;
        const offset = k * inputs;
        for (let j = from; j < to; j++) sums[j]! += weight * a[offset + j]!;
      }
    }
    for (let j = from; j < to; j++) target[at - start + j - from] = slot.scale * sums[j]!;
    at += to - from;
  }
}
