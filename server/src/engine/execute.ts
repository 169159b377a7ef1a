// `runProgram`: plans every save at a sweep point, checks the outputs before anything
// runs, then streams each output tensor by tensor through the chosen backend into an
// atomic checkpoint writer. Every output is committed only once all are computed, so a
// failed or cancelled run leaves nothing behind.
import { readFile } from 'node:fs/promises';
import { tensorByteLength } from '../checkpoints/write-stream.ts';
import type { CheckpointWriter, OutputTensor } from '../checkpoints/write-stream.ts';
import { PlacedSafetensorsOutput } from '../checkpoints/write-placed.ts';
import { createSafetensorsWriter } from '../checkpoints/write-safetensors.ts';
import { createTfjsWriter } from '../checkpoints/write-tfjs.ts';
import { TensorReader } from '../checkpoints/tensor-reader.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import { inputHeaders, type SweepPoint, type TypedProgram } from '../language/program.ts';
import { selectBackend } from './backends/registry.ts';
import type { BackendChoice } from './backends/registry.ts';
import type { Backend } from './backends/types.ts';
import { ChunkBuffers, runPipeline, STREAM_ELEMENTS } from './compute.ts';
import { cancelled, EngineError, lineOf } from './errors.ts';
import type { OutputFormat, RunEvent } from './events.ts';
import { checkOutputs, folderContents, resolveOutput } from './outputs.ts';
import type { ModelCardWriter, OutputTarget } from './outputs.ts';
import type { FolderContents } from '../checkpoints/write-hf-folder.ts';
import { DEFAULT_CHUNK_ELEMENTS, planSaves } from './plan/build.ts';
import { linearTensors } from './plan/linear.ts';
import type { SavePlan, TensorPlan } from './plan/types.ts';
import { streamInPlace } from './stream-in-place.ts';
import { NonFiniteOutputError, nonFiniteEngineError, passedThroughMessage } from './finite.ts';
import { namedPoint, provenance, provenanceMetadata, sha256 } from './provenance.ts';
import { copyTensor, fileSource, narrowInPlace, plannedReadBytes } from './stream.ts';

/**
 * Starting the I/O threads costs about 30 ms: below this many input bytes the pipeline is
 * done sooner. Measured for task arithmetic over 4 inputs of 4, 16 and 64 MB: 38 / 49 / 89 ms
 * in place against 18 / 23 / 83 ms through the pipeline (at 484 MB: 0.19 s against 0.25 s).
 */
export const PLACED_MIN_BYTES = 256 << 20;

export interface RunOptions {
  /** A backend name, `auto` (default), `gpu`, `cpu`, or a backend the caller created (and closes). */
  readonly backend?: BackendChoice | Backend;
  /** Values of the sweep variables the saves depend on. */
  readonly point?: SweepPoint;
  /** Write outputs under this directory instead of where the recipe says (same relative paths). */
  readonly outDir?: string;
  /** Replace existing outputs even where the save does not say `overwrite=true`. */
  readonly overwrite?: boolean;
  /**
   * Refuse outputs outside the recipe's folder (or `outDir`), as a recipe run does unless the
   * user allows it. Off by default: the engine's own callers write elsewhere (the evaluator's
   * temporary checkpoints).
   */
  readonly confineOutputs?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: RunEvent) => void;
  /** Elements per chunk buffer (memory is about 2 x (operands + 1) x 4 x this). */
  readonly chunkElements?: number;
  /**
   * Outputs of copies and linear combinations that read at least this many input bytes are
   * written in place by the backend's I/O threads (when it has them); smaller ones stream
   * through the pipeline, which starts no threads. Default PLACED_MIN_BYTES.
   */
  readonly placedMinBytes?: number;
  /** The recipe text whose hash goes into provenance; read from `program.file` when absent. */
  readonly recipeText?: string;
  /** Minimum milliseconds between progress events. Default 100. */
  readonly progressIntervalMs?: number;
  /**
   * fsync safetensors outputs before they are renamed into place, so an output that
   * appears is complete even after a power loss. Default false, as for the peers
   * (safetensors' save_file, torch.save): the rename alone already guarantees that a
   * crashed or cancelled run leaves no partial output, and the sync's writeback costs a
   * quarter of a task-arithmetic run's time on the development machine (docs/engine.md).
   */
  readonly sync?: boolean;
  /** The README.md card of each Hugging Face model folder output (tvr run gives one); without it such a folder has no card. */
  readonly modelCard?: ModelCardWriter;
}

export interface RunResult {
  readonly backend: string;
  readonly outputs: readonly { readonly path: string; readonly format: OutputFormat; readonly tensors: number; readonly bytes: number; readonly writer: 'streaming' | 'placed' }[];
  readonly seconds: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** What the run commits or aborts once every output is computed, and how it was written: in order through the chunk pipeline, or in place by I/O threads. */
interface OutputWriter {
  readonly kind: 'streaming' | 'placed';
  commit(): Promise<void>;
  abort(): Promise<void>;
}

interface Output {
  readonly plan: SavePlan;
  readonly target: OutputTarget;
  readonly tensors: readonly OutputTensor[];
  readonly bytes: number;
  /** Input bytes its plan reads. */
  readonly readBytes: number;
}

export async function runProgram(program: TypedProgram, options: RunOptions = {}): Promise<RunResult> {
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const chunkElements = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
  const writers: OutputWriter[] = [];
  let backend: Backend | undefined;
  let ownBackend = false;
  let reader: TensorReader | undefined;
  let buffers: ChunkBuffers | undefined;
  const where: { tensor?: string | undefined; output?: Output } = {};
  let reason = '';
  try {
    if (!(Number.isSafeInteger(chunkElements) && chunkElements > 0)) throw new EngineError('plan', `chunkElements must be a positive integer, got ${chunkElements}`);
    const point = options.point ?? new Map<number, number>();
    const plans = planSaves(program, point, chunkElements);
    const outputs = plans.map((plan): Output => {
      const target = resolveOutput(plan, program, options.outDir);
      const tensors = plan.tensors.map((t): OutputTensor => ({ name: t.name, dtype: target.format === 'tfjs-layers' && t.kind === 'computed' ? 'F32' : t.dtype, shape: t.shape }));
      return { plan, target, tensors, bytes: tensors.reduce((sum, t) => sum + tensorByteLength(t), 0), readBytes: plannedReadBytes(plan) };
    });
    const anchors = await checkOutputs(program, plans, outputs.map((o) => o.target), options.overwrite ?? false, {
      confine: options.confineOutputs === true,
      ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
    });

    if (options.backend !== undefined && typeof options.backend === 'object') {
      backend = options.backend;
    } else {
      const selected = await selectBackend(options.backend ?? 'auto');
      backend = selected.backend;
      ownBackend = true;
      reason = selected.reason;
    }
    const recipeHash = sha256(options.recipeText ?? (await readRecipe(program.file)));
    const bytesTotal = outputs.reduce((sum, o) => sum + o.readBytes, 0);
    emit({
      type: 'start',
      backend: backend.name,
      device: backend.device,
      reason: reason || `${backend.name} was given by the caller`,
      outputs: outputs.map((o) => ({ path: o.target.destination, format: resultsFormat(o.target), tensors: o.tensors.length, bytes: o.bytes })),
      bytesTotal,
      point: namedPoint(program, point),
    });

    const headers = inputHeaders(program);
    reader = new TensorReader(headers);
    const inputFiles = headers.flatMap((h) => h.files);
    const runBuffers = (buffers = new ChunkBuffers(backend, chunkElements));
    // Reads land in the backend's memory, where it widens 16-bit floats (and narrows outputs) in place.
    const codec = backend.halfCodec;
    const source = fileSource(reader, { window: (index, bytes) => runBuffers.window(index, bytes), ...(codec ? { codec } : {}) });
    const interval = options.progressIntervalMs ?? 100;
    let bytesDone = 0;
    let lastProgress = 0;
    const progress = (tensor: TensorPlan, force: boolean): void => {
      const now = performance.now();
      if (!force && now - lastProgress < interval) return;
      lastProgress = now;
      emit({ type: 'progress', bytesDone, bytesTotal, tensor: tensor.name, output: where.output!.target.destination });
    };

    for (const [i, output] of outputs.entries()) {
      where.output = output;
      noticeIntegers(output, emit);
      const dtypes = new Map(output.tensors.map((t) => [t.name, t.dtype]));
      /** Per tensor, values written as NaN or infinity because its inputs hold such values. */
      const passedThrough = new Map<string, number>();
      const addPassed = (tensor: TensorPlan, count: number): void => {
        passedThrough.set(tensor.name, (passedThrough.get(tensor.name) ?? 0) + count);
      };
      const noticePassedThrough = (): void => {
        if (passedThrough.size === 0) return;
        emit({ type: 'notice', output: output.target.destination, kind: 'non-finite-inputs', tensors: [...passedThrough.keys()], message: `${output.target.destination}: ${passedThroughMessage(passedThrough)}` });
      };
      const facts = await provenance({ program, root: program.saves[i]!.node, plan: output.plan, point, recipeHash });
      const metadata = provenanceMetadata(facts);
      const overwrite = (options.overwrite ?? false) || output.plan.overwrite;
      const sync = options.sync ?? false;
      const save = program.saves[i]!;
      const folder = folderContents(anchors[i], output.tensors, options.modelCard && ((about) => options.modelCard!({ ...about, save, metadata, provenance: facts })));
      const tensorWritten = (tensor: TensorPlan) => {
        progress(tensor, true);
        emit({
          type: 'tensor',
          output: output.target.destination,
          tensor: tensor.name,
          dtype: dtypes.get(tensor.name)!,
          shape: tensor.shape,
          how: tensor.kind,
          passes: tensor.kind === 'computed' ? tensor.passes.length : 1,
        });
      };
      const worthThreads = output.readBytes >= (options.placedMinBytes ?? PLACED_MIN_BYTES);
      const linear = backend.streamLinear && worthThreads && output.target.format !== 'tfjs-layers' ? linearTensors(output.plan) : undefined;
      if (linear) {
        // Copies and linear combinations only: the backend's threads read, combine and write chunks in place.
        const placed = await PlacedSafetensorsOutput.create(output.target.destination, output.tensors, { metadata, overwrite, sync, ...(folder ? { folder } : {}), ...(output.target.format === 'safetensors-sharded' ? { maxShardBytes: output.plan.shardBytes! } : {}) });
        writers.push({ kind: 'placed', commit: () => placed.commit(), abort: () => placed.abort() });
        await streamInPlace(backend, output.plan, linear, placed, inputFiles, {
          chunkElements: Math.min(chunkElements, STREAM_ELEMENTS),
          ...(options.signal ? { signal: options.signal } : {}),
          onRead: (bytes, tensor) => {
            bytesDone += bytes;
            progress(tensor, false);
          },
          onTensor: tensorWritten,
          onNonFinitePassed: addPassed,
        }, where);
        noticePassedThrough();
        continue;
      }
      const writer = await createWriter(output, metadata, overwrite, sync, folder);
      writers.push({ kind: 'streaming', commit: () => writer.commit(), abort: () => writer.abort() });
      await runPipeline(output.plan.tensors, backend, buffers, source, {
        writeFloat32: (tensor, values) => {
          where.tensor = tensor.name;
          const bytes = narrowInPlace(codec, dtypes.get(tensor.name)!, values);
          return bytes ? writer.writeBytes(bytes) : writer.writeFloat32(values);
        },
        copy: (tensor) => {
          where.tensor = tensor.name;
          return copyTensor(tensor, reader!, (bytes) => writer.writeBytes(bytes), chunkElements * 4, options.signal);
        },
      }, {
        ...(options.signal ? { signal: options.signal } : {}),
        storedDtype: (tensor) => dtypes.get(tensor.name)!,
        onNonFinitePassed: addPassed,
        onBytes: (bytes, tensor) => {
          bytesDone += bytes;
          progress(tensor, false);
        },
        onTensor: (tensor) => {
          if (tensor.kind === 'copied') bytesDone += tensor.input.entry.byteLength;
          tensorWritten(tensor);
        },
      });
      noticePassedThrough();
    }
    if (options.signal?.aborted) throw cancelled();
    for (const [i, writer] of writers.entries()) {
      where.output = outputs[i]!;
      where.tensor = undefined;
      await writer.commit();
      emit({ type: 'output', path: outputs[i]!.target.destination, format: resultsFormat(outputs[i]!.target), tensors: outputs[i]!.tensors.length, bytes: outputs[i]!.bytes, writer: writer.kind });
    }
    const result: RunResult = {
      backend: backend.name,
      outputs: outputs.map((o, i) => ({ path: o.target.destination, format: resultsFormat(o.target), tensors: o.tensors.length, bytes: o.bytes, writer: writers[i]!.kind })),
      seconds: (performance.now() - started) / 1000,
      bytesRead: bytesDone,
      bytesWritten: outputs.reduce((sum, o) => sum + o.bytes, 0),
    };
    emit({ type: 'done', outputs: result.outputs.map((o) => o.path), seconds: result.seconds, bytesRead: result.bytesRead, bytesWritten: result.bytesWritten });
    return result;
  } catch (error) {
    await Promise.all(writers.map((w) => w.abort().catch(() => undefined)));
    const failure = asEngineError(error, where, options.signal);
    emit({
      type: 'error',
      code: failure.code,
      message: failure.message,
      ...(failure.tensor !== undefined ? { tensor: failure.tensor } : {}),
      ...(failure.file !== undefined ? { file: failure.file } : {}),
      ...(failure.range !== undefined ? { range: failure.range } : {}),
    });
    throw failure;
  } finally {
    buffers?.release();
    await reader?.close();
    if (ownBackend) await backend?.close();
  }
}

async function readRecipe(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new EngineError('plan', `cannot read the recipe ${file} to hash it for provenance: ${(error as Error).message}`, { file, cause: error });
  }
}

function noticeIntegers(output: Output, emit: (event: RunEvent) => void): void {
  const path = output.target.destination;
  const copied = output.plan.tensors.filter((t) => t.kind === 'copied').map((t) => t.name);
  if (copied.length > 0) {
    emit({ type: 'notice', output: path, kind: 'integers-copied', tensors: copied, message: `${copied.length} integer/bool tensor${copied.length === 1 ? '' : 's'} copied unchanged from the anchor model ${output.plan.anchor.path}: ${copied.join(', ')}` });
  }
  const dropped = output.plan.droppedIntegers;
  if (dropped.length > 0) {
    emit({ type: 'notice', output: path, kind: 'integers-dropped', tensors: dropped, message: `${dropped.length} integer/bool tensor${dropped.length === 1 ? '' : 's'} left out of this Vector output (a difference of integer buffers is meaningless): ${dropped.join(', ')}` });
  }
}

async function createWriter(output: Output, metadata: Record<string, string>, overwrite: boolean, sync: boolean, folder: FolderContents | undefined): Promise<CheckpointWriter> {
  const { target, tensors, plan } = output;
  switch (target.format) {
    case 'tfjs-layers':
      return createTfjsWriter(target.destination, tensors, { model: plan.anchor.header?.tfjsModel, metadata, overwrite });
    case 'safetensors':
      return createSafetensorsWriter(target.destination, tensors, { metadata, overwrite, sync, ...(folder ? { folder } : {}) });
    case 'safetensors-sharded':
      return createSafetensorsWriter(target.destination, tensors, { metadata, overwrite, maxShardBytes: plan.shardBytes!, sync, ...(folder ? { folder } : {}) });
  }
}

function asEngineError(error: unknown, where: { tensor?: string | undefined; output?: Output }, signal: AbortSignal | undefined): EngineError {
  if (error instanceof EngineError) return error;
  if (signal?.aborted) return cancelled();
  if (error instanceof NonFiniteOutputError) return nonFiniteEngineError(error, where.output?.plan.range, where.output?.target.destination);
  const range = where.output?.plan.range;
  const tensor = where.tensor;
  const context = range ? `${lineOf(range)}: ` : '';
  if (error instanceof CheckpointError) {
    return new EngineError('output', `${context}${error.message}`, { file: error.file, cause: error, ...(tensor ? { tensor } : {}), ...(range ? { range } : {}) });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new EngineError('internal', `${context}${tensor ? `tensor ${tensor}: ` : ''}${message}`, {
    cause: error,
    ...(tensor ? { tensor } : {}),
    ...(range ? { range } : {}),
    ...(where.output ? { file: where.output.target.destination } : {}),
  });
}

/** The format an output is reported as: a Hugging Face model folder is named so (its weights are safetensors inside it). */
function resultsFormat(target: OutputTarget): OutputFormat {
  return target.hfFolder !== undefined ? 'hf-model-folder' : target.format;
}
