// Go to definition, find references and rename.
import { ResponseError, type Location, type Range, type WorkspaceEdit } from 'vscode-languageserver/node';
import { definition, prepareRename, references, rename } from '../language/ide/navigation.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toRange, toTextEdit } from './convert.ts';

export function registerNavigation(context: FeatureContext): void {
  const { connection } = context;
  connection.onDefinition((params) => withAnalysis(context, params.textDocument.uri, 'definition', null as Location | null, (analysis) => {
    const span = definition(analysis, analysis.lines.offset(params.position));
    return span ? { uri: params.textDocument.uri, range: toRange(analysis, span) } : null;
  }));
  connection.onReferences((params) => withAnalysis(context, params.textDocument.uri, 'references', [] as Location[], (analysis) =>
    references(analysis, analysis.lines.offset(params.position), params.context.includeDeclaration)
      .map((span) => ({ uri: params.textDocument.uri, range: toRange(analysis, span) }))));
  connection.onPrepareRename((params) => withAnalysis(context, params.textDocument.uri, 'prepare rename', null as { range: Range; placeholder: string } | null, (analysis) => {
    const result = prepareRename(analysis, analysis.lines.offset(params.position));
    return result ? { range: toRange(analysis, result.span), placeholder: result.placeholder } : null;
  }));
  connection.onRenameRequest(async (params) => {
    const result = await withAnalysis(context, params.textDocument.uri, 'rename', undefined, (analysis) => {
      const renamed = rename(analysis, analysis.lines.offset(params.position), params.newName);
      return 'error' in renamed ? renamed : { changes: { [params.textDocument.uri]: renamed.edits.map((e) => toTextEdit(analysis, e)) } } satisfies WorkspaceEdit;
    });
    if (result && 'error' in result) throw new ResponseError(-32803, result.error);
    return result ?? null;
  });
}
