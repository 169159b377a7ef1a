// Shared by the in-host tests: polling on a condition, and the workspace's files as URIs.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import * as vscode from 'vscode';
import type { TvrApi } from '../../../client/src/extension.ts';

export const extensionId = 'tvr-dev.tvr';

/** Polls `probe` until it returns a value other than undefined or false; the error names what was awaited. */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await delay(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return vscode.Uri.joinPath(folder.uri, name);
}

/** Opens a workspace file in an editor and waits until the extension is active and its language client runs. */
export async function openWithServer(name: string): Promise<{ readonly document: vscode.TextDocument; readonly api: TvrApi }> {
  const document = await vscode.workspace.openTextDocument(workspaceFile(name));
  await vscode.window.showTextDocument(document);
  const extension = vscode.extensions.getExtension<TvrApi>(extensionId);
  assert.ok(extension, `${extensionId} is installed`);
  const api = await eventually('activation', () => extension.isActive && extension.exports);
  await eventually('a running language client', () => api.languageClient()?.isRunning());
  return { document, api };
}
