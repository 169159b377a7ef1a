// Background statistics for hovers and completions: when a recipe is analysed, the
// Gram matrices its task vectors need and the norms of its LoRA adapters are requested
// from worker threads (cached by file identity); until they arrive, lookups answer
// "computing" with the progress. A pass no open recipe needs any more (an edit removed
// the vector, a file changed, the document closed) is cancelled.
import type { Connection } from 'vscode-languageserver/node';
import type { HeaderCache } from '../checkpoints/read-header.ts';
import { computeLoraNorms, endIdleWorkers, GramCache } from '../checkpoints/statistics.ts';
import type { Analysis } from '../language/analysis.ts';
import { loraAdapters, statsGroups, type GramLookup, type LoraNormLookup, type PendingLookup, type StatsGroup, type StatsSource } from '../language/ide/vector-stats.ts';
import { adapterIdentity } from '../methods/lora.ts';

/** Passes by what they compute: Gram matrices by their paths, LoRA norms by the adapter folder. */
const gramKey = (paths: readonly string[]): string => `gram\n${paths.join('\n')}`;
const loraKey = (path: string): string => `lora\n${path}`;

type Run<R> = (signal: AbortSignal, onProgress: (done: number, total: number) => void) => Promise<R>;

export class StatisticsService implements StatsSource {
  readonly #gram: GramCache;
  readonly #grams = new Map<string, GramLookup>();
  readonly #loras = new Map<string, LoraNormLookup>();
  /** Per pass key, the identity of the files its state (or running pass) is of. */
  readonly #keys = new Map<string, string>();
  readonly #connection: Connection;
  readonly #groups = new Map<string, readonly StatsGroup[]>();
  /** Per running pass (by its key), the controller that cancels it. */
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
    const adapters = loraAdapters(analysis);
    this.#groups.set(uri, groups);
    this.#wanted.set(uri, new Set([...groups.map((g) => gramKey(g.paths)), ...adapters.map((a) => loraKey(a.path))]));
    const identities = new Map(analysis.checked.program.loads.map((l) => [l.path, JSON.stringify(l.header?.files ?? [])]));
    for (const group of groups) {
      const key = gramKey(group.paths);
      const identity = `${key}\n${group.paths.map((p) => identities.get(p)).join('\n')}`;
      const names = group.paths.map((p) => p.replace(/^.*\//, '')).join(', ');
      this.#start(this.#grams, key, identity, names, async (signal, onProgress) => ({ status: 'ready', gram: await this.#gram.get(group.paths, { signal, onProgress }) }));
    }
    for (const adapter of adapters) {
      const header = adapter.header!;
      const modules = [...adapter.modules.values()];
      this.#start(this.#loras, loraKey(adapter.path), JSON.stringify(adapterIdentity(header)), adapter.path.replace(/^.*\//, ''),
        async (signal, onProgress) => ({ status: 'ready', norms: await computeLoraNorms(header, modules, { signal, onProgress }) }));
    }
    this.#cancelUnwanted();
  }

  /** Starts the pass `key` unless its state is of these files already (and did not fail). */
  #start<R extends { readonly status: 'ready' }>(states: Map<string, R | PendingLookup>, key: string, identity: string, names: string, run: Run<R>): void {
    if (this.#keys.get(key) === identity && states.get(key)?.status !== 'failed') return;
    this.#controllers.get(key)?.abort();
    this.#keys.set(key, identity);
    const pass = this.#compute(states, key, identity, names, run);
    this.#passes.add(pass);
    void pass.finally(() => this.#passes.delete(pass));
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
    for (const [key, controller] of this.#controllers) {
      if (wanted.has(key)) continue;
      controller.abort();
      this.#controllers.delete(key);
      this.#grams.delete(key);
      this.#loras.delete(key);
      this.#keys.delete(key);
    }
  }

  lookup(paths: readonly string[]): GramLookup | undefined {
    return this.#grams.get(gramKey(paths));
  }

  loraNorms(path: string): LoraNormLookup | undefined {
    return this.#loras.get(loraKey(path));
  }

  async #compute<R extends { readonly status: 'ready' }>(states: Map<string, R | PendingLookup>, key: string, identity: string, names: string, run: Run<R>): Promise<void> {
    states.set(key, { status: 'computing', fraction: 0 });
    const controller = new AbortController();
    this.#controllers.set(key, controller);
    const progress = this.#progressSupported ? await this.#connection.window.createWorkDoneProgress().catch(() => undefined) : undefined;
    progress?.begin('tvr: computing vector norms', 0, names, false);
    let lastPercent = -1;
    try {
      const ready = await run(controller.signal, (done, total) => {
        const fraction = total > 0 ? done / total : 0;
        if (this.#keys.get(key) === identity) states.set(key, { status: 'computing', fraction });
        const percent = Math.floor(fraction * 100);
        if (percent !== lastPercent) {
          lastPercent = percent;
          progress?.report(percent, names);
        }
      });
      if (this.#keys.get(key) === identity) states.set(key, ready);
    } catch (error) {
      if (controller.signal.aborted) return;
      if (this.#keys.get(key) === identity) states.set(key, { status: 'failed', message: (error as Error).message });
      this.#connection.console.warn(`norms of ${names} failed: ${(error as Error).message}`);
    } finally {
      if (this.#controllers.get(key) === controller) this.#controllers.delete(key);
      progress?.done();
    }
  }
}
