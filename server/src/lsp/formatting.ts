import type { DocumentFormattingParams, TextEdit } from 'vscode-languageserver/node';
import { format } from '../language/ide/format.ts';
import { analysisRequest, type Feature } from './context.ts';
import { toTextEdit } from './convert.ts';

export const formattingFeature: Feature = {
  capabilities: () => ({ documentFormattingProvider: true }),
  register(context) {
    context.connection.onDocumentFormatting(analysisRequest(context, 'formatting', [] as TextEdit[], (analysis, _params: DocumentFormattingParams) =>
      format(analysis).map((e) => toTextEdit(analysis, e))));
  },
};
