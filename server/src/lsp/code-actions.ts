import { CodeActionKind, type CodeAction } from 'vscode-languageserver/node';
import { codeActions } from '../language/ide/code-actions.ts';
import { withAnalysis, type FeatureContext } from './context.ts';
import { toLspDiagnostic, toSpan, toTextEdit } from './convert.ts';

export function registerCodeActions(context: FeatureContext): void {
  context.connection.onCodeAction((params) => withAnalysis(context, params.textDocument.uri, 'code actions', [] as CodeAction[], (analysis) => {
    const uri = params.textDocument.uri;
    return codeActions(analysis, toSpan(analysis, params.range)).map(({ fix, diagnostic }) => ({
      title: fix.title,
      kind: CodeActionKind.QuickFix,
      diagnostics: [toLspDiagnostic(analysis, diagnostic, uri)],
      ...(fix.preferred ? { isPreferred: true } : {}),
      edit: { changes: { [uri]: fix.edits.map((e) => toTextEdit(analysis, e)) } },
    }));
  }));
}
