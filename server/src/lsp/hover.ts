// Hover in the client's preferred format: Markdown, or plain lines for clients that ask for plain text.
import type { Hover, HoverParams } from 'vscode-languageserver/node';
import { hover } from '../language/ide/hover.ts';
import { analysisRequest, type Feature } from './context.ts';
import { toRange } from './convert.ts';

export const hoverFeature: Feature = {
  capabilities: () => ({ hoverProvider: true }),
  register(context) {
    context.connection.onHover(analysisRequest(context, 'hover', null as Hover | null, (analysis, params: HoverParams) => {
      const markup = context.client.hover;
      const result = hover(analysis, analysis.lines.offset(params.position), {
        stats: context.statistics,
        statsGroups: context.statistics.groupsOf(params.textDocument.uri),
        markup,
      });
      return result ? { contents: { kind: markup.kind, value: result.contents }, range: toRange(analysis, result.span) } : null;
    }));
  },
};
