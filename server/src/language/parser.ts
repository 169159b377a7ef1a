// Tokens -> syntax tree. Each statement (one logical line) is parsed on its own with
// Chevrotain's error recovery, so a broken line never hides the rest of the file;
// the parser never throws and always returns a tree plus errors.
import {
  CstParser, EOF, tokenLabel, type CstNode, type IParserErrorMessageProvider, type IToken, type TokenType,
} from 'chevrotain';
import {
  allTokens, Comma, Equals, False, Identifier, LBracket, LParen, Minus, Newline, NumberLiteral, Plus, RBracket,
  RParen, Slash, Star, StringLiteral, True, isClosedString, stringValue, tokenize,
} from './tokens.ts';
import type {
  Argument, BinaryOperator, Expression, Identifier as IdentifierNode, Missing, Statement, SyntaxError, SyntaxTree, Token,
} from './syntax-tree.ts';

const labels = new Map<TokenType, string>([
  [Identifier, 'a name'], [NumberLiteral, 'a number'], [StringLiteral, 'a string'], [Equals, "'='"], [Plus, "'+'"],
  [Minus, "'-'"], [Star, "'*'"], [Slash, "'/'"], [LParen, "'('"], [RParen, "')'"], [LBracket, "'['"],
  [RBracket, "']'"], [Comma, "','"], [True, "'true'"], [False, "'false'"], [EOF, 'the end of the line'],
]);

function describe(token: IToken | undefined): string {
  if (token === undefined || token.tokenType === EOF) return 'the end of the line';
  return `'${token.image}'`;
}

const ruleWhat: Record<string, string> = {
  statement: 'a statement',
  additive: 'an expression',
  multiplicative: 'an expression',
  unary: 'an expression',
  primary: 'a value (a name, a number, a string, a call or a list)',
  argument: 'an argument',
};

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) =>
    `expected ${labels.get(expected) ?? tokenLabel(expected)} but found ${describe(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) =>
    `unexpected ${describe(firstRedundant)}: put each statement on its own line, or join values with an operator`,
  buildNoViableAltMessage: ({ actual, ruleName }) =>
    `expected ${ruleWhat[ruleName] ?? 'an expression'} but found ${describe(actual[0])}`,
  buildEarlyExitMessage: ({ actual, ruleName }) =>
    `expected ${ruleWhat[ruleName] ?? 'an expression'} but found ${describe(actual[0])}`,
};

// Few rule levels on purpose: each rule invocation costs, and recipes are parsed on
// every keystroke. Calls, names, parentheses and lists are alternatives of `primary`.
class TvrCstParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 2, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  statement = this.RULE('statement', () => {
    this.OR([
      {
        GATE: () => this.LA(2).tokenType === Equals,
        ALT: () => {
          this.CONSUME(Identifier, { LABEL: 'target' });
          this.CONSUME(Equals);
          this.SUBRULE(this.additive, { LABEL: 'value' });
        },
      },
      { ALT: () => this.SUBRULE2(this.additive, { LABEL: 'value' }) },
    ]);
  });

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Plus, { LABEL: 'operators' }) }, { ALT: () => this.CONSUME(Minus, { LABEL: 'operators' }) }]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Star, { LABEL: 'operators' }) }, { ALT: () => this.CONSUME(Slash, { LABEL: 'operators' }) }]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(Minus, { LABEL: 'sign' }) }, { ALT: () => this.CONSUME(Plus, { LABEL: 'sign' }) }]);
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.primary, { LABEL: 'operand' }) },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      {
        ALT: () => {
          this.CONSUME(Identifier, { LABEL: 'name' });
          this.OPTION(() => {
            this.CONSUME(LParen, { LABEL: 'callOpen' });
            this.OPTION2(() => {
              this.SUBRULE(this.argument, { LABEL: 'arguments' });
              this.MANY(() => {
                this.CONSUME(Comma, { LABEL: 'commas' });
                this.OPTION3(() => this.SUBRULE2(this.argument, { LABEL: 'arguments' }));
              });
            });
            this.CONSUME(RParen, { LABEL: 'callClose' });
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(LParen, { LABEL: 'parenOpen' });
          this.SUBRULE(this.additive, { LABEL: 'inner' });
          this.CONSUME2(RParen, { LABEL: 'parenClose' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(LBracket, { LABEL: 'listOpen' });
          this.OPTION4(() => {
            this.SUBRULE2(this.additive, { LABEL: 'items' });
            this.MANY2(() => {
              this.CONSUME2(Comma);
              this.OPTION5(() => this.SUBRULE3(this.additive, { LABEL: 'items' }));
            });
          });
          this.CONSUME(RBracket, { LABEL: 'listClose' });
        },
      },
    ]);
  });

  argument = this.RULE('argument', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === Equals,
      DEF: () => {
        this.CONSUME(Identifier, { LABEL: 'keyword' });
        this.CONSUME(Equals);
      },
    });
    this.SUBRULE(this.additive, { LABEL: 'value' });
  });
}

const cstParser = new TvrCstParser();

/** A parsed statement and its syntax errors, reusable while its text and offset are unchanged. */
interface ParsedStatement {
  readonly statement: Statement | undefined;
  readonly errors: readonly SyntaxError[];
}

// Statements parse independently, so a re-parse after an edit reuses every statement
// whose text and position did not change (everything before the edit, typically).
// Nodes carry absolute offsets, hence the offset in the key. Only the latest parse's
// statements are kept: memory stays bounded by one file, and old trees do not linger.
let statementCache = new Map<string, ParsedStatement>();

export function parse(text: string): SyntaxTree {
  const lexed = tokenize(text);
  const errors: SyntaxError[] = lexed.errors.map((e) => ({ start: e.offset, end: e.offset + e.length, message: e.message }));
  for (const bracket of lexed.unclosed) {
    const closer = bracket.tokenType === LParen ? ')' : ']';
    errors.push({ start: bracket.startOffset, end: bracket.startOffset + 1, message: `'${bracket.image}' is never closed: add '${closer}'` });
  }
  const previous = statementCache;
  statementCache = new Map();
  const statements: Statement[] = [];
  for (const line of splitStatements(lexed.tokens)) {
    const start = line[0]!.startOffset;
    const end = line[line.length - 1]!.endOffset! + 1;
    const unclosedHere = lexed.unclosed.some((b) => b.startOffset >= start && b.startOffset < end);
    const key = `${start}${unclosedHere ? '!' : ':'}${text.slice(start, end)}`;
    const parsed = previous.get(key) ?? parseStatement(line, unclosedHere);
    statementCache.set(key, parsed);
    if (parsed.statement) statements.push(parsed.statement);
    for (const e of parsed.errors) errors.push(e);
  }
  errors.sort((a, b) => a.start - b.start);
  const comments = lexed.comments.map((c) => ({ start: c.startOffset, end: c.endOffset! + 1, text: c.image }));
  // Tokens are only needed by IDE queries: converted on first use.
  let tokens: Token[] | undefined;
  return {
    get tokens(): Token[] {
      tokens ??= lexed.tokens.map(toToken);
      return tokens;
    },
    statements,
    comments,
    errors,
  };
}

const tokenKinds = new Map<TokenType, Token['type']>([
  [Identifier, 'identifier'], [NumberLiteral, 'number'], [StringLiteral, 'string'], [True, 'true'], [False, 'false'],
  [Plus, 'operator'], [Minus, 'operator'], [Star, 'operator'], [Slash, 'operator'], [LParen, 'open'], [LBracket, 'open'],
  [RParen, 'close'], [RBracket, 'close'], [Comma, 'comma'], [Equals, 'equals'], [Newline, 'newline'],
]);

function toToken(t: IToken): Token {
  return { type: tokenKinds.get(t.tokenType)!, image: t.image, start: t.startOffset, end: t.endOffset! + 1 };
}

function parseStatement(line: IToken[], unclosedHere: boolean): ParsedStatement {
  const tooBig = sizeProblem(line);
  if (tooBig) return { statement: undefined, errors: [tooBig] };
  cstParser.input = line;
  let cst: CstNode;
  try {
    cst = cstParser.statement();
  } catch (error) {
    // Chevrotain's recovery recurses; whatever it cannot handle costs this statement, not the file.
    return { statement: undefined, errors: [{ start: line[0]!.startOffset, end: line[line.length - 1]!.endOffset! + 1, message: `cannot parse this statement (${(error as Error).message})` }] };
  }
  const errors: SyntaxError[] = [];
  for (const e of cstParser.errors) {
    // An unclosed bracket is already reported once at the bracket; skip the parser's echo of it.
    if (!(unclosedHere && /expected '[)\]]'/.test(e.message))) errors.push(errorSpan(e.token, line, e.message));
  }
  return { statement: cst ? toStatement(cst, line) : undefined, errors };
}

// Bounds that keep every later stage (recursive by nature) far from the stack limit;
// real recipes stay well below them.
const maxNesting = 64;
const maxTokensPerStatement = 2000;

function sizeProblem(line: IToken[]): SyntaxError | undefined {
  const first = line[0]!;
  const last = line[line.length - 1]!;
  if (line.length > maxTokensPerStatement) {
    return { start: first.startOffset, end: last.endOffset! + 1, message: `this statement has ${line.length} tokens; split it into several bindings (at most ${maxTokensPerStatement})` };
  }
  let depth = 0;
  for (const t of line) {
    if (t.tokenType === LParen || t.tokenType === LBracket) depth++;
    else if (t.tokenType === RParen || t.tokenType === RBracket) depth--;
    if (depth > maxNesting) return { start: t.startOffset, end: t.endOffset! + 1, message: `brackets nested more than ${maxNesting} deep; name the inner parts instead` };
  }
  return undefined;
}

function splitStatements(tokens: IToken[]): IToken[][] {
  const lines: IToken[][] = [];
  let current: IToken[] = [];
  for (const token of tokens) {
    if (token.tokenType === Newline) {
      if (current.length > 0) lines.push(current);
      current = [];
    } else {
      current.push(token);
    }
  }
  if (current.length > 0) lines.push(current);
  return lines;
}

function errorSpan(token: IToken, line: IToken[], message: string): SyntaxError {
  if (token.tokenType === EOF || Number.isNaN(token.startOffset)) {
    const last = line[line.length - 1]!;
    return { start: last.endOffset! + 1, end: last.endOffset! + 1, message };
  }
  return { start: token.startOffset, end: token.endOffset! + 1, message };
}

// ---- CST -> syntax tree -------------------------------------------------------------

function nodes(cst: CstNode, key: string): CstNode[] {
  return (cst.children[key] ?? []) as CstNode[];
}
function tokensOf(cst: CstNode, key: string): IToken[] {
  return ((cst.children[key] ?? []) as IToken[]).filter((t) => !t.isInsertedInRecovery);
}

/** The first real (not recovery-inserted) token under `key`, without allocating. */
function tokenOf(cst: CstNode, key: string): IToken | undefined {
  const list = cst.children[key] as IToken[] | undefined;
  if (!list) return undefined;
  for (const t of list) if (!t.isInsertedInRecovery) return t;
  return undefined;
}
function first(cst: CstNode, key: string): CstNode | undefined {
  return nodes(cst, key)[0];
}

function toStatement(cst: CstNode, line: IToken[]): Statement {
  const lineStart = line[0]!.startOffset;
  const lineEnd = line[line.length - 1]!.endOffset! + 1;
  const target = tokenOf(cst, 'target');
  const valueCst = first(cst, 'value');
  if (target) {
    const equals = tokenOf(cst, 'Equals');
    const after = equals ? equals.endOffset! + 1 : target.endOffset! + 1;
    const value = valueCst ? toExpression(valueCst, after) : missing(after);
    return { kind: 'assignment', start: lineStart, end: Math.max(lineEnd, value.end), target: identifier(target), value };
  }
  const expression = valueCst ? toExpression(valueCst, lineStart) : missing(lineStart);
  return { kind: 'expression', start: lineStart, end: lineEnd, expression };
}

function identifier(token: IToken): IdentifierNode {
  return { kind: 'identifier', name: token.image, start: token.startOffset, end: token.endOffset! + 1 };
}

function missing(at: number): Missing {
  return { kind: 'missing', start: at, end: at };
}

function toExpression(cst: CstNode, fallback: number): Expression {
  switch (cst.name) {
    case 'additive':
    case 'multiplicative':
      return binaryChain(cst, fallback);
    case 'unary': {
      const sign = tokenOf(cst, 'sign');
      const operandCst = first(cst, 'operand');
      if (sign) {
        const after = sign.endOffset! + 1;
        const operand = operandCst ? toExpression(operandCst, after) : missing(after);
        return { kind: 'unary', operator: sign.image as '-' | '+', operand, start: sign.startOffset, end: Math.max(operand.end, after) };
      }
      return operandCst ? toExpression(operandCst, fallback) : missing(fallback);
    }
    case 'primary':
      return toPrimary(cst, fallback);
    default:
      return missing(fallback);
  }
}

function binaryChain(cst: CstNode, fallback: number): Expression {
  const operands = nodes(cst, 'operands');
  const operators = (cst.children['operators'] ?? []) as IToken[];
  let left: Expression = operands[0] ? toExpression(operands[0], fallback) : missing(fallback);
  for (let i = 0; i < operators.length; i++) {
    const op = operators[i]!;
    const operandCst = operands[i + 1];
    const after = op.endOffset! + 1;
    const right = operandCst ? toExpression(operandCst, after) : missing(after);
    left = {
      kind: 'binary',
      operator: op.image as BinaryOperator,
      operatorSpan: { start: op.startOffset, end: after },
      left,
      right,
      start: left.start,
      end: Math.max(right.end, after),
    };
  }
  return left;
}

/** From an opening bracket token to its closing token, or to the last thing inside when it is missing. */
function bracketSpan(open: IToken | undefined, close: IToken | undefined, inner: readonly Expression[], fallback: number): { start: number; end: number } {
  const start = open?.startOffset ?? inner[0]?.start ?? fallback;
  const end = close ? close.endOffset! + 1 : Math.max(open ? open.endOffset! + 1 : start, ...inner.map((e) => e.end));
  return { start, end };
}

function toPrimary(cst: CstNode, fallback: number): Expression {
  const c = cst.children;
  if (c['NumberLiteral']) {
    const t = c['NumberLiteral'][0] as IToken;
    if (!t.isInsertedInRecovery) return { kind: 'number', value: Number(t.image), text: t.image, start: t.startOffset, end: t.endOffset! + 1 };
  }
  if (c['StringLiteral']) {
    const t = c['StringLiteral'][0] as IToken;
    if (!t.isInsertedInRecovery) return { kind: 'string', value: stringValue(t.image), closed: isClosedString(t.image), start: t.startOffset, end: t.endOffset! + 1 };
  }
  const bool = tokenOf(cst, 'True') ?? tokenOf(cst, 'False');
  if (bool) return { kind: 'bool', value: bool.image === 'true', start: bool.startOffset, end: bool.endOffset! + 1 };
  const name = tokenOf(cst, 'name');
  if (name) return toNameOrCall(cst, name);
  const parenOpen = tokenOf(cst, 'parenOpen');
  if (parenOpen || c['inner']) {
    const after = parenOpen ? parenOpen.endOffset! + 1 : fallback;
    const innerCst = first(cst, 'inner');
    const inner = innerCst ? toExpression(innerCst, after) : missing(after);
    return { kind: 'paren', inner, ...bracketSpan(parenOpen, tokenOf(cst, 'parenClose'), [inner], fallback) };
  }
  const listOpen = tokenOf(cst, 'listOpen');
  if (listOpen || c['items']) {
    const after = listOpen ? listOpen.endOffset! + 1 : fallback;
    const items = nodes(cst, 'items').map((e) => toExpression(e, after));
    return { kind: 'list', items, ...bracketSpan(listOpen, tokenOf(cst, 'listClose'), items, fallback) };
  }
  return missing(fallback);
}

function toNameOrCall(cst: CstNode, name: IToken): Expression {
  const open = tokenOf(cst, 'callOpen');
  if (!open) return { kind: 'name', name: name.image, start: name.startOffset, end: name.endOffset! + 1 };
  const close = tokenOf(cst, 'callClose');
  const args: Argument[] = nodes(cst, 'arguments').map((a) => toArgument(a, open.endOffset! + 1));
  const lastEnd = Math.max(open.endOffset! + 1, ...args.map((a) => a.end), ...tokensOf(cst, 'commas').map((c) => c.endOffset! + 1));
  return {
    kind: 'call',
    callee: identifier(name),
    args,
    open: open.startOffset,
    closed: close !== undefined,
    start: name.startOffset,
    end: close ? close.endOffset! + 1 : lastEnd,
  };
}

function toArgument(cst: CstNode, fallback: number): Argument {
  const keywordToken = tokenOf(cst, 'keyword');
  const equals = tokenOf(cst, 'Equals');
  const valueCst = first(cst, 'value');
  const valueStart = equals ? equals.endOffset! + 1 : fallback;
  const value = valueCst ? toExpression(valueCst, valueStart) : missing(valueStart);
  const start = keywordToken ? keywordToken.startOffset : value.start;
  const end = Math.max(value.end, equals ? equals.endOffset! + 1 : value.end);
  return keywordToken ? { keyword: identifier(keywordToken), value, start, end } : { value, start, end };
}
