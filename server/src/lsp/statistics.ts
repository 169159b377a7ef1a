// Background statistics for hovers and completions: when a recipe is analysed, the
// Gram matrices its task vectors need are requested from worker threads (cached by
// file identity); until they arrive, lookups answer "computing" with the progress.
import type { Connection } from 'vscode-languageserver/node';
import type { HeaderCache } from '../checkpoints/read-header.ts';
import { GramCache } from '../checkpoints/statistics.ts';
import type { Analysis } from '../language/analysis.ts';
import { statsGroups, type GramLookup, type StatsGroup, type StatsSource } from '../language/ide/vector-stats.ts';

export class StatisticsService implements StatsSource {
  readonly #gram: GramCache;
  readonly #states = new Map<string, GramLookup>();
  readonly #keys = new Map<string, string>();
  readonly #connection: Connection;
  readonly #groups = new Map<string, readonly StatsGroup[]>();
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
    const identities = new Map(analysis.checked.program.loads.map((l) => [l.path, JSON.stringify(l.header?.files ?? [])]));
    for (const group of groups) {
      const pathsKey = group.paths.join('\n');
      const identityKey = `${pathsKey}\n${group.paths.map((p) => identities.get(p)).join('\n')}`;
      if (this.#keys.get(pathsKey) === identityKey && this.#states.get(pathsKey)?.status !== 'failed') continue;
      this.#keys.set(pathsKey, identityKey);
      void this.#compute(group, pathsKey, identityKey);
    }
  }

  lookup(paths: readonly string[]): GramLookup | undefined {
    return this.#states.get(paths.join('\n'));
  }

  async #compute(group: StatsGroup, pathsKey: string, identityKey: string): Promise<void> {
    this.#states.set(pathsKey, { status: 'computing', fraction: 0 });
    const progress = this.#progressSupported ? await this.#connection.window.createWorkDoneProgress().catch(() => undefined) : undefined;
    const names = group.paths.map((p) => p.replace(/^.*\//, '')).join(', ');
    progress?.begin('tvr: computing vector norms', 0, names, false);
    let lastPercent = -1;
    try {
      // vector-stats indexes the matrices by position in `paths`, the reference at 0.
      const gram = await this.#gram.get(group.paths, {
        includeReference: true,
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
      if (this.#keys.get(pathsKey) === identityKey) this.#states.set(pathsKey, { status: 'failed', message: (error as Error).message });
      this.#connection.console.warn(`norms of ${names} failed: ${(error as Error).message}`);
    } finally {
      progress?.done();
    }
  }
}
