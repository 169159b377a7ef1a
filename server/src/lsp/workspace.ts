// Open recipes and their analyses. Each change schedules a re-analysis (debounced);
// requests await the analysis of the document version they were made on. Headers come
// through one cache shared by all documents, validated by file identity.
import { TextDocuments, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { analyzeFileIncrementally, type Analysis } from '../language/analysis.ts';
import type { CheckpointLookup } from '../language/check.ts';
import { uriToPath } from './convert.ts';

export interface WorkspaceOptions {
  /** Debounce before re-analysing after a keystroke. */
  readonly debounceMs: number;
}

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
  trusted = true;
  readonly #entries = new Map<string, Entry>();
  /** Per document, the checkpoint lookups its latest analysis used: the next one starts from them. */
  readonly #lookups = new Map<string, ReadonlyMap<string, CheckpointLookup>>();
  readonly #listeners: ((uri: string, analysis: Analysis) => void)[] = [];
  readonly #log: (message: string) => void;

  constructor(connection: Connection, options: WorkspaceOptions) {
    this.#log = (message) => connection.console.log(message);
    this.documents.onDidChangeContent((e) => this.#schedule(e.document, this.#entries.has(e.document.uri) ? options.debounceMs : 0));
    this.documents.onDidClose((e) => {
      const entry = this.#entries.get(e.document.uri);
      if (entry?.timer) clearTimeout(entry.timer);
      this.#entries.delete(e.document.uri);
      this.#lookups.delete(e.document.uri);
    });
    this.documents.listen(connection);
  }

  /** Called with every finished analysis (diagnostics are published from here). */
  onAnalysis(listener: (uri: string, analysis: Analysis) => void): void {
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

  async #run(document: TextDocument): Promise<Analysis> {
    const started = performance.now();
    const analysis = await this.#analyze(document);
    const current = this.documents.get(document.uri);
    if (current?.version === document.version) {
      for (const listener of this.#listeners) {
        try {
          listener(document.uri, analysis);
        } catch (error) {
          this.#log(`analysis listener failed: ${(error as Error).stack ?? error}`);
        }
      }
    }
    this.#log(`analysed ${document.uri} v${document.version} in ${(performance.now() - started).toFixed(1)} ms`);
    return analysis;
  }

  /** An edit costs one analysis: the previous analysis' headers are reused once revalidated. */
  async #analyze(document: TextDocument): Promise<Analysis> {
    const { analysis, lookups } = await analyzeFileIncrementally(document.getText(), uriToPath(document.uri), this.headers, this.#lookups.get(document.uri));
    this.#lookups.set(document.uri, lookups);
    return analysis;
  }
}
