import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import { documentSymbols, type SymbolKind as CoreKind } from '../language/ide/navigation.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toRange } from './convert.ts';

const kinds: Record<CoreKind, SymbolKind> = {
  model: SymbolKind.Class,
  vector: SymbolKind.Variable,
  scalar: SymbolKind.Number,
  task: SymbolKind.Event,
  output: SymbolKind.File,
  evaluation: SymbolKind.Function,
  value: SymbolKind.Variable,
};

export function registerDocumentSymbols(context: FeatureContext): void {
  context.connection.onDocumentSymbol((params) => withAnalysis(context, params.textDocument.uri, 'document symbols', [] as DocumentSymbol[], (analysis) =>
    documentSymbols(analysis).map((s) => ({
      name: s.name,
      detail: s.detail,
      kind: kinds[s.kind],
      range: toRange(analysis, s.span),
      selectionRange: toRange(analysis, s.selection),
    }))));
}
