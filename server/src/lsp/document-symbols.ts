import { SymbolKind, type DocumentSymbol, type DocumentSymbolParams } from 'vscode-languageserver/node';
import { documentSymbols, type SymbolKind as CoreKind } from '../language/ide/navigation.ts';
import { analysisRequest, type Feature } from './context.ts';
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

export const documentSymbolsFeature: Feature = {
  capabilities: () => ({ documentSymbolProvider: true }),
  register(context) {
    context.connection.onDocumentSymbol(analysisRequest(context, 'document symbols', [] as DocumentSymbol[], (analysis, _params: DocumentSymbolParams) =>
      documentSymbols(analysis).map((s) => ({
        name: s.name,
        detail: s.detail,
        kind: kinds[s.kind],
        range: toRange(analysis, s.span),
        selectionRange: toRange(analysis, s.selection),
      }))));
  },
};
