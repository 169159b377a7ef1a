// Inside the extension host: what the language server gives VS Code for the fixture
// workspace (test/vscode/workspace.ts), through the real `vscode` API: diagnostics with
// their codes and ranges, completion, the hover's norm, quick fixes, formatting, document
// symbols, the code lens, and a run through the command the lens invokes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { assertShownDigits, expectedNorms, hoverNorm } from '../expected.ts';
import { errorFixtures, negateRecipe, quickFix, runnableRecipe } from '../workspace.ts';
import { eventually, openWithServer, workspaceFile } from './helpers.ts';

/** Errors and warnings of a document (hints, such as unused names, left out). */
function problems(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.severity <= vscode.DiagnosticSeverity.Warning);
}

function codeOf(diagnostic: vscode.Diagnostic): string {
  const code = diagnostic.code;
  return typeof code === 'object' ? String(code.value) : String(code);
}

function textOf(contents: vscode.Hover['contents']): string {
  return contents.map((part) => (typeof part === 'string' ? part : part.value)).join('\n');
}

function labelOf(item: vscode.CompletionItem): string {
  return typeof item.label === 'string' ? item.label : item.label.label;
}

/** Writes a new recipe into the workspace and opens it. */
async function newRecipe(name: string, text: string): Promise<vscode.TextDocument> {
  const uri = workspaceFile(name);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
  return vscode.workspace.openTextDocument(uri);
}

describe('language features through the vscode API', () => {
  before(async () => {
    await openWithServer('negate.tvr');
  });

  for (const fixture of errorFixtures) {
    it(`reports ${fixture.code} in ${fixture.file} with its range and message`, async () => {
      const document = await vscode.workspace.openTextDocument(workspaceFile(fixture.file));
      const found = await eventually(`diagnostics of ${fixture.file}`, () => problems(document.uri).length > 0 && problems(document.uri));
      assert.equal(found.length, 1, found.map((d) => d.message).join('\n'));
      const [diagnostic] = found;
      assert.equal(codeOf(diagnostic!), fixture.code);
      assert.equal(diagnostic!.severity, vscode.DiagnosticSeverity.Error);
      assert.equal(diagnostic!.source, 'tvr');
      const { range } = diagnostic!;
      assert.deepEqual(
        { line: range.start.line, start: range.start.character, endLine: range.end.line, end: range.end.character },
        { line: fixture.range.line, start: fixture.range.start, endLine: fixture.range.line, end: fixture.range.end });
      for (const part of fixture.message) assert.ok(diagnostic!.message.includes(part), `${JSON.stringify(part)} in ${diagnostic!.message}`);
    });
  }

  it('completes inside an expression with the recipe\'s names (vectors typed as such) and built-ins', async () => {
    const document = await newRecipe('completion.tvr', `${negateRecipe}e = base + `);
    const end = document.lineAt(document.lineCount - 1).range.end;
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', document.uri, end);
    // Snippets share some labels (e.g. `ties`): look items up by label and kind.
    const item = (label: string, kind: vscode.CompletionItemKind) => list.items.find((i) => labelOf(i) === label && i.kind === kind);
    const { Variable, Function } = vscode.CompletionItemKind;
    for (const name of ['base', 'sci', 'toxic', 'edited']) assert.ok(item(name, Variable), `${name} as a variable`);
    for (const name of ['load', 'mean', 'ties', 'select']) assert.ok(item(name, Function), `${name} as a function`);
    assert.equal(item('base', Variable)!.detail, 'Model');
    for (const name of ['sci', 'toxic']) assert.match(item(name, Variable)!.detail ?? '', /^Vector\b/, name);
    assert.equal(list.items.some((i) => labelOf(i) === 'e'), false, 'the name being defined is not offered');
  });

  it('hovers a task vector with its L2 norm, computed in the background', async () => {
    const uri = workspaceFile('negate.tvr');
    for (const [name, line] of [['sci', 2], ['toxic', 3]] as const) {
      let last = '';
      const shown = await eventually(`the computed norm of ${name} in its hover`, async () => {
        const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(line, 1));
        last = hovers.map((hover) => textOf(hover.contents)).join('\n');
        return hoverNorm(last);
      }).catch((error: Error) => assert.fail(`${error.message}; the last hover read ${JSON.stringify(last)}`));
      assertShownDigits(shown, expectedNorms[name], `the norm of ${name}`);
    }
  });

  it('offers the quick fix "Average them: mean(a, b)" on adding two models, and applying it removes the error', async () => {
    const document = await vscode.workspace.openTextDocument(workspaceFile(quickFix.file));
    const [diagnostic] = await eventually('the error on a + b', () => problems(document.uri).length === 1 && problems(document.uri));
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', document.uri, diagnostic!.range);
    const fix = actions.find((action) => action.title === quickFix.title);
    assert.ok(fix, `offered: ${actions.map((action) => action.title).join(' | ')}`);
    assert.ok(fix.kind && vscode.CodeActionKind.QuickFix.contains(fix.kind), `kind ${fix.kind?.value}`);
    assert.ok(fix.edit && fix.edit.size > 0, 'the quick fix carries an edit');
    assert.ok(await vscode.workspace.applyEdit(fix.edit), 'the edit applies');
    try {
      assert.equal(document.lineAt(2).text, quickFix.fixedLine);
      await eventually('no error after the fix', () => problems(document.uri).length === 0);
    } finally {
      await vscode.window.showTextDocument(document);
      await vscode.commands.executeCommand('workbench.action.files.revert');
    }
  });

  it('formats a recipe to the canonical layout', async () => {
    const document = await newRecipe('messy.tvr', 'base=load("models/base.safetensors")\nsci=load( "models/sci.safetensors" )-base\nedited=base+0.5 * sci\nsave(edited,"out/e.safetensors")\n');
    const edits = await vscode.commands.executeCommand<vscode.TextEdit[]>('vscode.executeFormatDocumentProvider', document.uri, { tabSize: 4, insertSpaces: true });
    assert.ok(edits && edits.length > 0, 'formatting edits');
    const edit = new vscode.WorkspaceEdit();
    edit.set(document.uri, edits);
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.equal(document.getText(), 'base = load("models/base.safetensors")\nsci = load("models/sci.safetensors") - base\nedited = base + 0.5*sci\nsave(edited, "out/e.safetensors")\n');
  });

  it('lists the recipe\'s bindings and outputs as document symbols', async () => {
    const symbols = await vscode.commands.executeCommand<vscode.DocumentSymbol[]>('vscode.executeDocumentSymbolProvider', workspaceFile('negate.tvr'));
    const { Class, Variable, File } = vscode.SymbolKind;
    assert.deepEqual(symbols.map((s) => [s.name, s.kind]), [['base', Class], ['sci', Variable], ['toxic', Variable], ['edited', Class], ['save edited', File]]);
    const sci = symbols[1]!.selectionRange;
    assert.deepEqual([sci.start.line, sci.start.character, sci.end.line, sci.end.character], [2, 0, 2, 3]);
  });

  it('puts a "Run Recipe" code lens on a runnable recipe; its command runs the recipe and writes the results', async function () {
    this.timeout(120_000);
    const uri = workspaceFile(runnableRecipe.file);
    await vscode.workspace.openTextDocument(uri);
    const lenses = await eventually('the code lens', async () => {
      const found = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
      return found.length > 0 && found;
    });
    assert.equal(lenses.length, 1);
    const command = lenses[0]!.command!;
    assert.match(command.title, /Run Recipe: 1 evaluation/);
    assert.equal(command.command, 'tvr.runRecipe');
    // The command settles once the run has ended and its outcome was reported.
    await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
    const resultsFile = workspaceFile(runnableRecipe.resultsFile).fsPath;
    assert.ok(existsSync(resultsFile), `${resultsFile} written`);
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as RunResults;
    assert.equal(results.status, 'done', results.error);
    assert.deepEqual(results.evaluations[0]!.tasks.map((task) => task.name), [...runnableRecipe.tasks]);
  });
});
