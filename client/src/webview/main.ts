// The results webview: draws the latest results the extension posts, keeps them in the
// webview state so the panel comes back after it was hidden or VS Code reloaded, and asks
// the extension to export. Every string from a results file reaches the DOM as text.
import { parseHostMessage, parsePanelState, type PanelState, type WebviewMessage } from '../run/panel-messages.ts';
import { renderPage } from './page.ts';
import { stylesheet } from './styles.ts';
import { observeTheme, readTheme } from './theme.ts';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: PanelState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
// The panel's CSP admits inline styles by nonce only: reuse the nonce this script was loaded with.
const nonce = document.currentScript instanceof HTMLScriptElement ? document.currentScript.nonce ?? '' : '';

function installStyles(): void {
  const style = document.createElement('style');
  style.setAttribute('nonce', nonce);
  style.textContent = stylesheet;
  document.head.append(style);
}

function chartWidth(): number {
  return Math.max(360, Math.min(720, document.body.clientWidth - 40));
}

let state: PanelState = parsePanelState(vscode.getState());
const root = document.getElementById('app') ?? document.body.appendChild(document.createElement('div'));

function render(): void {
  root.replaceChildren(renderPage(state, {
    theme: readTheme(),
    nonce,
    width: chartWidth(),
    onExport: (format) => vscode.postMessage({ type: 'export', format }),
  }));
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const message = parseHostMessage(event.data);
  if (!message) return;
  if (message.type === 'results') {
    const { progress, ...rest } = state;
    // Results of a finished run end the progress line; while running, the last line stays until the next.
    state = message.results.status === 'running' && progress ? { ...rest, results: message.results, progress } : { ...rest, results: message.results };
  } else {
    const progress = message.fraction === undefined ? { message: message.message } : { message: message.message, fraction: message.fraction };
    state = { ...state, progress };
  }
  vscode.setState(state);
  render();
});

let lastWidth = chartWidth();
new ResizeObserver(() => {
  const width = chartWidth();
  if (Math.abs(width - lastWidth) < 24) return;
  lastWidth = width;
  render();
}).observe(document.body);

installStyles();
observeTheme(render);
render();
vscode.postMessage({ type: 'ready' });
