// Non-finite outputs: a run never writes NaN or an infinity it computed from finite
// inputs (an overflowing coefficient, a chain of doublings, a value too large for F16).
// Each output chunk is scanned once after its kernel, before it is encoded; an input
// chunk is scanned only when its output holds such a value, to tell a value passed
// through (the input held NaN or an infinity already: a notice) from one the recipe
// produced (an error). The scan is a compare per element, in the same loop for every
// backend, so WebAssembly and JavaScript kernels stay bit-identical.
import type { Dtype } from '../checkpoints/types.ts';
import type { Range } from '../language/program.ts';
import { EngineError, lineOf } from './errors.ts';

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);
function floatOfBits(pattern: number): number {
  bits[0] = pattern;
  return asFloat[0]!;
}

/**
 * The smallest |x| of a float32 that becomes an infinity when stored as `dtype` (round
 * to nearest even, as the encoders do): 65520 for F16, 0x7f7f8000 for BF16; for F32 and
 * F64 only infinities are.
 */
export function overflowLimit(dtype: Dtype): number {
  switch (dtype) {
    case 'F16': return 65520;
    case 'BF16': return floatOfBits(0x7f7f8000);
    default: return Infinity;
  }
}

/** Index of the first element that is NaN or has |x| >= limit (an infinity once stored), -1 if none. */
export function firstNonFinite(values: Float32Array, limit = Infinity): number {
  for (let i = 0; i < values.length; i++) {
    // Written so that NaN fails the comparison: one well-predicted branch per element.
    if (!(Math.abs(values[i]!) < limit)) return i;
  }
  return -1;
}

/** NaN or infinite values in `values`. */
export function countNonFinite(values: Float32Array, limit = Infinity): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (!(Math.abs(values[i]!) < limit)) count++;
  return count;
}

/** An output chunk holds a value that is not finite (once stored) while every input of the chunk is finite. */
export class NonFiniteOutputError extends Error {
  readonly tensor: string;
  constructor(tensor: string, message: string) {
    super(message);
    this.name = 'NonFiniteOutputError';
    this.tensor = tensor;
  }
}

/**
 * What happened at element `index` of tensor `tensor` (value `value` before storing as
 * `dtype`), and what to do about it.
 */
function describeNonFinite(tensor: string, index: number, value: number, dtype: Dtype): string {
  const what = Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? `${value}, too large for ${dtype} (it would be stored as an infinity)` : value > 0 ? 'Infinity' : '-Infinity';
  const advice = Number.isFinite(value)
    ? 'save with dtype="F32", or scale the value down'
    : 'the value overflows float32 (largest finite about 3.4e38): check its coefficients (a huge factor, a division by a tiny number, many doublings)';
  return `tensor ${tensor}: element ${index} is ${what}, computed from finite inputs: ${advice}. Nothing was written`;
}

/**
 * Scans a computed chunk: returns the number of non-finite values passed through from
 * non-finite inputs (0 when all is finite), or throws NonFiniteOutputError when the
 * inputs of the chunk are finite.
 */
export function checkFiniteChunk(tensor: string, dtype: Dtype, output: Float32Array, inputs: readonly (Float32Array | null)[], start: number): number {
  const limit = overflowLimit(dtype);
  const first = firstNonFinite(output, limit);
  if (first < 0) return 0;
  if (inputs.some((input) => input !== null && firstNonFinite(input) >= 0)) return countNonFinite(output, limit);
  throw new NonFiniteOutputError(tensor, describeNonFinite(tensor, start + first, output[first]!, dtype));
}

/** The notice for values passed through from non-finite inputs, per tensor. */
export function passedThroughMessage(counts: ReadonlyMap<string, number>): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const list = [...counts].map(([name, n]) => `${name} (${n})`).join(', ');
  return `${total} value${total === 1 ? '' : 's'} written as NaN or infinity because the inputs already hold NaN or infinite values (passed through as they are): ${list}`;
}

/** The run's error for a NonFiniteOutputError: the recipe line of the value and, for a save, its output. */
export function nonFiniteEngineError(error: NonFiniteOutputError, range: Range | undefined, output?: string): EngineError {
  const where = `${range ? `${lineOf(range)}: ` : ''}${output ? `saving ${output}: ` : ''}`;
  return new EngineError('non-finite', `${where}${error.message}`, { tensor: error.tensor, cause: error, ...(range ? { range } : {}), ...(output ? { file: output } : {}) });
}
