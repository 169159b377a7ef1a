// Quick fixes: the fixes the checker attached to diagnostics that touch a range.
import type { Analysis } from '../analysis.ts';
import type { Diagnostic, Fix } from '../diagnostics.ts';
import type { Span } from '../syntax-tree.ts';

export interface CodeAction {
  readonly fix: Fix;
  readonly diagnostic: Diagnostic;
}

export function codeActions(analysis: Analysis, range: Span): CodeAction[] {
  return analysis.diagnostics
    .filter((d) => d.fixes && d.span.start <= range.end && range.start <= d.span.end)
    .flatMap((diagnostic) => diagnostic.fixes!.map((fix) => ({ fix, diagnostic })));
}
