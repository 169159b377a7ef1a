import { SemanticTokensBuilder, type SemanticTokens, type SemanticTokensParams } from 'vscode-languageserver/node';
import { semanticTokenModifiers, semanticTokens, semanticTokenTypes } from '../language/ide/semantic-tokens.ts';
import { analysisRequest, type Feature } from './context.ts';

export const semanticTokensFeature: Feature = {
  capabilities: () => ({ semanticTokensProvider: { legend: { tokenTypes: [...semanticTokenTypes], tokenModifiers: [...semanticTokenModifiers] }, full: true } }),
  register(context) {
    context.connection.languages.semanticTokens.on(analysisRequest(context, 'semantic tokens', { data: [] } as SemanticTokens, (analysis, _params: SemanticTokensParams) => {
      const builder = new SemanticTokensBuilder();
      for (const token of semanticTokens(analysis)) {
        const start = analysis.lines.position(token.start);
        const modifiers = token.modifiers.reduce((bits, m) => bits | (1 << semanticTokenModifiers.indexOf(m)), 0);
        builder.push(start.line, start.character, token.end - token.start, semanticTokenTypes.indexOf(token.type), modifiers);
      }
      return builder.build();
    }));
  },
};
