// Results files compared across runs that must agree (serial, --jobs N, Slurm): everything but
// what differs between equal runs (timings, dates, notes, counts of cached evaluations) and
// the keys a test names as differing by design.
import type { RunResults } from '../../server/src/results/schema.ts';

const ALWAYS_DIFFERENT = ['seconds', 'startedAt', 'finishedAt', 'notes', 'counts'];

export function comparableResults(results: RunResults, ...alsoIgnored: readonly string[]): unknown {
  const ignored = new Set([...ALWAYS_DIFFERENT, ...alsoIgnored]);
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).filter(([k]) => !ignored.has(k)).map(([k, v]) => [k, strip(v)]));
  };
  return strip(results);
}
