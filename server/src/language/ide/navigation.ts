// Go to definition, find references, rename and the document outline.
import type { Analysis } from '../analysis.ts';
import { builtinByName } from '../builtins.ts';
import type { TextEdit } from '../diagnostics.ts';
import type { Span } from '../syntax-tree.ts';
import { typeName } from '../values.ts';
import { bindingAt } from './cursor.ts';
import { describeValueShort } from './describe.ts';

export function definition(analysis: Analysis, offset: number): Span | undefined {
  return bindingAt(analysis, offset)?.binding.statement.target;
}

export function references(analysis: Analysis, offset: number, includeDeclaration: boolean): Span[] {
  const at = bindingAt(analysis, offset);
  if (!at) return [];
  const refs: Span[] = at.binding.references.map((r) => ({ start: r.start, end: r.end }));
  return includeDeclaration ? [at.binding.statement.target, ...refs] : refs;
}

export function prepareRename(analysis: Analysis, offset: number): { span: Span; placeholder: string } | undefined {
  const at = bindingAt(analysis, offset);
  return at ? { span: at.span, placeholder: at.binding.name } : undefined;
}

export type RenameResult = { readonly edits: TextEdit[] } | { readonly error: string };

export function rename(analysis: Analysis, offset: number, newName: string): RenameResult {
  const at = bindingAt(analysis, offset);
  if (!at) return { error: 'Only names defined in the recipe can be renamed.' };
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(newName) || newName === 'true' || newName === 'false') {
    return { error: `'${newName}' is not a valid name: use letters, digits and _ (not starting with a digit).` };
  }
  if (builtinByName.has(newName)) return { error: `'${newName}' is a built-in function.` };
  if (newName !== at.binding.name && analysis.resolution.bindings.some((b) => b.name === newName)) {
    return { error: `'${newName}' is already defined in this recipe.` };
  }
  const spans = [at.binding.statement.target, ...at.binding.references];
  return { edits: spans.map((span) => ({ span: { start: span.start, end: span.end }, newText: newName })) };
}

export type SymbolKind = 'model' | 'vector' | 'scalar' | 'task' | 'output' | 'evaluation' | 'value';

export interface DocumentSymbol {
  readonly name: string;
  readonly detail: string;
  readonly kind: SymbolKind;
  readonly span: Span;
  readonly selection: Span;
}

export function documentSymbols(analysis: Analysis): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  const bindingOf = new Map(analysis.resolution.bindings.map((b) => [b.statement, b]));
  for (const s of analysis.tree.statements) {
    if (s.kind === 'assignment') {
      const binding = bindingOf.get(s);
      const value = binding ? analysis.checked.values.get(binding) : undefined;
      const kind: SymbolKind = value && ['model', 'vector', 'scalar', 'task'].includes(value.type) ? (value.type as SymbolKind) : 'value';
      const short = describeValueShort(value);
      out.push({ name: s.target.name, detail: `${value ? typeName(value) : 'unknown'}${short ? `: ${short}` : ''}`, kind, span: s, selection: s.target });
    } else if (s.expression.kind === 'call' && (s.expression.callee.name === 'save' || s.expression.callee.name === 'evaluate')) {
      const call = s.expression;
      const first = call.args[0]?.value;
      const target = first ? analysis.text.slice(first.start, first.end) : '';
      const path = call.args[1]?.value.kind === 'string' ? call.args[1].value.value : '';
      out.push({
        name: call.callee.name === 'save' ? `save ${target}` : `evaluate ${target}`,
        detail: call.callee.name === 'save' ? path : 'evaluation',
        kind: call.callee.name === 'save' ? 'output' : 'evaluation',
        span: s,
        selection: call.callee,
      });
    }
  }
  return out;
}
