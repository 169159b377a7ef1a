// Inside the extension host: activation, language registration, commands and the language
// client's life cycle, asserted through the real `vscode` API.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { TvrApi } from '../../../client/src/extension.ts';
import { eventually, extensionId, workspaceFile } from './helpers.ts';

describe('tvr in the extension host', () => {
  let document: vscode.TextDocument;
  let api: TvrApi;

  before(async () => {
    document = await vscode.workspace.openTextDocument(workspaceFile('negate.tvr'));
    await vscode.window.showTextDocument(document);
    const extension = vscode.extensions.getExtension<TvrApi>(extensionId);
    assert.ok(extension, `${extensionId} is installed`);
    api = await eventually('activation', () => extension.isActive && extension.exports);
  });

  it('opens .tvr files in the tvr language', () => {
    assert.equal(document.languageId, 'tvr');
  });

  it('registers its commands', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const command of ['tvr.runRecipe', 'tvr.restartServer', 'tvr.showOutput']) assert.ok(registered.has(command), command);
  });

  it('declares its commands, grammar and snippets in the manifest', () => {
    const manifest = vscode.extensions.getExtension(extensionId)!.packageJSON as {
      contributes: { commands: { command: string }[]; grammars: { scopeName: string }[]; snippets: { language: string }[] };
    };
    assert.deepEqual(manifest.contributes.commands.map((c) => c.command).sort(), ['tvr.restartServer', 'tvr.runRecipe', 'tvr.showOutput']);
    assert.deepEqual(manifest.contributes.grammars.map((g) => g.scopeName), ['source.tvr']);
    assert.deepEqual(manifest.contributes.snippets.map((s) => s.language), ['tvr']);
  });

  it('starts the language server', async () => {
    await eventually('a running language client', () => api.languageClient()?.isRunning());
  });

  it('restarts the language server with a new client', async () => {
    const before = await eventually('a running language client', () => api.languageClient()?.isRunning() && api.languageClient());
    await vscode.commands.executeCommand('tvr.restartServer');
    const after = await eventually('a running language client after the restart', () => api.languageClient()?.isRunning() && api.languageClient());
    assert.notEqual(after, before);
    assert.equal(before.isRunning(), false, 'the previous client was stopped');
  });
});
