// How numbers read in the panel. Accuracy and normalized accuracy are percentages with one
// decimal; a change in accuracy is in percentage points; loss and perplexity are plain
// numbers. A missing value reads as an em dash, never as "NaN" or "undefined".
import type { MetricName, PointValues } from '../../../server/src/results/schema.ts';

export const missing = '\u2014';
const minus = '\u2212';

function isNumber(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value);
}

/**
 * `value.toFixed(digits)` with halves rounded away from zero as a reader expects them:
 * 0.7985 reads 79.9%, although the double nearest 79.85 is 79.8499999... and toFixed gives 79.8.
 */
export function fixed(value: number, digits: number): string {
  const magnitude = Math.abs(Number(value.toPrecision(12)));
  if (!Number.isFinite(magnitude) || magnitude >= 1e15) return value.toFixed(digits);
  const rounded = magnitude < 1e-6 ? 0 : Math.round(Number(`${magnitude}e${digits}`)) / 10 ** digits;
  return (value < 0 && rounded !== 0 ? -rounded : rounded).toFixed(digits);
}

const metricDecimals: Readonly<Record<MetricName, number>> = { accuracy: 1, loss: 3, perplexity: 2 };

export function formatMetric(value: number | undefined, metric: MetricName): string {
  if (!isNumber(value)) return missing;
  return metric === 'accuracy' ? `${fixed(value * 100, 1)}%` : fixed(value, metricDecimals[metric]);
}

export function formatNormalized(value: number | undefined): string {
  return isNumber(value) ? `${fixed(value * 100, 1)}%` : missing;
}

/** "+1.2 pp", "−34.6 pp", "±0.0 pp" for accuracy; "−0.450" for loss. The sign follows the rounded value. */
export function formatDelta(value: number | undefined, metric: MetricName): string {
  if (!isNumber(value)) return missing;
  const scaled = metric === 'accuracy' ? value * 100 : value;
  const digits = metric === 'accuracy' ? 1 : metricDecimals[metric];
  const magnitude = fixed(Math.abs(scaled), digits);
  const sign = Number(magnitude) === 0 ? '\u00b1' : scaled > 0 ? '+' : minus;
  return `${sign}${magnitude}${metric === 'accuracy' ? ' pp' : ''}`;
}

/** A sweep coefficient as written in a recipe: at most 4 decimals, no trailing zeros. */
export function formatCoefficient(value: number): string {
  return String(Number(value.toFixed(4)));
}

/** "lam = 0.65" or "lam = 0.5, mu = 0.25"; an empty point (no sweep) reads as "no sweep". */
export function formatPoint(point: PointValues): string {
  const entries = Object.entries(point);
  return entries.length === 0 ? 'no sweep' : entries.map(([name, value]) => `${name} = ${formatCoefficient(value)}`).join(', ');
}

export function formatCosine(value: number): string {
  return Number.isFinite(value) ? fixed(value, 2).replace('-', minus) : missing;
}

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${fixed(value, 1)} ${byteUnits[unit]}`;
}

/** Whole-run duration from the ISO timestamps in the results: "2 min 38.5 s", "9.5 s". */
export function formatDuration(startedAt: string, finishedAt: string | undefined): string | undefined {
  if (finishedAt === undefined) return undefined;
  const seconds = (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000;
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  const minutes = Math.floor(seconds / 60);
  const rest = `${fixed(seconds - minutes * 60, 1)} s`;
  return minutes > 0 ? `${minutes} min ${rest}` : rest;
}
