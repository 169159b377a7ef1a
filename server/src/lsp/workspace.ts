// Open recipes and their analyses. Each change schedules a re-analysis (debounced);
// requests await the analysis of the document version they were made on. Headers come
// through one cache shared by all documents, validated by file identity. Timings of
// analyses go to the trace (`$/logTrace`, when the client turned tracing on), not the log.
import { TextDocuments, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { analyzeFileIncrementally, type Analysis, type ReusedLookups } from '../language/analysis.ts';
import { uriToPath } from './convert.ts';

export interface WorkspaceOptions {
  /** Debounce before re-analysing after a keystroke. */
  readonly debounceMs: number;
  /** Where analysis timings go (the connection's tracer). */
  readonly trace: (message: string) => void;
}

/** `version` is the document version the analysis was computed from. */
export type AnalysisListener = (uri: string, analysis: Analysis, version: number) => void;

interface Entry {
  readonly version: number;
  readonly analysis: Promise<Analysis>;
  /** Set while the analysis waits for the debounce; `start` runs it at once. */
  timer?: NodeJS.Timeout;
  start?: () => void;
}

export class RecipeWorkspace {
  readonly documents = new TextDocuments(TextDocument);
  readonly headers = new HeaderCache({ maxEntries: 256 });
  /** False in an untrusted workspace (the client says so): runs refuse external evaluator commands. */
  trusted = true;
  /** The user allows saves outside the recipe's folder (setting tvr.run.allowOutputsOutside); honoured only when trusted. */
  allowOutputsOutside = false;
  readonly #entries = new Map<string, Entry>();
  /** Per document, the checkpoint lookups and path locations its latest analysis used: the next one starts from them. */
  readonly #lookups = new Map<string, ReusedLookups>();
  readonly #listeners: AnalysisListener[] = [];
  readonly #logError: (message: string) => void;
  readonly #trace: (message: string) => void;

  constructor(connection: Connection, options: WorkspaceOptions) {
    this.#logError = (message) => connection.console.error(message);
    this.#trace = options.trace;
    this.documents.onDidChangeContent((e) => this.#schedule(e.document, this.#entries.has(e.document.uri) ? options.debounceMs : 0));
    this.documents.onDidClose((e) => {
      const entry = this.#entries.get(e.document.uri);
      if (entry?.timer) clearTimeout(entry.timer);
      this.#entries.delete(e.document.uri);
      this.#lookups.delete(e.document.uri);
    });
    this.documents.listen(connection);
  }

  /** Called with every finished analysis of a still-current version (diagnostics are published from here). */
  onAnalysis(listener: AnalysisListener): void {
    this.#listeners.push(listener);
  }

  /** The analysis of the document's current version (waits for a scheduled one). */
  async analysis(uri: string): Promise<Analysis | undefined> {
    const document = this.documents.get(uri);
    if (!document) return undefined;
    let entry = this.#entries.get(uri);
    if (!entry || entry.version !== document.version) entry = this.#schedule(document, 0);
    if (entry.timer) entry.start!();
    return entry.analysis;
  }

  /** Files changed on disk: forget their headers and re-check every open recipe. */
  filesChanged(paths: readonly string[]): void {
    for (const path of paths) this.headers.invalidate(path);
    for (const document of this.documents.all()) this.#schedule(document, 0);
  }

  /** Files the latest analyses of open recipes looked for and did not find (checkpoints, data, shards). */
  missingFiles(): Set<string> {
    const missing = new Set<string>();
    for (const { lookups, textData } of this.#lookups.values()) {
      for (const lookup of [...lookups.values(), ...textData.values()]) {
        if (lookup.status === 'error' && lookup.error.code === 'not-found') missing.add(lookup.error.file);
      }
    }
    return missing;
  }

  /** The server is shutting down: no analysis starts any more; resolves when those running have ended. */
  async dispose(): Promise<void> {
    const running: Promise<Analysis>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.timer) clearTimeout(entry.timer);
      else running.push(entry.analysis);
    }
    await Promise.allSettled(running);
  }

  #schedule(document: TextDocument, delay: number): Entry {
    const previous = this.#entries.get(document.uri);
    if (previous?.timer) clearTimeout(previous.timer);
    if (delay === 0) {
      const entry: Entry = { version: document.version, analysis: this.#run(document) };
      this.#entries.set(document.uri, entry);
      return entry;
    }
    let settle!: { resolve: (a: Analysis) => void; reject: (e: unknown) => void };
    const entry: Entry = { version: document.version, analysis: new Promise<Analysis>((resolve, reject) => { settle = { resolve, reject }; }) };
    entry.start = () => {
      if (entry.timer) clearTimeout(entry.timer);
      delete entry.timer;
      delete entry.start;
      this.#run(document).then(settle.resolve, settle.reject);
    };
    entry.timer = setTimeout(entry.start, delay);
    this.#entries.set(document.uri, entry);
    return entry;
  }

  // TextDocuments updates a document in place, so its version and text are read once, at
  // the start: an edit landing while headers are read must not relabel this analysis.
  async #run(document: TextDocument): Promise<Analysis> {
    const started = performance.now();
    const { uri, version } = document;
    const analysis = await this.#analyze(uri, document.getText());
    if (this.documents.get(uri)?.version === version) {
      for (const listener of this.#listeners) {
        try {
          listener(uri, analysis, version);
        } catch (error) {
          this.#logError(`analysis listener failed: ${(error as Error).stack ?? error}`);
        }
      }
    }
    this.#trace(`analysed ${uri} v${version} in ${(performance.now() - started).toFixed(1)} ms`);
    return analysis;
  }

  /** An edit costs one analysis: the previous analysis' headers are reused once revalidated. */
  async #analyze(uri: string, text: string): Promise<Analysis> {
    const { analysis, ...reuse } = await analyzeFileIncrementally(text, uriToPath(uri), this.headers, this.#lookups.get(uri), { allowOutputsOutside: this.trusted && this.allowOutputsOutside });
    this.#lookups.set(uri, reuse);
    return analysis;
  }
}
