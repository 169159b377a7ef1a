import { CodeActionKind, type CodeAction, type CodeActionParams } from 'vscode-languageserver/node';
import { codeActions } from '../language/ide/code-actions.ts';
import { analysisRequest, type Feature } from './context.ts';
import { toLspDiagnostic, toSpan, toTextEdit } from './convert.ts';

export const codeActionsFeature: Feature = {
  capabilities: () => ({ codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] } }),
  register(context) {
    context.connection.onCodeAction(analysisRequest(context, 'code actions', [] as CodeAction[], (analysis, params: CodeActionParams) => {
      const uri = params.textDocument.uri;
      return codeActions(analysis, toSpan(analysis, params.range)).map(({ fix, diagnostic }) => ({
        title: fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [toLspDiagnostic(analysis, diagnostic, uri)],
        ...(fix.preferred ? { isPreferred: true } : {}),
        edit: { changes: { [uri]: fix.edits.map((e) => toTextEdit(analysis, e)) } },
      }));
    }));
  },
};
