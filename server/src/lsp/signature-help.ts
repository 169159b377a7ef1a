import type { SignatureHelp } from 'vscode-languageserver/node';
import { MarkupKind } from 'vscode-languageserver/node';
import { signatureHelp } from '../language/ide/signature-help.ts';
import { withAnalysis, type FeatureContext } from './context.ts';

export const signatureTriggers = ['(', ','];

export function registerSignatureHelp(context: FeatureContext): void {
  context.connection.onSignatureHelp((params) => withAnalysis(context, params.textDocument.uri, 'signature help', null as SignatureHelp | null, (analysis) => {
    const help = signatureHelp(analysis, analysis.lines.offset(params.position));
    if (!help) return null;
    return {
      signatures: [{
        label: help.label,
        documentation: { kind: MarkupKind.Markdown, value: help.documentation },
        parameters: help.parameters.map((p) => ({ label: p.label, documentation: { kind: MarkupKind.Markdown, value: p.documentation } })),
      }],
      activeSignature: 0,
      ...(help.activeParameter !== undefined ? { activeParameter: help.activeParameter } : {}),
    };
  }));
}
