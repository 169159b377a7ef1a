// Background statistics for hovers and completions: when a recipe is analysed, the
// Gram matrices its task vectors need are requested from worker threads (cached by
// file identity); until they arrive, lookups answer "computing" with the progress. A
// pass no open recipe needs any more (an edit removed the vector, a file changed, the
// document closed) is cancelled.
import type { Connection } from 'vscode-languageserver/node';
import type { HeaderCache } from '../checkpoints/read-header.ts';
import { endIdleWorkers, GramCache } from '../checkpoints/statistics.ts';
import type { Analysis } from '../language/analysis.ts';
import { statsGroups, type GramLookup, type StatsGroup, type StatsSource } from '../language/ide/vector-stats.ts';

export class StatisticsService implements StatsSource {
  readonly #gram: GramCache;
  readonly #states = new Map<string, GramLookup>();
  readonly #keys = new Map<string, string>();
  readonly #connection: Connection;
  readonly #groups = new Map<string, readonly StatsGroup[]>();
  /** Per running pass (by its paths), the controller that cancels it. */
  readonly #controllers = new Map<string, AbortController>();
  /** Per document, the passes its latest analysis needs. */
  readonly #wanted = new Map<string, ReadonlySet<string>>();
  /** Passes running, settled or not. */
  readonly #passes = new Set<Promise<void>>();
  #progressSupported = false;

  constructor(connection: Connection, headers: HeaderCache) {
    this.#connection = connection;
    this.#gram = new GramCache({ headers, maxEntries: 64 });
  }

  set progressSupported(value: boolean) {
    this.#progressSupported = value;
  }

  /** Groups of the latest analysis of a document. */
  groupsOf(uri: string): readonly StatsGroup[] {
    return this.#groups.get(uri) ?? [];
  }

  /** Starts computing what a fresh analysis needs; returns at once. */
  analysed(uri: string, analysis: Analysis): void {
    const groups = statsGroups(analysis);
    this.#groups.set(uri, groups);
    this.#wanted.set(uri, new Set(groups.map((g) => g.paths.join('\n'))));
    const identities = new Map(analysis.checked.program.loads.map((l) => [l.path, JSON.stringify(l.header?.files ?? [])]));
    for (const group of groups) {
      const pathsKey = group.paths.join('\n');
      const identityKey = `${pathsKey}\n${group.paths.map((p) => identities.get(p)).join('\n')}`;
      if (this.#keys.get(pathsKey) === identityKey && this.#states.get(pathsKey)?.status !== 'failed') continue;
      this.#controllers.get(pathsKey)?.abort();
      this.#keys.set(pathsKey, identityKey);
      const pass = this.#compute(group, pathsKey, identityKey);
      this.#passes.add(pass);
      void pass.finally(() => this.#passes.delete(pass));
    }
    this.#cancelUnwanted();
  }

  /** The document closed: its passes are cancelled unless another open recipe needs them. */
  closed(uri: string): void {
    this.#groups.delete(uri);
    this.#wanted.delete(uri);
    this.#cancelUnwanted();
  }

  /**
   * Shutdown: cancels every pass and resolves once the workers have ended. A worker still
   * starting cannot be stopped, and exiting would wait for it; shutdown waits instead.
   */
  async dispose(): Promise<void> {
    for (const controller of this.#controllers.values()) controller.abort();
    await Promise.allSettled(this.#passes);
    await endIdleWorkers();
  }

  #cancelUnwanted(): void {
    const wanted = new Set([...this.#wanted.values()].flatMap((keys) => [...keys]));
    for (const [pathsKey, controller] of this.#controllers) {
      if (wanted.has(pathsKey)) continue;
      controller.abort();
      this.#controllers.delete(pathsKey);
      this.#states.delete(pathsKey);
      this.#keys.delete(pathsKey);
    }
  }

  lookup(paths: readonly string[]): GramLookup | undefined {
    return this.#states.get(paths.join('\n'));
  }

  async #compute(group: StatsGroup, pathsKey: string, identityKey: string): Promise<void> {
    this.#states.set(pathsKey, { status: 'computing', fraction: 0 });
    const controller = new AbortController();
    this.#controllers.set(pathsKey, controller);
    const progress = this.#progressSupported ? await this.#connection.window.createWorkDoneProgress().catch(() => undefined) : undefined;
    const names = group.paths.map((p) => p.replace(/^.*\//, '')).join(', ');
    progress?.begin('tvr: computing vector norms', 0, names, false);
    let lastPercent = -1;
    try {
      const gram = await this.#gram.get(group.paths, {
        signal: controller.signal,
        onProgress: (done, total) => {
          const fraction = total > 0 ? done / total : 0;
          if (this.#keys.get(pathsKey) === identityKey) this.#states.set(pathsKey, { status: 'computing', fraction });
          const percent = Math.floor(fraction * 100);
          if (percent !== lastPercent) {
            lastPercent = percent;
            progress?.report(percent, names);
          }
        },
      });
      if (this.#keys.get(pathsKey) === identityKey) this.#states.set(pathsKey, { status: 'ready', gram });
    } catch (error) {
      if (controller.signal.aborted) return;
      if (this.#keys.get(pathsKey) === identityKey) this.#states.set(pathsKey, { status: 'failed', message: (error as Error).message });
      this.#connection.console.warn(`norms of ${names} failed: ${(error as Error).message}`);
    } finally {
      if (this.#controllers.get(pathsKey) === controller) this.#controllers.delete(pathsKey);
      progress?.done();
    }
  }
}
