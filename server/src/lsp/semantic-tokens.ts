import { SemanticTokensBuilder, type SemanticTokens, type SemanticTokensLegend } from 'vscode-languageserver/node';
import { semanticTokenModifiers, semanticTokens, semanticTokenTypes } from '../language/ide/semantic-tokens.ts';
import { withAnalysis, type FeatureContext } from './context.ts';

export const semanticTokensLegend: SemanticTokensLegend = { tokenTypes: [...semanticTokenTypes], tokenModifiers: [...semanticTokenModifiers] };

export function registerSemanticTokens(context: FeatureContext): void {
  context.connection.languages.semanticTokens.on((params) => withAnalysis(context, params.textDocument.uri, 'semantic tokens', { data: [] } as SemanticTokens, (analysis) => {
    const builder = new SemanticTokensBuilder();
    for (const token of semanticTokens(analysis)) {
      const start = analysis.lines.position(token.start);
      const modifiers = token.modifiers.reduce((bits, m) => bits | (1 << semanticTokenModifiers.indexOf(m)), 0);
      builder.push(start.line, start.character, token.end - token.start, semanticTokenTypes.indexOf(token.type), modifiers);
    }
    return builder.build();
  }));
}
