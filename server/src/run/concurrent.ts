// Runs a run's evaluations under its `--jobs` limit, all or nothing: after the first
// failure no further evaluation starts, the running ones finish (an external process is
// not left behind), and the first failure is what the run reports.
import type { LimitFunction } from 'p-limit';

export async function runAll<T>(limit: LimitFunction, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  let failure: { readonly error: unknown } | undefined;
  const settled = await Promise.allSettled(tasks.map((task) => limit(async () => {
    if (failure) return undefined;
    try {
      return await task();
    } catch (error) {
      failure ??= { error };
      throw error;
    }
  })));
  if (failure) throw failure.error;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
