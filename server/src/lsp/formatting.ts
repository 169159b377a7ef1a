import type { TextEdit } from 'vscode-languageserver/node';
import { format } from '../language/ide/format.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toTextEdit } from './convert.ts';

export function registerFormatting(context: FeatureContext): void {
  context.connection.onDocumentFormatting((params) => withAnalysis(context, params.textDocument.uri, 'formatting', [] as TextEdit[], (analysis) =>
    format(analysis).map((e) => toTextEdit(analysis, e))));
}
