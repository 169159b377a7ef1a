// The syntax tree: what the parser returns, with source offsets on every node.
// A node the parser had to invent while recovering has `missing: true`.

export interface Span {
  /** Offset of the first character. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
}

export interface Identifier extends Span {
  readonly kind: 'identifier';
  readonly name: string;
}

export interface NumberLiteral extends Span {
  readonly kind: 'number';
  readonly value: number;
  readonly text: string;
}

export interface StringLiteral extends Span {
  readonly kind: 'string';
  readonly value: string;
  readonly closed: boolean;
}

export interface BoolLiteral extends Span {
  readonly kind: 'bool';
  readonly value: boolean;
}

export interface NameRef extends Span {
  readonly kind: 'name';
  readonly name: string;
}

export type BinaryOperator = '+' | '-' | '*' | '/';

export interface Binary extends Span {
  readonly kind: 'binary';
  readonly operator: BinaryOperator;
  readonly operatorSpan: Span;
  readonly left: Expression;
  readonly right: Expression;
}

export interface Unary extends Span {
  readonly kind: 'unary';
  readonly operator: '-' | '+';
  readonly operand: Expression;
}

export interface Paren extends Span {
  readonly kind: 'paren';
  readonly inner: Expression;
}

export interface Argument extends Span {
  /** Set for keyword arguments (`density=0.2`). */
  readonly keyword?: Identifier;
  readonly value: Expression;
}

export interface Call extends Span {
  readonly kind: 'call';
  readonly callee: Identifier;
  readonly args: readonly Argument[];
  /** Offset of `(`; `end` is past `)` or, when it is missing, past the last argument. */
  readonly open: number;
  readonly closed: boolean;
}

export interface List extends Span {
  readonly kind: 'list';
  readonly items: readonly Expression[];
}

/** Stands in for an expression the parser expected but did not find. */
export interface Missing extends Span {
  readonly kind: 'missing';
}

export type Expression = NumberLiteral | StringLiteral | BoolLiteral | NameRef | Binary | Unary | Paren | Call | List | Missing;

export interface Assignment extends Span {
  readonly kind: 'assignment';
  readonly target: Identifier;
  readonly value: Expression;
}

export interface ExpressionStatement extends Span {
  readonly kind: 'expression';
  readonly expression: Expression;
}

export type Statement = Assignment | ExpressionStatement;

export interface SyntaxError extends Span {
  readonly message: string;
}

export interface Comment extends Span {
  readonly text: string;
}

/** A significant token (comments excluded), for completion and semantic colouring. */
export interface Token extends Span {
  readonly type: 'identifier' | 'number' | 'string' | 'true' | 'false' | 'operator' | 'open' | 'close' | 'comma' | 'equals' | 'newline';
  readonly image: string;
}

export interface SyntaxTree {
  readonly tokens: readonly Token[];
  readonly statements: readonly Statement[];
  readonly comments: readonly Comment[];
  readonly errors: readonly SyntaxError[];
}

/** Children of an expression, for generic walks. */
export function children(e: Expression): Expression[] {
  switch (e.kind) {
    case 'binary': return [e.left, e.right];
    case 'unary': return [e.operand];
    case 'paren': return [e.inner];
    case 'call': return e.args.map((a) => a.value);
    case 'list': return [...e.items];
    default: return [];
  }
}

/** Visits `e` and every expression below it, parents first (no allocation: this runs on every keystroke). */
export function walk(e: Expression, visit: (e: Expression) => void): void {
  visit(e);
  switch (e.kind) {
    case 'binary':
      walk(e.left, visit);
      walk(e.right, visit);
      break;
    case 'unary':
      walk(e.operand, visit);
      break;
    case 'paren':
      walk(e.inner, visit);
      break;
    case 'call':
      for (const a of e.args) walk(a.value, visit);
      break;
    case 'list':
      for (const item of e.items) walk(item, visit);
      break;
    default:
  }
}

export function contains(span: Span, offset: number): boolean {
  return span.start <= offset && offset <= span.end;
}
