// Turns the reductions of a finished pass into the params the next passes use:
// exact top-k thresholds by radix selection over float32 bit patterns, SLERP
// coefficients, the random baseline's norm-matching scale, the coefficients a method's
// rule makes of a Gram matrix.
import type { ParamRef, Stat, StatStep } from './types.ts';

export const HIST_BINS = 65536;
/** Bins of a `hist-top` histogram: the top 11 bits of |x| (sign cleared). */
export const TOP_BINS = 2048;

/** Histogram size of a reduction, or 0 when it is not a histogram. */
export function histogramBins(kind: string): number {
  return kind === 'hist-hi' || kind === 'hist-lo' ? HIST_BINS : kind === 'hist-top' ? TOP_BINS : 0;
}
/** High 16 bits of |x| above this are NaN patterns; NaN is left out of every ranking. */
const LAST_NUMBER_BUCKET = 0x7f80;
/** SLERP falls back to linear interpolation when |cos(angle)| exceeds this (mergekit's value). */
export const SLERP_COLINEAR_COS = 0.9995;

/** A reduction's total over all chunks: a float64 sum, histogram counts, or kept values. */
export type ReductionTotal = number | Float64Array | Uint32Array | Float32Array;

type Counts = ArrayLike<number>;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function floatFromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

/** An in-memory top-k selection: the k-th largest |x| of `values` goes into param `threshold`. */
export interface Selection {
  readonly values: Float32Array;
  readonly k: number;
  /** The top-11-bit histogram the kernel took with the values, if it did. */
  readonly top?: Counts;
  readonly threshold: ParamRef;
}

/** The `values` step of a top-k statistic as a selection that may run on any thread; undefined for every other step. */
export function selectionOf(stat: Stat, step: StatStep['step'], totals: readonly ReductionTotal[]): Selection | undefined {
  if (stat.kind !== 'topk' || step !== 'values') return undefined;
  const top = totals[1] as Counts | undefined;
  return { values: totals[0] as Float32Array, k: stat.k, threshold: stat.threshold, ...(top ? { top } : {}) };
}

/** Writes the params a statistic step resolves. `totals` are the step's reductions, in order. */
export function resolveStep(stat: Stat, step: StatStep['step'], totals: readonly ReductionTotal[], params: Float64Array): void {
  const selection = selectionOf(stat, step, totals);
  if (selection) {
    params[selection.threshold] = selectInMemory(selection.values, selection.k, selection.top);
    return;
  }
  switch (stat.kind) {
    case 'topk': {
      const hist = totals[0] as Counts;
      if (step === 'hist-hi') {
        const { bucket, rank } = selectHigh(hist, stat.k);
        params[stat.bucket] = bucket;
        params[stat.rank] = rank;
      } else {
        params[stat.threshold] = selectLow(hist, params[stat.bucket]!, params[stat.rank]!);
      }
      return;
    }
    case 'slerp': {
      const [s0, s1] = slerpCoefficients(totals[0] as number, totals[1] as number, totals[2] as number, stat.t, stat.zeroAngle === true);
      params[stat.s0] = s0;
      params[stat.s1] = s1;
      return;
    }
    case 'norm-match': {
      const source = totals[0] as number;
      const noise = totals[1] as number;
      params[stat.scale] = noise > 0 ? Math.sqrt(source / noise) : 0;
      return;
    }
    case 'gram': {
      const coefficients = stat.rule(gramMatrix(stat.nodes.length, totals as readonly number[]));
      stat.coefficients.forEach((ref, i) => { params[ref] = coefficients[i]!; });
      return;
    }
  }
}

/** The symmetric k x k matrix from its upper triangle, row by row (schedule.ts's gramReductions). */
function gramMatrix(k: number, upper: readonly number[]): number[][] {
  const gram = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let next = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) gram[i]![j] = gram[j]![i] = upper[next++]!;
  }
  return gram;
}

/**
 * The high-16-bit bucket holding the k-th largest |x|, and that element's rank inside
 * the bucket (1 = largest). Bucket -1 when fewer than k numbers exist (keep all).
 */
export function selectHigh(hist: Counts, k: number): { bucket: number; rank: number } {
  let above = 0;
  for (let bucket = LAST_NUMBER_BUCKET; bucket >= 0; bucket--) {
    const count = hist[bucket]!;
    if (above + count >= k) return { bucket, rank: k - above };
    above += count;
  }
  return { bucket: -1, rank: 0 };
}

/** The k-th largest |x| as a float32 value, from the low-16-bit histogram of its bucket. */
export function selectLow(hist: Counts, bucket: number, rank: number): number {
  if (bucket < 0) return 0;
  // In the infinity bucket only low bits 0 are a number (inf); the rest are NaN.
  const top = bucket === LAST_NUMBER_BUCKET ? 0 : HIST_BINS - 1;
  let seen = 0;
  for (let low = top; low >= 0; low--) {
    seen += hist[low]!;
    if (seen >= rank) return floatFromBits(((bucket << 16) | low) >>> 0);
  }
  return 0;
}

/**
 * The magnitudes (float32 bits without the sign, NaN left out) of `values` whose top 11 bits
 * are `bucket`, in any order; it may gather them in `values`' own memory (kernels/bucket-scan.ts).
 */
export type BucketScan = (values: Float32Array, bucket: number) => Uint32Array;

const topCounts = new Uint32Array(TOP_BINS);
const digitCounts = new Uint32Array(1 << 10);
/** Below this many candidates, sorting them beats another radix level. */
const SORT_BELOW = 2048;

/**
 * The k-th largest |x| of values held in memory, with the same ordering as the streamed
 * selection (float32 bit patterns of |x|, NaN left out): radix selection by the top 11
 * bits (exponent and 3 mantissa bits), then 10 and 10 bits, each level counting and
 * keeping only the bucket that holds the k-th value; a small remainder is sorted.
 * `top` is the top-11-bit histogram when the kernel took it while computing the values
 * (then one read of the values remains); no allocation proportional to the values.
 */
export function selectInMemory(values: Float32Array, k: number, top?: Counts, scan?: BucketScan): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let counts: Counts = top ?? topCounts;
  if (!top) {
    const fresh = topCounts.fill(0);
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i]! & 0x7fffffff;
      if (b <= 0x7f800000) fresh[b >>> 20]!++;
    }
    counts = fresh;
  }
  let above = 0;
  let bucket = 0x7f8;
  for (; bucket >= 0; bucket--) {
    if (above + counts[bucket]! >= k) break;
    above += counts[bucket]!;
  }
  if (bucket < 0) return 0;
  if (scan) return floatFromBits(selectDigits(scan(values, bucket), k - above, 10));
  const candidates = new Uint32Array(counts[bucket]!);
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]! & 0x7fffffff;
    if (b >>> 20 === bucket && b <= 0x7f800000) candidates[n++] = b;
  }
  return floatFromBits(selectDigits(candidates, k - above, 10));
}

/** The rank-th largest of `values` (all equal above bit `shift + 10`), by 10-bit digits. */
function selectDigits(values: Uint32Array, rank: number, shift: number): number {
  if (values.length <= SORT_BELOW || shift < 0) {
    const sorted = values.sort();
    return sorted[sorted.length - rank]!;
  }
  const counts = digitCounts.fill(0);
  for (let i = 0; i < values.length; i++) counts[(values[i]! >>> shift) & 0x3ff]!++;
  let above = 0;
  let digit = 0x3ff;
  for (; digit > 0; digit--) {
    if (above + counts[digit]! >= rank) break;
    above += counts[digit]!;
  }
  const kept = new Uint32Array(counts[digit]!);
  let n = 0;
  for (let i = 0; i < values.length; i++) if (((values[i]! >>> shift) & 0x3ff) === digit) kept[n++] = values[i]!;
  return selectDigits(kept, rank - above, shift - 10);
}

/** mergekit's SLERP leaves a tensor of norm at most this unnormalised (so a zero tensor sits at a right angle). */
export const SLERP_NORMALIZE_ABOVE = 1e-8;

/**
 * mergekit-style SLERP on the unnormalised tensors: the angle comes from the normalised
 * directions, the coefficients apply to the tensors themselves; linear interpolation
 * when the two are nearly colinear, and when either is zero unless `zeroAngle`: then, as
 * mergekit, a tensor of norm <= 1e-8 is left unnormalised in the angle (a zero tensor is at
 * 90 degrees: cos(t pi/2) a + sin(t pi/2) b).
 */
export function slerpCoefficients(aa: number, bb: number, ab: number, t: number, zeroAngle = false): [number, number] {
  const na = Math.sqrt(aa);
  const nb = Math.sqrt(bb);
  if (!zeroAngle && (na === 0 || nb === 0)) return [1 - t, t];
  const unit = (n: number) => (zeroAngle && n <= SLERP_NORMALIZE_ABOVE ? 1 : n);
  const cos = Math.min(1, Math.max(-1, ab / (unit(na) * unit(nb))));
  if (Math.abs(cos) > SLERP_COLINEAR_COS) return [1 - t, t];
  const theta = Math.acos(cos);
  const sin = Math.sin(theta);
  return [Math.sin((1 - t) * theta) / sin, Math.sin(t * theta) / sin];
}
