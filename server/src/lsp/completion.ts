// Completion in the form the client takes: snippets only where it announces snippet support,
// VS Code's "suggest again" command only in VS Code, documentation in its preferred format.
// A path argument's folder is read asynchronously before the (synchronous) core completes.
import { readdir } from 'node:fs/promises';
import { CompletionItemKind, InsertTextFormat, type CompletionItem, type CompletionParams } from 'vscode-languageserver/node';
import { complete, completionFolder, type CompletionKind, type DirectoryEntry } from '../language/ide/completion.ts';
import { analysisRequest, throwIfCancelled, type Feature } from './context.ts';
import { toRange } from './convert.ts';

const kinds: Record<CompletionKind, CompletionItemKind> = {
  'variable': CompletionItemKind.Variable,
  'function': CompletionItemKind.Function,
  'keyword-argument': CompletionItemKind.Property,
  'value': CompletionItemKind.Value,
  'file': CompletionItemKind.File,
  'folder': CompletionItemKind.Folder,
};

export const completionFeature: Feature = {
  capabilities: () => ({ completionProvider: { triggerCharacters: ['(', ',', '=', '"', '/', '['], resolveProvider: false } }),
  register(context) {
    context.connection.onCompletion(analysisRequest(context, 'completion', [] as CompletionItem[], async (analysis, params: CompletionParams, token) => {
      const offset = analysis.lines.offset(params.position);
      const folder = completionFolder(analysis, offset);
      const entries = folder === undefined ? undefined : await listFolder(folder);
      throwIfCancelled(token);
      const { client } = context;
      const markup = client.completionDocumentation;
      const items = complete(analysis, offset, {
        stats: context.statistics,
        statsGroups: context.statistics.groupsOf(params.textDocument.uri),
        readDirectory: (dir) => (dir === folder && entries ? entries : []),
        markup,
      });
      return items.map((item): CompletionItem => {
        const snippet = client.snippets && item.snippet !== undefined;
        return {
          label: item.label,
          kind: kinds[item.kind],
          ...(item.detail ? { detail: item.detail } : {}),
          ...(item.documentation ? { documentation: { kind: markup.kind, value: item.documentation } } : {}),
          ...(item.sortText ? { sortText: item.sortText } : {}),
          textEdit: { range: toRange(analysis, item.replace), newText: snippet ? item.snippet! : (item.insertText ?? item.label) },
          insertTextFormat: snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
          ...(item.retrigger && client.isVsCode ? { command: { title: 'suggest', command: 'editor.action.triggerSuggest' } } : {}),
        };
      });
    }));
  },
};

async function listFolder(folder: string): Promise<readonly DirectoryEntry[] | undefined> {
  try {
    return (await readdir(folder, { withFileTypes: true })).map((d) => ({ name: d.name, isDirectory: d.isDirectory() }));
  } catch {
    return undefined;
  }
}
