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
  expression: 'an expression',
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
          this.SUBRULE(this.expression);
        },
      },
      { ALT: () => this.SUBRULE2(this.expression) },
    ]);
  });

  expression = this.RULE('expression', () => {
    this.SUBRULE(this.additive);
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
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
      { ALT: () => this.SUBRULE(this.paren) },
      { ALT: () => this.SUBRULE(this.list) },
    ]);
  });

  nameOrCall = this.RULE('nameOrCall', () => {
    this.CONSUME(Identifier);
    this.OPTION(() => {
      this.CONSUME(LParen);
      this.OPTION2(() => {
        this.SUBRULE(this.argument);
        this.MANY(() => {
          this.CONSUME(Comma);
          this.OPTION3(() => this.SUBRULE2(this.argument));
        });
      });
      this.CONSUME(RParen);
    });
  });

  argument = this.RULE('argument', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === Equals,
      DEF: () => {
        this.CONSUME(Identifier, { LABEL: 'keyword' });
        this.CONSUME(Equals);
      },
    });
    this.SUBRULE(this.expression);
  });

  paren = this.RULE('paren', () => {
    this.CONSUME(LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(RParen);
  });

  list = this.RULE('list', () => {
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.OPTION2(() => this.SUBRULE2(this.expression));
      });
    });
    this.CONSUME(RBracket);
  });
}

const cstParser = new TvrCstParser();

export function parse(text: string): SyntaxTree {
  const lexed = tokenize(text);
  const errors: SyntaxError[] = lexed.errors.map((e) => ({ start: e.offset, end: e.offset + e.length, message: e.message }));
  for (const bracket of lexed.unclosed) {
    const closer = bracket.tokenType === LParen ? ')' : ']';
    errors.push({ start: bracket.startOffset, end: bracket.startOffset + 1, message: `'${bracket.image}' is never closed: add '${closer}'` });
  }
  const statements: Statement[] = [];
  for (const line of splitStatements(lexed.tokens)) {
    const tooBig = sizeProblem(line);
    if (tooBig) {
      errors.push(tooBig);
      continue;
    }
    cstParser.input = line;
    const cst = cstParser.statement();
    const lineErrors = cstParser.errors.map((e) => errorSpan(e.token, line, e.message));
    // An unclosed bracket is already reported once at the bracket; skip the parser's echo of it.
    const unclosedHere = lexed.unclosed.some((b) => line.includes(b));
    for (const e of lineErrors) if (!(unclosedHere && /expected '[)\]]'/.test(e.message))) errors.push(e);
    if (cst) statements.push(toStatement(cst, line));
  }
  errors.sort((a, b) => a.start - b.start);
  const comments = lexed.comments.map((c) => ({ start: c.startOffset, end: c.endOffset! + 1, text: c.image }));
  return { tokens: lexed.tokens.map(toToken), statements, comments, errors };
}

const tokenKinds = new Map<TokenType, Token['type']>([
  [Identifier, 'identifier'], [NumberLiteral, 'number'], [StringLiteral, 'string'], [True, 'true'], [False, 'false'],
  [Plus, 'operator'], [Minus, 'operator'], [Star, 'operator'], [Slash, 'operator'], [LParen, 'open'], [LBracket, 'open'],
  [RParen, 'close'], [RBracket, 'close'], [Comma, 'comma'], [Equals, 'equals'], [Newline, 'newline'],
]);

function toToken(t: IToken): Token {
  return { type: tokenKinds.get(t.tokenType)!, image: t.image, start: t.startOffset, end: t.endOffset! + 1 };
}

// Bounds that keep every later stage (recursive by nature) far from the stack limit;
// real recipes stay well below them.
const maxNesting = 100;
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
function first(cst: CstNode, key: string): CstNode | undefined {
  return nodes(cst, key)[0];
}

/** From an opening bracket token to its closing token, or to the last thing inside when it is missing. */
function bracketSpan(cst: CstNode, open: string, close: string, inner: readonly Expression[], fallback: number): { start: number; end: number } {
  const openToken = tokensOf(cst, open)[0];
  const closeToken = tokensOf(cst, close)[0];
  const start = openToken?.startOffset ?? inner[0]?.start ?? fallback;
  const end = closeToken ? closeToken.endOffset! + 1 : Math.max(openToken ? openToken.endOffset! + 1 : start, ...inner.map((e) => e.end));
  return { start, end };
}

function toStatement(cst: CstNode, line: IToken[]): Statement {
  const lineStart = line[0]!.startOffset;
  const lineEnd = line[line.length - 1]!.endOffset! + 1;
  const target = tokensOf(cst, 'target')[0];
  const expressionCst = first(cst, 'expression');
  if (target) {
    const equals = tokensOf(cst, 'Equals')[0];
    const after = equals ? equals.endOffset! + 1 : target.endOffset! + 1;
    const value = expressionCst ? toExpression(expressionCst, after) : missing(after);
    return { kind: 'assignment', start: lineStart, end: Math.max(lineEnd, value.end), target: identifier(target), value };
  }
  const expression = expressionCst ? toExpression(expressionCst, lineStart) : missing(lineStart);
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
    case 'expression': {
      const inner = first(cst, 'additive');
      return inner ? toExpression(inner, fallback) : missing(fallback);
    }
    case 'additive':
    case 'multiplicative':
      return binaryChain(cst, fallback);
    case 'unary': {
      const sign = tokensOf(cst, 'sign')[0];
      if (sign) {
        const operandCst = first(cst, 'unary');
        const operand = operandCst ? toExpression(operandCst, sign.endOffset! + 1) : missing(sign.endOffset! + 1);
        return { kind: 'unary', operator: sign.image as '-' | '+', operand, start: sign.startOffset, end: Math.max(operand.end, sign.endOffset! + 1) };
      }
      const primary = first(cst, 'primary');
      return primary ? toExpression(primary, fallback) : missing(fallback);
    }
    case 'primary':
      return toPrimary(cst, fallback);
    case 'nameOrCall':
      return toNameOrCall(cst, fallback);
    case 'paren': {
      const open = tokensOf(cst, 'LParen')[0];
      const after = open ? open.endOffset! + 1 : fallback;
      const innerCst = first(cst, 'expression');
      const inner = innerCst ? toExpression(innerCst, after) : missing(after);
      return { kind: 'paren', inner, ...bracketSpan(cst, 'LParen', 'RParen', [inner], fallback) };
    }
    case 'list': {
      const open = tokensOf(cst, 'LBracket')[0];
      const after = open ? open.endOffset! + 1 : fallback;
      const items = nodes(cst, 'expression').map((e) => toExpression(e, after));
      return { kind: 'list', items, ...bracketSpan(cst, 'LBracket', 'RBracket', items, fallback) };
    }
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

function toPrimary(cst: CstNode, fallback: number): Expression {
  const number = tokensOf(cst, 'NumberLiteral')[0];
  if (number) return { kind: 'number', value: Number(number.image), text: number.image, start: number.startOffset, end: number.endOffset! + 1 };
  const string = tokensOf(cst, 'StringLiteral')[0];
  if (string) {
    return { kind: 'string', value: stringValue(string.image), closed: isClosedString(string.image), start: string.startOffset, end: string.endOffset! + 1 };
  }
  const bool = tokensOf(cst, 'True')[0] ?? tokensOf(cst, 'False')[0];
  if (bool) return { kind: 'bool', value: bool.image === 'true', start: bool.startOffset, end: bool.endOffset! + 1 };
  for (const key of ['nameOrCall', 'paren', 'list']) {
    const child = first(cst, key);
    if (child) return toExpression(child, fallback);
  }
  return missing(fallback);
}

function toNameOrCall(cst: CstNode, fallback: number): Expression {
  const name = tokensOf(cst, 'Identifier')[0];
  if (!name) return missing(fallback);
  const open = tokensOf(cst, 'LParen')[0];
  if (!open) return { kind: 'name', name: name.image, start: name.startOffset, end: name.endOffset! + 1 };
  const close = tokensOf(cst, 'RParen')[0];
  const args: Argument[] = nodes(cst, 'argument').map((a) => toArgument(a, open.endOffset! + 1));
  const lastEnd = Math.max(open.endOffset! + 1, ...args.map((a) => a.end), ...tokensOf(cst, 'Comma').map((c) => c.endOffset! + 1));
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
  const keywordToken = tokensOf(cst, 'keyword')[0];
  const equals = tokensOf(cst, 'Equals')[0];
  const valueCst = first(cst, 'expression');
  const valueStart = equals ? equals.endOffset! + 1 : fallback;
  const value = valueCst ? toExpression(valueCst, valueStart) : missing(valueStart);
  const start = keywordToken ? keywordToken.startOffset : value.start;
  const end = Math.max(value.end, equals ? equals.endOffset! + 1 : value.end);
  return keywordToken ? { keyword: identifier(keywordToken), value, start, end } : { value, start, end };
}
