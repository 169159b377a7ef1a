// Signature help for built-in calls: the signature, its parameters' docs, and which
// parameter the cursor is on (by position or by keyword).
import type { Analysis } from '../analysis.ts';
import { builtinByName, paramLabel, signatureLabel } from '../builtins.ts';
import { cursorContext } from './cursor.ts';
import { paramAt } from './completion.ts';
import { markdown, type Markup } from './markup.ts';

export interface SignatureHelp {
  readonly label: string;
  /** Written with the given markup. */
  readonly documentation: string;
  readonly parameters: readonly { readonly label: string; readonly documentation: string }[];
  readonly activeParameter: number | undefined;
}

export function signatureHelp(analysis: Analysis, offset: number, markup: Markup = markdown): SignatureHelp | undefined {
  const call = cursorContext(analysis, offset).call;
  if (!call) return undefined;
  const builtin = builtinByName.get(call.callee);
  if (!builtin) return undefined;
  const param = paramAt(call);
  const index = param ? builtin.params.indexOf(param) : -1;
  return {
    label: signatureLabel(builtin),
    documentation: markup.doc(builtin.summary),
    parameters: builtin.params.map((p) => ({ label: paramLabel(p), documentation: markup.doc(p.doc) })),
    activeParameter: index >= 0 ? index : undefined,
  };
}
