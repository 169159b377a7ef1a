// Open recipes and their analyses. Each change schedules a re-analysis (debounced);
// requests await the analysis of the document version they were made on. Headers come
// through one cache shared by all documents, validated by file identity.
import { TextDocuments, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { HeaderCache } from '../checkpoints/read-header.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import { analyze, type Analysis } from '../language/analysis.ts';
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
  readonly #lookups = new Map<string, Map<string, CheckpointLookup>>();
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

  /**
   * Checks the text with the headers the previous analysis of the document used, then
   * revalidates them through the cache (a stat per file when nothing changed) and checks
   * again only when one changed or was missing: a keystroke costs one analysis, not two.
   */
  async #analyze(document: TextDocument): Promise<Analysis> {
    const text = document.getText();
    const known = new Map(this.#lookups.get(document.uri));
    const asked = new Set<string>();
    const env = {
      file: uriToPath(document.uri),
      checkpoint: (path: string): CheckpointLookup => {
        asked.add(path);
        return known.get(path) ?? { status: 'pending' };
      },
    };
    let analysis = analyze(text, env);
    // Paths are literals, so one more round suffices; the bound guards against surprises.
    for (let round = 0; round < 3; round++) {
      const paths = [...asked];
      const fresh = await Promise.all(paths.map((path) => lookupHeader(this.headers, path)));
      const changed = paths.some((path, i) => !sameLookup(known.get(path), fresh[i]!));
      known.clear();
      paths.forEach((path, i) => known.set(path, fresh[i]!));
      if (!changed) break;
      asked.clear();
      analysis = analyze(text, env);
    }
    this.#lookups.set(document.uri, known);
    return analysis;
  }
}

async function lookupHeader(headers: HeaderCache, path: string): Promise<CheckpointLookup> {
  try {
    return { status: 'ok', header: await headers.get(path) };
  } catch (error) {
    if (error instanceof CheckpointError) return { status: 'error', error };
    return { status: 'error', error: new CheckpointError('unreadable', path, `cannot read ${path}: ${(error as Error).message}`) };
  }
}

/** The cache hands out the same header object while the files are unchanged; errors are compared by what they say. */
function sameLookup(a: CheckpointLookup | undefined, b: CheckpointLookup): boolean {
  if (a?.status === 'ok' && b.status === 'ok') return a.header === b.header;
  if (a?.status === 'error' && b.status === 'error') return a.error.code === b.error.code && a.error.file === b.error.file && a.error.message === b.error.message;
  return false;
}
