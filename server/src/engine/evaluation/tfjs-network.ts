// A task's network for the built-in evaluator: the head model's topology (its
// model.json), loaded once, whose variables receive, per evaluated model, the edited
// model's tensors where it has them and the head model's elsewhere. Batches run on the
// runtime's tfjs backend; metrics are computed in float64 from the downloaded outputs.
import type { LayerVariable, LayersModel } from '@tensorflow/tfjs-layers';
import type { MaterializedTensor } from '../materialize.ts';
import type { SplitData } from './data.ts';
import { EvaluationError, evaluationCancelled } from './errors.ts';
import { accumulate, emptyTotals, finish } from './metrics.ts';
import type { ClassifierMetrics, OutputActivation } from './metrics.ts';
import { activate, checkTensorFits, rowsThatFit } from './tfjs-runtime.ts';
import type { TfRuntime } from './tfjs-runtime.ts';

export const DEFAULT_BATCH_SIZE = 512;

/** The most one layer's output may take in a batch: wide activations (convolutions over images) get fewer rows, not gigabytes. */
const BATCH_ACTIVATION_BYTES = 256 * 2 ** 20;

interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32' | 'bool';
}

export interface NetworkOptions {
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
}

export class TfjsNetwork {
  readonly #runtime: TfRuntime;
  readonly #model: LayersModel;
  readonly #variables: ReadonlyMap<string, LayerVariable>;
  readonly #head: ReadonlyMap<string, MaterializedTensor>;
  /** The array each variable was last written from, so unchanged ones are not rewritten. */
  readonly #written = new Map<string, Float32Array | Uint8Array>();
  readonly #activation: OutputActivation;
  /** What the network is, for messages: "task 'digits' (head models/digits/model.json)". */
  readonly #what: string;
  /** Values per example of the network's widest layer output. */
  readonly #widestActivation: number;

  private constructor(runtime: TfRuntime, model: LayersModel, variables: Map<string, LayerVariable>, head: ReadonlyMap<string, MaterializedTensor>, activation: OutputActivation, what: string) {
    this.#runtime = runtime;
    this.#model = model;
    this.#variables = variables;
    this.#head = head;
    this.#activation = activation;
    this.#what = what;
    this.#widestActivation = widestActivation(model);
  }

  /**
   * Builds the network of `modelJson` (a parsed tfjs model.json) with the head model's
   * tensors. `what` names the task and head file in messages.
   */
  static async load(runtime: TfRuntime, modelJson: unknown, head: ReadonlyMap<string, MaterializedTensor>, what: string): Promise<TfjsNetwork> {
    const { topology, specs } = topologyOf(modelJson, what);
    const buffers: Uint8Array[] = [];
    for (const spec of specs) {
      const tensor = head.get(spec.name);
      if (!tensor) throw new EvaluationError('model', `${what}: the head model lacks ${spec.name}, which its topology needs (a head model must hold every weight of its network)`);
      checkShape(spec.name, tensor.shape, spec.shape, what, 'its model.json says');
      // The evaluated models' tensors have these same shapes, so this covers them too.
      checkTensorFits(runtime, spec.name, spec.shape, what);
      buffers.push(tensor.values ? new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength) : tensor.bytes!);
    }
    const weightData = concatenate(buffers);
    await activate(runtime);
    let model: LayersModel;
    try {
      model = await runtime.loadLayersModel(runtime.tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs.map((s) => ({ ...s, shape: [...s.shape] })), weightData }));
    } catch (error) {
      throw new EvaluationError('model', `${what}: TensorFlow.js cannot build the network from its model.json: ${(error as Error).message}`, { cause: error });
    }
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      model.dispose();
      throw new EvaluationError('model', `${what}: the network has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the built-in evaluator handles one of each (use an external evaluator command otherwise)`);
    }
    const variables = new Map<string, LayerVariable>();
    for (const v of model.weights) variables.set(v.originalName, v);
    const unmatched = specs.filter((s) => !variables.has(s.name)).map((s) => s.name);
    if (unmatched.length > 0) {
      model.dispose();
      throw new EvaluationError('model', `${what}: weights ${unmatched.slice(0, 3).join(', ')} of the manifest match no variable of the network`);
    }
    return new TfjsNetwork(runtime, model, variables, head, finalActivation(model), what);
  }

  get activation(): OutputActivation {
    return this.#activation;
  }

  /** Accuracy and cross-entropy of the network with `weights` replacing the head model's tensors. */
  async evaluate(weights: ReadonlyMap<string, MaterializedTensor>, data: SplitData, options: NetworkOptions = {}): Promise<ClassifierMetrics> {
    const { tf } = this.#runtime;
    await activate(this.#runtime);
    this.#write(weights);
    const inputShape = this.#batchShape(data);
    const perRow = inputShape.reduce((a, b) => a * b, 1);
    const labelsPerRow = data.y.length / data.rows;
    // A batch runs in one pass, so its widest layer output must fit in one tensor of the
    // backend (a GPU's binding limit) and in BATCH_ACTIVATION_BYTES.
    const bytesPerRow = 4 * Math.max(perRow, this.#widestActivation);
    const rowsPerBatch = Math.min(options.batchSize ?? DEFAULT_BATCH_SIZE, rowsThatFit(this.#runtime, bytesPerRow), Math.max(1, Math.floor(BATCH_ACTIVATION_BYTES / bytesPerRow)));
    const totals = emptyTotals();
    for (let start = 0; start < data.rows; start += rowsPerBatch) {
      if (options.signal?.aborted) throw evaluationCancelled();
      const rows = Math.min(rowsPerBatch, data.rows - start);
      const { values, shape } = await this.#runtime.step(`${this.#what}, ${data.split} examples ${start + 1}-${start + rows}`, async () => {
        const output = tf.tidy(() => {
          const x = tf.tensor(data.x.subarray(start * perRow, (start + rows) * perRow), [rows, ...inputShape], data.x instanceof Int32Array ? 'int32' : 'float32');
          // The whole batch in one pass (predict's default is 32 rows a pass): 1.5x faster on
          // tfjs-wasm and 7x on WebGPU (lavapipe) in the evaluation benchmark's MLP.
          return this.#model.predict(x, { batchSize: rows }) as ReturnType<Tf['tensor']>;
        });
        try {
          return { values: (await output.data()) as Float32Array, shape: output.shape };
        } finally {
          output.dispose();
        }
      });
      try {
        const classes = shape[shape.length - 1] ?? 1;
        const labels = data.y.subarray(start * labelsPerRow, (start + rows) * labelsPerRow);
        if (values.length !== labels.length * classes) {
          throw new EvaluationError('data', `${this.#what}: the network outputs [${shape.join(', ')}] for ${rows} examples, which does not match labels of shape [${data.yShape.join(', ')}] (one label per ${classes} outputs)`);
        }
        accumulate(totals, values, classes, labels, this.#activation);
      } catch (error) {
        if (error instanceof RangeError) throw new EvaluationError('data', `${this.#what}, ${data.split} split: ${error.message}`, { cause: error });
        throw error;
      }
    }
    try {
      return finish(totals);
    } catch (error) {
      throw new EvaluationError('data', `${this.#what}, ${data.split} split: ${(error as Error).message}`);
    }
  }

  dispose(): void {
    this.#model.dispose();
    this.#written.clear();
  }

  #write(weights: ReadonlyMap<string, MaterializedTensor>): void {
    for (const [name, tensor] of weights) {
      const variable = this.#variables.get(name);
      if (!variable) throw new EvaluationError('model', `${this.#what}: the evaluated model's tensor ${name} is not a weight of the head model's network`);
      checkShape(name, tensor.shape, variable.shape, this.#what, 'the head model has');
    }
    const { tf } = this.#runtime;
    tf.tidy(() => {
      for (const [name, variable] of this.#variables) {
        const tensor = weights.get(name) ?? this.#head.get(name)!;
        const source = tensor.values ?? tensor.bytes!;
        if (this.#written.get(name) === source) continue;
        const values = tensor.values ?? integerValues(tensor);
        variable.write(tf.tensor(values, [...tensor.shape], variable.dtype));
        this.#written.set(name, source);
      }
    });
  }

  /** The per-example input shape: the data's own when it fits the model's, else the model's when the sizes agree. */
  #batchShape(data: SplitData): number[] {
    const expected = this.#model.inputs[0]!.shape.slice(1);
    const given = data.xShape.slice(1);
    const fits = expected.length === given.length && expected.every((d, i) => d === null || d === given[i]);
    if (fits) return [...given];
    const size = (dims: readonly (number | null)[]): number => dims.reduce<number>((a, b) => a * (b ?? Number.NaN), 1);
    if (expected.every((d) => d !== null) && size(expected) === size(given)) return expected as number[];
    throw new EvaluationError('data', `${this.#what}: ${data.split}/x has examples of shape [${given.join(', ')}] but the network expects [${expected.map((d) => d ?? '?').join(', ')}]`);
  }
}

type Tf = TfRuntime['tf'];

function topologyOf(modelJson: unknown, what: string): { topology: object; specs: WeightSpec[] } {
  const json = modelJson as { modelTopology?: unknown; weightsManifest?: { weights?: WeightSpec[] }[] } | undefined;
  if (typeof json?.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(json.weightsManifest)) {
    throw new EvaluationError('model', `${what}: the head model is not a TensorFlow.js LayersModel (no model.json topology); give the task an external evaluator command`);
  }
  return { topology: json.modelTopology, specs: json.weightsManifest.flatMap((g) => g.weights ?? []) };
}

function checkShape(name: string, actual: readonly number[], expected: readonly (number | null)[], what: string, where: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new EvaluationError('model', `${what}: tensor ${name} is [${actual.join(', ')}] but ${where} [${expected.join(', ')}]`);
  }
}

function concatenate(parts: readonly Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out.buffer;
}

function integerValues(tensor: MaterializedTensor): Int32Array {
  const bytes = tensor.bytes!;
  if (tensor.dtype === 'I32') return new Int32Array(bytes.slice().buffer);
  return Int32Array.from(bytes);
}

/** The most values one example has in any layer's output (dimensions left open count as 1). */
function widestActivation(model: LayersModel): number {
  let widest = 1;
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    for (const shape of shapes) widest = Math.max(widest, shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1));
  }
  return widest;
}

/** How the output layer presents its values: a softmax (layer or activation), a sigmoid, or logits. */
function finalActivation(model: LayersModel): OutputActivation {
  const layer = model.outputs[0]!.sourceLayer;
  const config = layer.getConfig() as { activation?: unknown };
  if (layer.getClassName() === 'Softmax') return 'softmax';
  const activation = typeof config.activation === 'string' ? config.activation.toLowerCase() : 'linear';
  if (activation === 'softmax') return 'softmax';
  if (activation === 'sigmoid') return 'sigmoid';
  return 'logits';
}
