// Document formatting: one canonical layout (spaces around + - = and after commas,
// products written tight as in `0.5*tau`), comments and single blank lines kept.
// A recipe with syntax errors is left alone rather than guessed at.
import type { Analysis } from '../analysis.ts';
import type { TextEdit } from '../diagnostics.ts';
import type { Comment, Expression, Statement } from '../syntax-tree.ts';

const maxWidth = 100;

export function format(analysis: Analysis): TextEdit[] {
  if (analysis.tree.errors.length > 0) return [];
  const formatted = formatText(analysis);
  return formatted === analysis.text ? [] : [{ span: { start: 0, end: analysis.text.length }, newText: formatted }];
}

type Item = { readonly kind: 'statement'; readonly statement: Statement; readonly start: number; readonly end: number } | { readonly kind: 'comment'; readonly comment: Comment; readonly start: number; readonly end: number };

export function formatText(analysis: Analysis): string {
  const { text, lines } = analysis;
  const items: Item[] = [
    ...analysis.tree.statements.map((statement) => ({ kind: 'statement' as const, statement, start: statement.start, end: statement.end })),
    ...analysis.tree.comments.map((comment) => ({ kind: 'comment' as const, comment, start: comment.start, end: comment.end })),
  ].sort((a, b) => a.start - b.start);
  const statementSpans = analysis.tree.statements;
  const insideStatement = (c: Comment): boolean => statementSpans.some((s) => c.start > s.start && c.end < s.end);
  const out: string[] = [];
  let previousEndLine = -1;
  for (const item of items) {
    if (item.kind === 'comment' && insideStatement(item.comment)) continue;
    const startLine = lines.position(item.start).line;
    if (item.kind === 'comment' && startLine === previousEndLine && out.length > 0) {
      out[out.length - 1] += `  ${item.comment.text.trimEnd()}`;
      continue;
    }
    if (previousEndLine >= 0 && startLine - previousEndLine > 1) out.push('');
    if (item.kind === 'comment') {
      out.push(item.comment.text.trimEnd());
    } else {
      const inner = analysis.tree.comments.filter((c) => c.start > item.start && c.end < item.end);
      // A statement with comments between its lines is kept as written.
      out.push(inner.length > 0 ? text.slice(item.start, item.end) : formatStatement(item.statement, text));
    }
    previousEndLine = lines.position(item.end).line;
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

export function formatStatement(s: Statement, text: string): string {
  if (s.kind === 'assignment') {
    const prefix = `${s.target.name} = `;
    return prefix + expression(s.value, text, prefix.length);
  }
  return expression(s.expression, text, 0);
}

function expression(e: Expression, text: string, indent: number): string {
  const flat = inline(e, text);
  if (indent + flat.length <= maxWidth || e.kind !== 'call' || e.args.length < 2) return flat;
  const args = e.args.map((a) => `    ${a.keyword ? `${a.keyword.name}=` : ''}${inline(a.value, text)},`);
  return `${e.callee.name}(\n${args.join('\n')}\n)`;
}

function inline(e: Expression, text: string): string {
  switch (e.kind) {
    case 'number':
    case 'string':
      return text.slice(e.start, e.end);
    case 'bool':
      return String(e.value);
    case 'name':
      return e.name;
    case 'missing':
      return '';
    case 'paren':
      return `(${inline(e.inner, text)})`;
    case 'unary': {
      const operand = inline(e.operand, text);
      // `- -1`, not `--1`.
      return /^[-+]/.test(operand) ? `${e.operator} ${operand}` : `${e.operator}${operand}`;
    }
    case 'binary': {
      const tight = e.operator === '*' || e.operator === '/';
      return `${inline(e.left, text)}${tight ? e.operator : ` ${e.operator} `}${inline(e.right, text)}`;
    }
    case 'call':
      return `${e.callee.name}(${e.args.map((a) => `${a.keyword ? `${a.keyword.name}=` : ''}${inline(a.value, text)}`).join(', ')})`;
    case 'list':
      return `[${e.items.map((i) => inline(i, text)).join(', ')}]`;
  }
}
