// Streams a plan's tensors through the backend as one pipeline of steps (tensor, pass,
// chunk): the reads of the next chunk overlap the computation of the current one, even
// across tensors, and outputs are written in order while later chunks are computed.
// Two buffer sets alternate: a set's inputs are refilled as soon as the step that read
// them has computed (without waiting for its output's write), its output once that
// write is done.
// A single-pass tensor streams in small chunks (1 MiB per operand: a step's inputs and
// output stay in the CPU cache between the read, the kernel and the write). A tensor
// with statistics that fits in the large chunk is read once and kept for all its
// passes; a larger one is re-read by each pass. Memory is bounded by the large chunk
// size times the operands, never by the model size.
import type { Backend, ChunkTotals } from './backends/types.ts';
import type { Dtype } from '../checkpoints/types.ts';
import { cancelled } from './errors.ts';
import { checkFiniteChunk } from './finite.ts';
import { histogramBins, resolveStep, selectionOf } from './plan/resolve.ts';
import type { ReductionTotal, Selection } from './plan/resolve.ts';
import { slotBytes, type ComputedTensor, type CopiedTensor, type InputSlot, type Reduction, type TensorPlan } from './plan/types.ts';

/** Where input values come from: files (through the TensorReader) or memory. */
export interface ChunkSource {
  /** Fills `target` with elements [start, start + target.length) of the slot's tensor, as float32. */
  read(slot: InputSlot, start: number, target: Float32Array): Promise<void>;
}

/** Where results go, in output order; a values array is reused once the returned promise settles. */
export interface TensorDestination {
  writeFloat32(tensor: ComputedTensor, values: Float32Array, start: number): Promise<void>;
  /** Copies an integer/bool tensor (reads and writes its bytes itself). */
  copy(tensor: CopiedTensor): Promise<void>;
}

export interface PipelineOptions {
  readonly signal?: AbortSignal;
  /** Input bytes read (reported as each read completes). */
  readonly onBytes?: (bytes: number, tensor: TensorPlan) => void;
  /** A tensor is completely written. */
  readonly onTensor?: (tensor: TensorPlan) => void;
  /** The dtype a computed tensor is stored as, when not its plan's (a TensorFlow.js output stores float32). */
  readonly storedDtype?: (tensor: ComputedTensor) => Dtype;
  /** Values of a chunk written as NaN or infinity because its inputs hold such values (finite inputs giving them fail the run). */
  readonly onNonFinitePassed?: (tensor: ComputedTensor, count: number) => void;
}

/**
 * Chunk buffers reused for a whole run, allocated by the backend (shared memory for
 * worker threads): two sets of (one per input slot + the output), plus the buffers
 * that keep node values for in-memory top-k selection.
 */
/** Elements per step of a single-pass tensor (1 MiB of float32 per operand). */
export const STREAM_ELEMENTS = 1 << 18;

export class ChunkBuffers {
  /** The large chunk: tensors with statistics up to this size are kept whole. */
  readonly capacity: number;
  /** The chunk single-pass tensors stream in. */
  readonly streamCapacity: number;
  readonly #backend: Backend;
  readonly #inputs: Float32Array[][] = [[], []];
  readonly #outputs: (Float32Array | undefined)[] = [undefined, undefined];
  readonly #kept: Float32Array[] = [];
  readonly #windows: Float32Array[] = [];

  constructor(backend: Backend, capacity: number) {
    this.#backend = backend;
    this.capacity = capacity;
    this.streamCapacity = Math.min(capacity, STREAM_ELEMENTS);
  }

  input(set: number, slot: number, length: number): Float32Array {
    const buffers = this.#inputs[set]!;
    while (buffers.length <= slot) buffers.push(this.#backend.allocate(this.capacity));
    return buffers[slot]!.subarray(0, length);
  }

  output(set: number, length: number): Float32Array {
    this.#outputs[set] ??= this.#backend.allocate(this.capacity);
    return this.#outputs[set]!.subarray(0, length);
  }

  kept(index: number, length: number): Float32Array {
    while (this.#kept.length <= index) this.#kept.push(this.#backend.allocate(this.capacity));
    return this.#kept[index]!.subarray(0, length);
  }

  /** Read-ahead window `index` of the run's file source (stream.ts), `bytes` long (a multiple of 4). */
  window(index: number, bytes: number): Uint8Array {
    while (this.#windows.length <= index) this.#windows.push(this.#backend.allocate(bytes / 4));
    const buffer = this.#windows[index]!;
    return new Uint8Array(buffer.buffer, buffer.byteOffset, bytes);
  }

  /** Gives every buffer back to the backend, for its next run; nothing may use them afterwards. */
  release(): void {
    const all = [...this.#inputs.flat(), ...this.#outputs.filter((b) => b !== undefined), ...this.#kept, ...this.#windows];
    for (const set of this.#inputs) set.length = 0;
    this.#outputs.fill(undefined);
    this.#kept.length = 0;
    this.#windows.length = 0;
    this.#backend.release?.(all);
  }
}

interface ComputeStep {
  readonly kind: 'compute';
  readonly tensor: ComputedTensor;
  readonly pass: number;
  readonly chunk: number;
  readonly chunks: number;
  readonly start: number;
  readonly length: number;
  readonly set: number;
  /** Slots read before this step (none when a resident tensor's later pass reuses its buffers). */
  readonly reads: readonly number[];
}

type Step = ComputeStep | { readonly kind: 'copy'; readonly tensor: CopiedTensor };

function* stepsOf(tensors: readonly TensorPlan[], capacity: number, streamCapacity: number): Generator<Step> {
  let set = 1;
  for (const tensor of tensors) {
    if (tensor.kind === 'copied') {
      yield { kind: 'copy', tensor };
      continue;
    }
    const chunk = Math.min(tensor.passes.length === 1 ? streamCapacity : capacity, Math.max(1, tensor.elements));
    const chunks = Math.max(1, Math.ceil(tensor.elements / chunk));
    const all = [...new Set(tensor.passes.flatMap((p) => p.slots))].sort((a, b) => a - b);
    for (const [pass, spec] of tensor.passes.entries()) {
      for (let c = 0; c < chunks; c++) {
        const fresh = !tensor.resident || pass === 0;
        if (fresh) set = 1 - set;
        const start = c * chunk;
        yield { kind: 'compute', tensor, pass, chunk: c, chunks, start, length: Math.min(chunk, tensor.elements - start), set, reads: !fresh ? [] : tensor.resident ? all : spec.slots };
      }
    }
  }
}

export async function runPipeline(tensors: readonly TensorPlan[], backend: Backend, buffers: ChunkBuffers, source: ChunkSource, destination: TensorDestination, options: PipelineOptions = {}): Promise<void> {
  const steps = [...stepsOf(tensors, buffers.capacity, buffers.streamCapacity)];
  // Writes (and copies) run one after another, in output order.
  let writing: Promise<void> = Promise.resolve();
  let writeFailure: { error: unknown } | undefined;
  const chain = (task: () => Promise<void>): Promise<void> => {
    writing = writing.then(task);
    writing.catch((error: unknown) => { writeFailure ??= { error }; });
    return writing;
  };
  /** When each set's output buffer is free again (its last write done). */
  const setFree: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  const reads = new Map<number, Promise<void>>();
  const startRead = (index: number): void => {
    const step = steps[index];
    if (!step || step.kind !== 'compute' || step.reads.length === 0 || reads.has(index)) return;
    const read = (async () => {
      await Promise.all(step.reads.map((slot) => source.read(step.tensor.inputs[slot]!, step.start, buffers.input(step.set, slot, step.length))));
      options.onBytes?.(step.reads.reduce((sum, slot) => sum + (slotBytes(step.tensor.inputs[slot]!) * step.length) / Math.max(1, step.tensor.elements), 0), step.tensor);
    })();
    read.catch(() => undefined); // awaited below; this only keeps a prefetch failure from being "unhandled"
    reads.set(index, read);
  };

  let params = new Float64Array(0);
  let totals: ReductionTotal[] = [];
  try {
    for (let i = 0; i < steps.length; i++) {
      if (options.signal?.aborted) throw cancelled();
      if (writeFailure) throw writeFailure.error;
      const step = steps[i]!;
      if (step.kind === 'copy') {
        void chain(async () => {
          await destination.copy(step.tensor);
          options.onTensor?.(step.tensor);
        });
        continue;
      }
      startRead(i);
      // Prefetch the next step that reads, into the other set (the step before, its last
      // user, has computed), while this one is read and computed.
      for (let j = i + 1; j < steps.length; j++) {
        const next = steps[j]!;
        if (next.kind === 'compute' && next.reads.length > 0) {
          if (next.set !== step.set) startRead(j);
          break;
        }
      }
      await reads.get(i);
      reads.delete(i);

      const { tensor, pass: passIndex } = step;
      const pass = tensor.passes[passIndex]!;
      if (passIndex === 0 && step.chunk === 0) params = Float64Array.from(tensor.params);
      // A one-chunk pass uses the chunk's results as they are; several chunks add up.
      if (step.chunk === 0 && step.chunks > 1) totals = pass.kernel.reductions.map((r) => (histogramBins(r.kind) > 0 ? new Float64Array(histogramBins(r.kind)) : 0));
      const final = passIndex === tensor.passes.length - 1;
      // The set's output buffer is free once its previous write is done (steps without reads wait here).
      if (final) await setFree[step.set];
      const output = final ? buffers.output(step.set, step.length) : null;
      const inputs = tensor.inputs.map((_, slot) => (pass.slots.includes(slot) ? buffers.input(step.set, slot, step.length) : null));
      const result = await backend.run({
        kernel: pass.kernel,
        params,
        inputs,
        start: step.start,
        length: step.length,
        output,
        kept: keptBuffers(pass.kernel.reductions, buffers, step.length),
      });
      if (step.chunks === 1) totals = [...result];
      else accumulate(totals, result);
      if (output) {
        const passed = checkFiniteChunk(tensor.name, options.storedDtype?.(tensor) ?? tensor.dtype, output, inputs, step.start);
        if (passed > 0) options.onNonFinitePassed?.(tensor, passed);
        const last = step.chunk === step.chunks - 1;
        setFree[step.set] = chain(async () => {
          await destination.writeFloat32(tensor, output, step.start);
          if (last) options.onTensor?.(tensor);
        });
      }
      if (step.chunk === step.chunks - 1) {
        // In-memory top-k selections go to the backend together, which may run them on several threads.
        const selections: Selection[] = [];
        for (const { step: statStep, reductions } of pass.steps) {
          const stat = tensor.stats[statStep.stat]!;
          const stepTotals = reductions.map((r) => totals[r]!);
          const selection = backend.selectTopK ? selectionOf(stat, statStep.step, stepTotals) : undefined;
          if (selection) selections.push(selection);
          else resolveStep(stat, statStep.step, stepTotals, params);
        }
        if (selections.length > 0) {
          const thresholds = await backend.selectTopK!(selections);
          selections.forEach((s, j) => { params[s.threshold] = thresholds[j]!; });
        }
      }
    }
    await writing;
  } catch (error) {
    // Let reads and writes in flight settle before the caller aborts the writer.
    await Promise.allSettled([writing, ...reads.values()]);
    throw error;
  }
}

/** A buffer for each `values` reduction (numbered densely), null for the others. */
function keptBuffers(reductions: readonly Reduction[], buffers: ChunkBuffers, length: number): (Float32Array | null)[] {
  let next = 0;
  return reductions.map((r) => (r.kind === 'values' ? buffers.kept(next++, length) : null));
}

function accumulate(totals: ReductionTotal[], result: ChunkTotals): void {
  result.forEach((value, i) => {
    if (typeof value === 'number') {
      totals[i] = (totals[i] as number) + value;
    } else if (value instanceof Float32Array) {
      totals[i] = value;
    } else {
      const hist = totals[i] as Float64Array;
      for (let b = 0; b < value.length; b++) hist[b]! += value[b]!;
    }
  });
}
