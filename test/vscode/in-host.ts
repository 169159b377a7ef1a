// Runs suite/ inside the extension host: code-server's smoke-test driver turns the window
// into an Extension Development Host when the URL's `payload` names the extension and the
// test module; the result comes back through `window.codeAutomationExit(code)`.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import * as esbuild from 'esbuild';
import type { Page } from 'playwright-core';
import { suiteBanner } from './suite/banner.ts';

export async function bundleSuite(root: string, outDir: string): Promise<string> {
  const outfile = join(outDir, 'index.cjs');
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['test/vscode/suite/index.ts'],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node22',
    external: ['vscode'],
    logLevel: 'warning',
    // Mocha's parallel mode resolves worker files at run time; the suite runs serially.
    logOverride: { 'require-resolve-not-external': 'silent' },
  });
  return outfile;
}

export interface InHostRun {
  readonly serverUrl: string;
  readonly workspace: string;
  /** The installed extension's folder, loaded as the development extension. */
  readonly extensionPath: string;
  readonly suiteFile: string;
  /** Every line of the window's console (workbench and extension host). */
  readonly logFile: string;
  /** Lines from the suite's banner on. */
  readonly echo: (line: string) => void;
  readonly timeoutMs: number;
}

/** Resolves with the suite's exit code (0 when every test passed). */
export async function runInHost(page: Page, run: InHostRun): Promise<number> {
  const exited = new Promise<number>((resolve) => {
    void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
  });
  let echoing = false;
  await page.exposeFunction('codeAutomationLog', (_level: string, args: unknown[]) => {
    const text = format(...args);
    appendFileSync(run.logFile, `${text}\n`);
    echoing ||= text.includes(suiteBanner);
    if (echoing) for (const line of text.split('\n')) run.echo(line);
  });
  // The workbench parses these as URIs; the files live on the server (the remote, for VS Code).
  const remote = (path: string): string => `vscode-remote://${new URL(run.serverUrl).host}${path}`;
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', remote(run.extensionPath)],
    ['extensionTestsPath', remote(run.suiteFile)],
  ]);
  await page.goto(`${run.serverUrl}/?folder=${encodeURIComponent(run.workspace)}&payload=${encodeURIComponent(payload)}`);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the in-host suite did not finish within ${run.timeoutMs} ms`)), run.timeoutMs);
  });
  try {
    return await Promise.race([exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
