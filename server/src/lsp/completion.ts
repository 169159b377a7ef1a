import { readdirSync } from 'node:fs';
import { CompletionItemKind, InsertTextFormat, MarkupKind, type CompletionItem } from 'vscode-languageserver/node';
import { complete, type CompletionKind } from '../language/ide/completion.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toRange } from './convert.ts';

const kinds: Record<CompletionKind, CompletionItemKind> = {
  'variable': CompletionItemKind.Variable,
  'function': CompletionItemKind.Function,
  'keyword-argument': CompletionItemKind.Property,
  'value': CompletionItemKind.Value,
  'file': CompletionItemKind.File,
  'folder': CompletionItemKind.Folder,
};

export const completionTriggers = ['(', ',', '=', '"', '/', '['];

export function registerCompletion(context: FeatureContext): void {
  context.connection.onCompletion((params) => withAnalysis(context, params.textDocument.uri, 'completion', [] as CompletionItem[], (analysis) => {
    const items = complete(analysis, analysis.lines.offset(params.position), {
      stats: context.statistics,
      statsGroups: context.statistics.groupsOf(params.textDocument.uri),
      readDirectory: (dir) => readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, isDirectory: d.isDirectory() })),
    });
    return items.map((item): CompletionItem => ({
      label: item.label,
      kind: kinds[item.kind],
      ...(item.detail ? { detail: item.detail } : {}),
      ...(item.documentation ? { documentation: { kind: MarkupKind.Markdown, value: item.documentation } } : {}),
      ...(item.sortText ? { sortText: item.sortText } : {}),
      textEdit: { range: toRange(analysis, item.replace), newText: item.insertText ?? item.label },
      insertTextFormat: item.snippet ? InsertTextFormat.Snippet : InsertTextFormat.PlainText,
      ...(item.retrigger ? { command: { title: 'suggest', command: 'editor.action.triggerSuggest' } } : {}),
    }));
  }));
}
