// Go to definition, find references and rename.
import {
  LSPErrorCodes, ResponseError,
  type DefinitionParams, type Location, type PrepareRenameParams, type Range, type ReferenceParams, type RenameParams, type WorkspaceEdit,
} from 'vscode-languageserver/node';
import { definition, prepareRename, references, rename } from '../language/ide/navigation.ts';
import { analysisRequest, type Feature } from './context.ts';
import { toRange, toTextEdit } from './convert.ts';

export const navigationFeature: Feature = {
  capabilities: () => ({ definitionProvider: true, referencesProvider: true, renameProvider: { prepareProvider: true } }),
  register(context) {
    const { connection } = context;
    connection.onDefinition(analysisRequest(context, 'definition', null as Location | null, (analysis, params: DefinitionParams) => {
      const span = definition(analysis, analysis.lines.offset(params.position));
      return span ? { uri: params.textDocument.uri, range: toRange(analysis, span) } : null;
    }));
    connection.onReferences(analysisRequest(context, 'references', [] as Location[], (analysis, params: ReferenceParams) =>
      references(analysis, analysis.lines.offset(params.position), params.context.includeDeclaration)
        .map((span) => ({ uri: params.textDocument.uri, range: toRange(analysis, span) }))));
    connection.onPrepareRename(analysisRequest(context, 'prepare rename', null as { range: Range; placeholder: string } | null, (analysis, params: PrepareRenameParams) => {
      const result = prepareRename(analysis, analysis.lines.offset(params.position));
      return result ? { range: toRange(analysis, result.span), placeholder: result.placeholder } : null;
    }));
    connection.onRenameRequest(analysisRequest(context, 'rename', null as WorkspaceEdit | null, (analysis, params: RenameParams) => {
      const renamed = rename(analysis, analysis.lines.offset(params.position), params.newName);
      if ('error' in renamed) throw new ResponseError(LSPErrorCodes.RequestFailed, renamed.error);
      return { changes: { [params.textDocument.uri]: renamed.edits.map((e) => toTextEdit(analysis, e)) } };
    }));
  },
};
