import { MarkupKind, type Hover } from 'vscode-languageserver/node';
import { hover } from '../language/ide/hover.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toRange } from './convert.ts';

export function registerHover(context: FeatureContext): void {
  context.connection.onHover((params) => withAnalysis(context, params.textDocument.uri, 'hover', null as Hover | null, (analysis) => {
    const result = hover(analysis, analysis.lines.offset(params.position), {
      stats: context.statistics,
      statsGroups: context.statistics.groupsOf(params.textDocument.uri),
    });
    return result ? { contents: { kind: MarkupKind.Markdown, value: result.contents }, range: toRange(analysis, result.span) } : null;
  }));
}
