// The results webview panels, one per recipe: created or revealed by a run, fed the latest
// results (and the progress line) as they stream, restored after a reload by the serializer,
// and the extension side of CSV/JSON export. The webview itself is dist/webview.js
// (client/src/webview/); the messages and the state are in run/panel-messages.ts.
import { basename, dirname, extname, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { RunResults } from '../../server/src/results/schema.ts';
import { exportText, writeFileAtomic } from './run/export.ts';
import { createNonce, resultsPanelHtml } from './run/panel-html.ts';
import { parsePanelState, parseWebviewMessage, resultsViewType, type ExportFormat, type HostMessage } from './run/panel-messages.ts';

type Progress = Extract<HostMessage, { type: 'progress' }>;

function panelKey(recipePath: string): string {
  return resolve(recipePath);
}

function panelTitle(recipePath: string): string {
  return `Results: ${basename(recipePath)}`;
}

class ResultsPanel {
  readonly recipePath: string;
  readonly panel: vscode.WebviewPanel;
  results: RunResults | undefined;
  progress: Progress | undefined;
  /** The webview has said `ready` since it was (re)created; until then posts would be lost. */
  #ready = false;

  constructor(recipePath: string, panel: vscode.WebviewPanel, results: RunResults | undefined) {
    this.recipePath = recipePath;
    this.panel = panel;
    this.results = results;
  }

  post(message: HostMessage): void {
    if (message.type === 'results') this.results = message.results;
    else this.progress = message;
    if (this.#ready) void this.panel.webview.postMessage(message);
  }

  clearProgress(): void {
    this.progress = undefined;
  }

  /** The webview (re)loaded: a hidden panel is torn down and comes back with only its saved state. */
  ready(): void {
    this.#ready = true;
    if (this.results) void this.panel.webview.postMessage({ type: 'results', results: this.results } satisfies HostMessage);
    if (this.progress) void this.panel.webview.postMessage(this.progress);
  }

  hidden(): void {
    this.#ready = false;
  }
}

export class ResultsPanels implements vscode.Disposable {
  readonly #extensionUri: vscode.Uri;
  readonly #output: vscode.LogOutputChannel;
  readonly #panels = new Map<string, ResultsPanel>();

  constructor(extensionUri: vscode.Uri, output: vscode.LogOutputChannel) {
    this.#extensionUri = extensionUri;
    this.#output = output;
  }

  /** Shows the recipe's panel, creating it when there is none; keeps what it already shows. */
  show(recipePath: string): void {
    const existing = this.#panels.get(panelKey(recipePath));
    if (existing) {
      existing.panel.reveal(undefined, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel(resultsViewType, panelTitle(recipePath), { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, this.#options());
    this.#adopt(panel, recipePath, undefined);
  }

  /** The results the recipe's panel shows, if it has any. */
  results(recipePath: string): RunResults | undefined {
    return this.#panels.get(panelKey(recipePath))?.results;
  }

  post(recipePath: string, message: HostMessage): void {
    this.#panels.get(panelKey(recipePath))?.post(message);
  }

  clearProgress(recipePath: string): void {
    this.#panels.get(panelKey(recipePath))?.clearProgress();
  }

  serializer(): vscode.WebviewPanelSerializer {
    return {
      deserializeWebviewPanel: async (panel, state) => {
        const results = parsePanelState(state).results;
        // Nothing to show and no recipe to attach to: a panel closed before its first results.
        if (!results) {
          panel.dispose();
          return;
        }
        panel.webview.options = this.#options();
        this.#adopt(panel, results.recipe.path, results);
      },
    };
  }

  dispose(): void {
    for (const entry of [...this.#panels.values()]) entry.panel.dispose();
    this.#panels.clear();
  }

  #options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.#extensionUri, 'dist')],
      // The webview keeps its state with setState and is rebuilt when shown again.
      retainContextWhenHidden: false,
    };
  }

  #adopt(panel: vscode.WebviewPanel, recipePath: string, results: RunResults | undefined): void {
    const key = panelKey(recipePath);
    // A restored panel and a new run's panel for the same recipe: keep the newer one.
    this.#panels.get(key)?.panel.dispose();
    const entry = new ResultsPanel(recipePath, panel, results);
    this.#panels.set(key, entry);
    panel.title = panelTitle(recipePath);
    const webview = panel.webview;
    const scriptUri = webview.asWebviewUri(vscode.Uri.joinPath(this.#extensionUri, 'dist', 'webview.js'));
    webview.html = resultsPanelHtml({ cspSource: webview.cspSource, scriptUri: scriptUri.toString(), nonce: createNonce() });
    const subscriptions = [
      webview.onDidReceiveMessage((data: unknown) => {
        const message = parseWebviewMessage(data);
        if (!message) {
          this.#output.warn(`results panel: ignored an unknown message ${JSON.stringify(data)}`);
          return;
        }
        if (message.type === 'ready') entry.ready();
        else void this.#export(entry, message.format);
      }),
      panel.onDidChangeViewState(({ webviewPanel }) => {
        if (!webviewPanel.visible) entry.hidden();
      }),
    ];
    panel.onDidDispose(() => {
      for (const subscription of subscriptions) subscription.dispose();
      if (this.#panels.get(key) === entry) this.#panels.delete(key);
    });
  }

  async #export(entry: ResultsPanel, format: ExportFormat): Promise<void> {
    const results = entry.results;
    if (!results) {
      void vscode.window.showInformationMessage('tvr: there are no results to export yet.');
      return;
    }
    const recipe = entry.recipePath;
    const suggested = join(dirname(recipe), `${basename(recipe, extname(recipe))}-results.${format}`);
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(suggested),
      filters: format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] },
      title: `Export results as ${format.toUpperCase()}`,
    });
    if (!target) return;
    try {
      writeFileAtomic(target.fsPath, exportText(results, format));
      this.#output.info(`exported results of ${recipe} to ${target.fsPath}`);
      const choice = await vscode.window.showInformationMessage(`tvr: exported the results to ${basename(target.fsPath)}.`, 'Open');
      if (choice) await vscode.window.showTextDocument(target);
    } catch (error) {
      const message = `tvr: could not export the results to ${target.fsPath}: ${error instanceof Error ? error.message : String(error)}`;
      this.#output.error(message);
      void vscode.window.showErrorMessage(message);
    }
  }
}
