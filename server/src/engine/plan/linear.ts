// A save plan seen as straight-through copies and linear combinations of input tensors
// (task arithmetic, soups, weighted averages: no statistics, one pass). Such an output
// needs no ordering between chunks, so threads can each read, combine and write their
// own chunks in place (backends/io-threads.ts). Plain, cloneable data.
import type { Dtype, TensorEntry } from '../../checkpoints/types.ts';
import { linearTerms } from '../kernels/lin-wasm.ts';
import type { ComputedTensor, SavePlan, TensorSlot } from './types.ts';

export type LinearTensor =
  | {
    readonly kind: 'lin';
    readonly name: string;
    readonly elements: number;
    /** The dtype written (float). */
    readonly dtype: Dtype;
    /** The input tensors read, each once per chunk. */
    readonly inputs: readonly TensorEntry[];
    /** The plan's input slot of each input, so a read failure names the load. */
    readonly slots: readonly number[];
    /** out = fround(sum coef * inputs[input]), in this order (the order the other backends add in). */
    readonly terms: readonly { readonly input: number; readonly coef: number }[];
  }
  | { readonly kind: 'copy'; readonly name: string; readonly input: TensorEntry; readonly bytes: number };

/** The plan's tensors as copies and linear combinations, or undefined when any tensor needs more. */
export function linearTensors(plan: SavePlan): LinearTensor[] | undefined {
  const out: LinearTensor[] = [];
  for (const tensor of plan.tensors) {
    if (tensor.kind === 'copied') {
      out.push({ kind: 'copy', name: tensor.name, input: tensor.input.entry, bytes: tensor.input.entry.byteLength });
      continue;
    }
    const combination = combinationOf(tensor);
    // The I/O threads read checkpoint files; a product of LoRA factors is computed by the pipeline.
    if (!combination || tensor.inputs.some((slot) => slot.kind !== 'tensor')) return undefined;
    const slots = [...new Set(combination.slots)];
    out.push({
      kind: 'lin',
      name: tensor.name,
      elements: tensor.elements,
      dtype: tensor.dtype,
      inputs: slots.map((s) => (tensor.inputs[s] as TensorSlot).entry),
      slots,
      terms: combination.slots.map((slot, i) => ({ input: slots.indexOf(slot), coef: combination.coefs[i]! })),
    });
  }
  return out;
}

/** The input slots and coefficients of a single-pass tensor without statistics that is a linear combination of inputs. */
function combinationOf(tensor: ComputedTensor): { slots: readonly number[]; coefs: readonly number[] } | undefined {
  if (tensor.passes.length !== 1 || tensor.stats.length > 0) return undefined;
  const kernel = tensor.passes[0]!.kernel;
  const output = kernel.output === null ? undefined : kernel.nodes[kernel.output];
  // A tensor saved as it is (maybe into another dtype) is the combination 1 * input: fround(1 * x) is x.
  if (output?.op === 'input' && kernel.reductions.length === 0) return { slots: [output.slot], coefs: [1] };
  const terms = linearTerms(kernel);
  return terms && { slots: terms.slots, coefs: terms.coefs.map((c) => tensor.params[c]!) };
}

/** A piece of work: elements [start, start + length) of a `lin` tensor, or bytes of a `copy`. */
export interface LinearChunk {
  readonly tensor: number;
  readonly start: number;
  readonly length: number;
}

/** Every tensor cut into chunks of at most `chunkElements` elements (copies: as many bytes x 4), in output order. */
export function linearChunks(tensors: readonly LinearTensor[], chunkElements: number): LinearChunk[] {
  const chunks: LinearChunk[] = [];
  tensors.forEach((tensor, index) => {
    const total = tensor.kind === 'lin' ? tensor.elements : tensor.bytes;
    const step = tensor.kind === 'lin' ? chunkElements : chunkElements * 4;
    for (let start = 0; start < total; start += step) chunks.push({ tensor: index, start, length: Math.min(step, total - start) });
  });
  return chunks;
}
