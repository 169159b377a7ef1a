// Bounds on a TensorFlow.js model.json before anything builds its network: a topology
// nested deeper than any real model (TensorFlow.js and JSON.stringify would recurse
// into it until the stack overflows), and declared sizes that no weight of the model
// backs (a Dense layer of 3M units whose kernel is 4 x 5: building it allocates
// gigabytes before the weights are found not to fit). Checked when the header is read,
// so `check` reports such a model as a bad checkpoint, by one iterative walk.
import { checkpointError } from './errors.ts';
import type { TensorEntry } from './types.ts';

/** Nesting of objects and arrays in model.json; real Keras topologies stay under 30. */
export const MAX_MODEL_JSON_DEPTH = 100;
/** Elements of one example of a declared input shape (256 MiB of float32). */
const MAX_INPUT_ELEMENTS = 1 << 26;

/**
 * A declared size no weight of the manifest has as a dimension is allowed up to this: a
 * model saved with some weights left out (a select or exclude saved as TensorFlow.js)
 * keeps its whole topology. Larger unbacked sizes only allocate memory before failing.
 */
const MAX_UNBACKED_SIZE = 16_384;
/** Layer config fields that set a dimension of the layer's weights. */
const WEIGHT_SIZES = ['units', 'filters', 'output_dim', 'input_dim'] as const;
/** Layer config fields that declare an input shape (Keras and tfjs spellings). */
const INPUT_SHAPES = ['batch_input_shape', 'batchInputShape', 'input_shape', 'inputShape'] as const;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A layer for messages: `layer "dense1" (Dense)`. */
function layerName(layer: Record<string, unknown>, config: Record<string, unknown>): string {
  const name = typeof config.name === 'string' ? ` ${JSON.stringify(config.name.slice(0, 60))}` : '';
  return `layer${name} (${String(layer.class_name).slice(0, 40)})`;
}

/**
 * Throws a bad-manifest CheckpointError when `model` (the parsed model.json) nests
 * deeper than MAX_MODEL_JSON_DEPTH, or a layer of its topology declares a size over
 * MAX_UNBACKED_SIZE that is not a dimension of any of its `weights`, or an input shape
 * larger than MAX_INPUT_ELEMENTS.
 */
export function checkTfjsTopology(file: string, model: unknown, weights: Iterable<TensorEntry>): void {
  const dimensions = new Set<number>();
  for (const w of weights) for (const d of w.shape) dimensions.add(d);
  const stack: { value: unknown; depth: number }[] = [{ value: model, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_MODEL_JSON_DEPTH) {
      throw checkpointError('bad-manifest', file, `model.json nests objects and arrays more than ${MAX_MODEL_JSON_DEPTH} deep; no TensorFlow.js model needs that: the file is not a model tvr can read`);
    }
    if (isRecord(value) && typeof value.class_name === 'string' && isRecord(value.config)) checkLayer(file, value, value.config, dimensions);
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
}

function checkLayer(file: string, layer: Record<string, unknown>, config: Record<string, unknown>, dimensions: ReadonlySet<number>): void {
  for (const key of WEIGHT_SIZES) {
    const size = config[key];
    if (size === undefined || size === null) continue;
    if (!(Number.isSafeInteger(size) && (size as number) > 0)) {
      throw checkpointError('bad-manifest', file, `${layerName(layer, config)} declares ${key} ${JSON.stringify(size)?.slice(0, 40)}; a size must be a positive integer`);
    }
    if ((size as number) > MAX_UNBACKED_SIZE && !dimensions.has(size as number)) {
      throw checkpointError('bad-manifest', file, `${layerName(layer, config)} declares ${key} ${size as number}, but no weight in the weightsManifest has a dimension of ${size as number} (sizes without a weight are accepted up to ${MAX_UNBACKED_SIZE}): the topology does not match its weights, and building it would allocate memory the weights cannot fill`);
    }
  }
  for (const key of INPUT_SHAPES) {
    const shape = config[key];
    if (shape === undefined || shape === null) continue;
    if (!Array.isArray(shape) || !shape.every((d) => d === null || (Number.isSafeInteger(d) && (d as number) > 0))) {
      throw checkpointError('bad-manifest', file, `${layerName(layer, config)} declares ${key} ${JSON.stringify(shape)?.slice(0, 60)}; an input shape is a list of positive integers or null`);
    }
    const perExample = (shape as (number | null)[]).slice(key.startsWith('batch') ? 1 : 0).reduce<number>((a, d) => a * (d ?? 1), 1);
    if (perExample > MAX_INPUT_ELEMENTS) {
      throw checkpointError('bad-manifest', file, `${layerName(layer, config)} declares ${key} [${shape.map((d) => d ?? 'null').join(', ')}]: ${perExample} values per example, more than the ${MAX_INPUT_ELEMENTS} tvr evaluates`);
    }
  }
}
