// A VS Code window in headless Chromium, driven as a user would: keyboard, palette, mouse.
// Every wait is on a condition of the page (a selector, a text, a colour), never a fixed sleep.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type BrowserContext, type FrameLocator, type Locator, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

// Without the networking flags Chromium keeps reaching for the (closed) network.
const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser(profileDir: string, env: NodeJS.ProcessEnv): Promise<BrowserContext> {
  // GLib's settings backend would otherwise write dconf files under the passwd home.
  const cleanEnv: Record<string, string> = { GSETTINGS_BACKEND: 'memory' };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) cleanEnv[key] = value;
  return chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    env: cleanEnv,
    viewport: { width: 1400, height: 900 },
  });
}

/** Polls `probe` until it returns a value other than undefined; the error names what was awaited. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await delay(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/**
 * How long a fresh window may take to show the language server's first answer (a squiggle,
 * its suggestions, a hover): activation and the server's start take a few seconds, and
 * tens of seconds on a loaded machine.
 */
export const serverTimeoutMs = 60_000;

/** Monaco renders spaces as non-breaking ones. */
const plain = (text: string): string => text.replace(/\u00a0/g, ' ');

export class Workbench {
  readonly page: Page;
  /** The workspace folder the window shows (on this machine: code-server runs here). */
  readonly folder: string;
  readonly #shotsDir: string;
  #shots = 0;

  constructor(page: Page, folder: string, shotsDir: string) {
    this.page = page;
    this.folder = folder;
    this.#shotsDir = shotsDir;
    mkdirSync(shotsDir, { recursive: true });
  }

  /** Opens `folder` and waits until the workbench shows its files. */
  static async open(page: Page, serverUrl: string, folder: string, shotsDir: string): Promise<Workbench> {
    page.setDefaultTimeout(20_000);
    const workbench = new Workbench(page, folder, shotsDir);
    await workbench.step('workbench', async () => {
      await page.goto(`${serverUrl}/?folder=${encodeURIComponent(folder)}`);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    });
    return workbench;
  }

  /** Runs one user-visible step and keeps a screenshot of how it left the window. */
  async step<T>(name: string, action: () => Promise<T>): Promise<T> {
    const result = await action();
    await this.screenshot(name);
    return result;
  }

  async screenshot(name: string): Promise<string> {
    this.#shots += 1;
    const file = join(this.#shotsDir, `${String(this.#shots).padStart(2, '0')}-${name.replace(/[^A-Za-z0-9_-]+/g, '-')}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Quick Open (Ctrl+P) by file name, then waits for its tab and its text. */
  async openFile(name: string): Promise<void> {
    await this.step(`open-${name}`, async () => {
      await this.page.keyboard.press('Control+P');
      await this.page.locator('.quick-input-widget input').waitFor();
      await this.page.keyboard.type(name);
      await this.page.locator(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`).first().waitFor();
      await this.page.keyboard.press('Enter');
      await this.page.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).waitFor();
      await this.activeEditor().locator('.view-lines').waitFor();
    });
  }

  /** Runs a command from the palette by its full title, e.g. "tvr: Show Output". */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    await this.page.locator('.quick-input-widget input').waitFor();
    await this.page.keyboard.type(title);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  activeEditor(): Locator {
    return this.page.locator('.editor-group-container.active .editor-instance .monaco-editor').first();
  }

  /** The visible text of the active editor, one entry per rendered line, top to bottom. */
  async editorLines(): Promise<string[]> {
    const lines = this.activeEditor().locator('.view-lines .view-line');
    const rows = await lines.evaluateAll((nodes) =>
      nodes.map((node) => ({ top: parseFloat((node as HTMLElement).style.top) || 0, text: node.textContent ?? '' })));
    return rows.sort((a, b) => a.top - b.top).map((row) => plain(row.text));
  }

  /** Places the cursor at the end of the active editor's text (Ctrl+End). */
  async focusEditorEnd(): Promise<void> {
    await this.activeEditor().locator('.view-lines').click();
    await this.page.keyboard.press('Control+End');
  }

  /** The rendered token (a span Monaco coloured) whose text is exactly `text`, on the line containing `line`. */
  token(line: string, text: string): Locator {
    return this.activeEditor()
      .locator('.view-line', { hasText: line })
      .locator('span > span')
      .filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '[ \\u00a0]')}$`) })
      .first();
  }

  async colourOf(token: Locator): Promise<string> {
    return token.evaluate((node) => getComputedStyle(node).color);
  }

  /** The TextMate scopes VS Code gives `token` (Developer: Inspect Editor Tokens and Scopes). */
  async textMateScopes(token: Locator): Promise<string[]> {
    await token.click();
    await this.runCommand('Developer: Inspect Editor Tokens and Scopes');
    const scopes = this.page.locator('.token-inspect-widget td.tiw-metadata-scopes');
    await scopes.waitFor();
    const text = await scopes.innerText();
    await this.page.keyboard.press('Escape');
    await scopes.waitFor({ state: 'hidden' });
    return text.split('\n').map((scope) => scope.trim()).filter((scope) => scope.length > 0);
  }

  statusBarEntry(id: string): Locator {
    return this.page.locator(`#${id.replace(/\./g, '\\.')}`);
  }

  /**
   * Opens the suggestion widget (Ctrl+Space) and returns the labels it lists (e.g. "sci, Variable").
   * With `until`, closes and reopens it until the labels satisfy it: before the language server
   * answers, VS Code lists words of the document instead.
   */
  async suggest(until?: { readonly what: string; readonly test: (labels: readonly string[]) => boolean }): Promise<string[]> {
    const rows = this.page.locator('.suggest-widget.visible .monaco-list-row');
    const open = async (): Promise<string[]> => {
      await this.page.keyboard.press('Control+Space');
      await rows.first().waitFor();
      return rows.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('aria-label') ?? ''));
    };
    if (!until) return open();
    return waitUntil(until.what, async () => {
      const labels = await open();
      if (until.test(labels)) return labels;
      await this.page.keyboard.press('Escape');
      await this.page.locator('.suggest-widget.visible').waitFor({ state: 'hidden' });
      return undefined;
    }, serverTimeoutMs);
  }

  /** Accepts the suggestion whose label starts with `label`. */
  async acceptSuggestion(label: string): Promise<void> {
    const row = this.page.locator('.suggest-widget.visible .monaco-list-row', { has: this.page.locator('.label-name', { hasText: new RegExp(`^${label}$`) }) }).first();
    await row.click();
    await this.page.locator('.suggest-widget.visible').waitFor({ state: 'hidden' });
  }

  /** The error count of the status bar's problems entry (its label reads e.g. "Errors: 1, Warnings: 2" or "No Problems"). */
  async errorCount(): Promise<number> {
    const label = (await this.statusBarEntry('status.problems').getAttribute('aria-label')) ?? '';
    return Number(/Errors: (\d+)/.exec(label)?.[1] ?? 0);
  }

  /** Waits for the first error squiggle of the active editor. */
  async errorSquiggle(): Promise<void> {
    await this.activeEditor().locator('.squiggly-error').first().waitFor({ timeout: serverTimeoutMs });
  }

  /** Waits until the status bar counts `errors` errors. */
  async waitForErrorCount(errors: number): Promise<void> {
    await waitUntil(`${errors} error(s) in the status bar`, async () => ((await this.errorCount()) === errors ? true : undefined));
  }

  /**
   * Opens the Problems panel (Ctrl+Shift+M) and returns the label of each problem row, e.g.
   * "Error: MESSAGE at line 2 and character 5. generated by tvr" (file rows left out).
   */
  async problems(count: number): Promise<string[]> {
    await this.page.keyboard.press('Control+Shift+M');
    const rows = this.page.locator('.markers-panel .monaco-list-row');
    return waitUntil(`${count} problem(s) in the Problems panel`, async () => {
      const labels = (await rows.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('aria-label') ?? '')))
        .filter((label) => /^(Error|Warning|Info):/.test(label));
      return labels.length === count ? labels : undefined;
    });
  }

  /**
   * Hovers `token` until the hover's text satisfies `ready` (hover providers answer once the
   * server is up, and some answers fill in later, e.g. a norm computed in the background):
   * each try moves the mouse away and back, as a user would.
   */
  async hoverText(token: Locator, what: string, ready: (text: string) => boolean, timeoutMs = serverTimeoutMs): Promise<string> {
    const hover = this.page.locator('.monaco-editor .monaco-hover:visible').first();
    let last = '';
    try {
      return await waitUntil(`a hover with ${what}`, async () => {
        await this.page.mouse.move(1, 1);
        await hover.waitFor({ state: 'hidden', timeout: 2000 });
        await token.hover();
        await hover.waitFor({ timeout: 3000 });
        last = plain(await hover.innerText());
        return ready(last) ? last : undefined;
      }, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the last hover read ${JSON.stringify(last)}`);
    }
  }

  /**
   * The detail the suggestion widget shows for `label`: it shows the focused row's detail, so
   * this moves the focus down (never up) to that row.
   */
  async suggestionDetail(label: string, maxRows = 50): Promise<string> {
    const focused = this.page.locator('.suggest-widget.visible .monaco-list-row.focused');
    for (let i = 0; i < maxRows; i++) {
      if ((await focused.locator('.label-name').innerText()) === label) {
        return plain(await focused.locator('.details-label').innerText());
      }
      await this.page.keyboard.press('ArrowDown');
    }
    throw new Error(`no suggestion labelled ${label} in the ${maxRows} rows below the focus`);
  }

  /** Opens the quick fixes at the cursor (Ctrl+.), returns their titles, and applies the one titled `title`. */
  async applyQuickFix(title: string): Promise<string[]> {
    const actions = this.page.locator('.action-widget .monaco-list-row.action');
    // Ctrl+. pressed before the editor has asked the server for code actions opens nothing
    // (seen on a loaded machine while the light bulb already showed): ask again until it opens.
    await waitUntil('the quick fix menu', async () => {
      await this.page.keyboard.press('Control+.');
      try {
        await actions.first().waitFor({ timeout: 3000 });
        return true;
      } catch (error) {
        await this.page.keyboard.press('Escape');
        throw error;
      }
    }, serverTimeoutMs);
    const titles = await actions.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('aria-label') ?? ''));
    const wanted = actions.filter({ hasText: title });
    if ((await wanted.count()) === 0) throw new Error(`no quick fix titled ${JSON.stringify(title)}; offered: ${titles.join(' | ')}`);
    await wanted.first().click();
    await actions.first().waitFor({ state: 'detached' });
    return titles;
  }

  /** The code lens of the active editor whose text contains `text`. */
  codeLens(text: string): Locator {
    return this.activeEditor().locator('.codelens-decoration a', { hasText: text }).first();
  }

  /** The page inside the (one) webview panel. */
  webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  }

  /** Opens the notifications center (toasts may not render headless) and waits for a notification containing `text`. */
  async notification(text: string): Promise<string> {
    await this.runCommand('Notifications: Show Notifications');
    const items = this.page.locator('.notifications-center .notification-list-item');
    return waitUntil(`a notification containing ${JSON.stringify(text)}`, async () => {
      const all = (await items.allInnerTexts()).map(plain);
      return all.find((item) => item.includes(text));
    });
  }

  /** The text shown in the Output panel's editor. */
  async outputText(): Promise<string> {
    const lines = await this.page.locator('.panel .output-view .view-lines .view-line').allTextContents();
    return plain(lines.join('\n'));
  }
}
