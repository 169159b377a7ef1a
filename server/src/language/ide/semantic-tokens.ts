// Semantic colouring: bindings coloured by what they hold (models as types, vectors
// as variables, sweeps and scalars as parameters), built-ins as library functions,
// keyword arguments as parameters.
import type { Analysis } from '../analysis.ts';
import { builtinByName } from '../builtins.ts';
import type { Span } from '../syntax-tree.ts';
import type { Value } from '../values.ts';
import { forEachExpression } from './cursor.ts';

export const semanticTokenTypes = ['type', 'variable', 'parameter', 'function', 'property', 'string', 'number', 'comment', 'operator'] as const;
export const semanticTokenModifiers = ['declaration', 'defaultLibrary', 'readonly'] as const;

export type SemanticTokenType = (typeof semanticTokenTypes)[number];
export type SemanticTokenModifier = (typeof semanticTokenModifiers)[number];

export interface SemanticToken extends Span {
  readonly type: SemanticTokenType;
  readonly modifiers: readonly SemanticTokenModifier[];
}

function typeFor(value: Value | undefined): SemanticTokenType {
  switch (value?.type) {
    case 'model': return 'type';
    case 'scalar': return 'parameter';
    case 'task': return 'property';
    default: return 'variable';
  }
}

/** Tokens in source order, never overlapping. */
export function semanticTokens(analysis: Analysis): SemanticToken[] {
  const out: SemanticToken[] = [];
  const values = analysis.checked.values;
  for (const b of analysis.resolution.bindings) {
    const target = b.statement.target;
    out.push({ start: target.start, end: target.end, type: typeFor(values.get(b)), modifiers: ['declaration'] });
  }
  forEachExpression(analysis, (e) => {
    if (e.kind === 'name') {
      const binding = analysis.resolution.targets.get(e);
      out.push({ start: e.start, end: e.end, type: typeFor(binding ? values.get(binding) : undefined), modifiers: [] });
    }
    if (e.kind === 'call') {
      out.push({ start: e.callee.start, end: e.callee.end, type: 'function', modifiers: builtinByName.has(e.callee.name) ? ['defaultLibrary'] : [] });
      for (const a of e.args) if (a.keyword) out.push({ start: a.keyword.start, end: a.keyword.end, type: 'parameter', modifiers: ['readonly'] });
    }
  });
  return out.sort((a, b) => a.start - b.start);
}
