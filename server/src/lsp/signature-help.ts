import type { SignatureHelp, SignatureHelpParams } from 'vscode-languageserver/node';
import { signatureHelp } from '../language/ide/signature-help.ts';
import { analysisRequest, type Feature } from './context.ts';

export const signatureHelpFeature: Feature = {
  capabilities: () => ({ signatureHelpProvider: { triggerCharacters: ['(', ','], retriggerCharacters: [','] } }),
  register(context) {
    context.connection.onSignatureHelp(analysisRequest(context, 'signature help', null as SignatureHelp | null, (analysis, params: SignatureHelpParams) => {
      const markup = context.client.signatureDocumentation;
      const help = signatureHelp(analysis, analysis.lines.offset(params.position), markup);
      if (!help) return null;
      return {
        signatures: [{
          label: help.label,
          documentation: { kind: markup.kind, value: help.documentation },
          parameters: help.parameters.map((p) => ({ label: p.label, documentation: { kind: markup.kind, value: p.documentation } })),
        }],
        activeSignature: 0,
        ...(help.activeParameter !== undefined ? { activeParameter: help.activeParameter } : {}),
      };
    }));
  },
};
