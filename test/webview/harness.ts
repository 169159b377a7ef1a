// The results webview in real headless Chromium, outside VS Code: a local HTTP server
// serves the panel's own HTML (run/panel-html.ts, the same CSP and nonce) with the BUILT
// dist/webview.js, and a stub `acquireVsCodeApi` records what the webview posts and keeps
// its state in sessionStorage, so a reload restores it the way VS Code does.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createNonce, resultsPanelHtml } from '../../client/src/run/panel-html.ts';
import type { HostMessage } from '../../client/src/run/panel-messages.ts';
import type { RunResults } from '../../server/src/results/schema.ts';

export const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const screenshotDir = join(root, 'test-results/webview');
const bundle = join(root, 'dist/webview.js');
const bundleSources = [join(root, 'client/src/webview'), join(root, 'client/src/run/panel-messages.ts'), join(root, 'server/src/results/schema.ts')];

const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function loadFixture(name: string): RunResults {
  return JSON.parse(readFileSync(join(root, 'test/fixtures/results', `${name}.results.json`), 'utf8')) as RunResults;
}

function newestSource(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestSource(join(path, entry))));
}

/** The tests check the shipped bundle, so it must exist and be newer than its sources. */
function builtBundle(): Buffer {
  let built: number;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    throw new Error(`${bundle} is missing: build first with ./node_modules/.bin/node scripts/build.ts`);
  }
  const newest = Math.max(...bundleSources.map(newestSource));
  if (newest > built) throw new Error(`${bundle} is older than its sources: rebuild with ./node_modules/.bin/node scripts/build.ts`);
  return readFileSync(bundle);
}

/** Runs in the page before any script: the VS Code API stub and the recorders. */
function pageSetup(): void {
  const w = window as unknown as Record<string, unknown>;
  const posted: unknown[] = [];
  const violations: string[] = [];
  w['__posted'] = posted;
  w['__cspViolations'] = violations;
  w['__stateWrites'] = 0;
  document.addEventListener('securitypolicyviolation', (event) => violations.push(`${event.violatedDirective} ${event.blockedURI}`));
  w['acquireVsCodeApi'] = () => ({
    postMessage: (message: unknown) => posted.push(message),
    getState: () => JSON.parse(sessionStorage.getItem('tvr-state') ?? 'null') as unknown,
    setState: (state: unknown) => {
      sessionStorage.setItem('tvr-state', JSON.stringify(state));
      w['__stateWrites'] = (w['__stateWrites'] as number) + 1;
    },
  });
}

export interface WebviewHarness {
  readonly page: Page;
  readonly url: string;
  /** Messages of alert/confirm/prompt dialogs: an injected script would show up here. */
  readonly dialogs: string[];
  readonly pageErrors: string[];
  close(): Promise<void>;
}

function serve(script: Buffer): Promise<Server> {
  const server = createServer((request, response) => {
    const origin = `http://${request.headers.host ?? '127.0.0.1'}`;
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(resultsPanelHtml({ cspSource: origin, scriptUri: `${origin}/dist/webview.js`, nonce: createNonce() }));
    } else if (request.url === '/dist/webview.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
    } else if (request.url === '/favicon.ico') {
      // Chromium asks for one; VS Code's webviews have none. No content, no console error.
      response.writeHead(204).end();
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function openWebview(): Promise<WebviewHarness> {
  const server = await serve(builtBundle());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const profile = mkdtempSync(join(tmpdir(), 'tvr-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true, args: chromiumArgs, viewport: { width: 1200, height: 900 },
    });
    await context.addInitScript(pageSetup);
    const page = context.pages()[0] ?? await context.newPage();
    const dialogs: string[] = [];
    const pageErrors: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(url);
    await waitForReady(page);
    const opened = context;
    return {
      page, url, dialogs, pageErrors,
      async close() {
        await opened.close();
        server.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

/** Waits until the webview has posted `ready` since the last (re)load. */
export async function waitForReady(page: Page): Promise<void> {
  await page.waitForFunction(() => ((window as unknown as { __posted: { type: string }[] }).__posted).some((m) => m.type === 'ready'));
}

/** Posts as the extension host does and waits until the webview has stored and drawn it. */
export async function post(page: Page, message: HostMessage): Promise<void> {
  await page.evaluate(async (data) => {
    const w = window as unknown as { __stateWrites: number };
    const before = w.__stateWrites;
    window.postMessage(data, '*');
    while (w.__stateWrites === before) await new Promise((resolve) => setTimeout(resolve, 5));
    // Drawing happens in the same task as setState; one frame lets layout settle for screenshots.
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }, message);
}

export function postResults(page: Page, results: RunResults): Promise<void> {
  return post(page, { type: 'results', results });
}

export async function posted(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted);
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
}

export type ThemeVariables = Readonly<Record<string, string>>;

// Values of VS Code's Light+ and Dark+ themes.
export const lightTheme: ThemeVariables = {
  '--vscode-foreground': '#3b3b3b', '--vscode-editor-foreground': '#3b3b3b', '--vscode-editor-background': '#ffffff',
  '--vscode-descriptionForeground': '#717171', '--vscode-errorForeground': '#a1260d', '--vscode-editorWidget-border': '#c8c8c8',
  '--vscode-charts-blue': '#1a85ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34',
  '--vscode-charts-purple': '#652d90', '--vscode-charts-yellow': '#bf8803', '--vscode-charts-red': '#e51400',
  '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff',
  '--vscode-inputValidation-errorBackground': '#f2dede', '--vscode-inputValidation-errorBorder': '#be1100',
};
export const darkTheme: ThemeVariables = {
  '--vscode-foreground': '#cccccc', '--vscode-editor-foreground': '#d4d4d4', '--vscode-editor-background': '#1e1e1e',
  '--vscode-descriptionForeground': '#9d9d9d', '--vscode-errorForeground': '#f48771', '--vscode-editorWidget-border': '#454545',
  '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185',
  '--vscode-charts-purple': '#b180d7', '--vscode-charts-yellow': '#cca700', '--vscode-charts-red': '#f14c4c',
  '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff',
  '--vscode-inputValidation-errorBackground': '#5a1d1d', '--vscode-inputValidation-errorBorder': '#be1100',
};

/** Sets the theme's variables and class on <body> as VS Code does on a theme change, and waits for the redraw. */
export async function applyTheme(page: Page, kind: 'light' | 'dark'): Promise<void> {
  const variables = kind === 'light' ? lightTheme : darkTheme;
  await page.evaluate(async ({ variables, kind }) => {
    for (const [name, value] of Object.entries(variables)) document.body.style.setProperty(name, value);
    document.body.classList.remove('vscode-light', 'vscode-dark');
    document.body.classList.add(`vscode-${kind}`);
    // The webview redraws on the next animation frame after the mutation; wait two.
    for (let i = 0; i < 2; i += 1) await new Promise((resolve) => requestAnimationFrame(resolve));
  }, { variables, kind });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Fails a test when the page logged an error or the CSP refused something. */
export async function assertCleanPage(harness: WebviewHarness): Promise<void> {
  assert.deepEqual(harness.pageErrors, []);
  assert.deepEqual(await cspViolations(harness.page), []);
}
