// Text -> tokens. Statements end at a newline, except inside brackets; a line that
// starts at column 0 with `name =` or `name(` after an unclosed bracket starts a new
// statement anyway, so one missing `)` cannot swallow the rest of the file.
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';

// A byte order mark is whitespace, so a file saved with one checks like any other.
export const Whitespace = createToken({ name: 'Whitespace', pattern: /[ \t\f\uFEFF]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: 'comments' });
// \r\n, \n and a lone \r all end a line, as LSP counts lines.
export const Newline = createToken({ name: 'Newline', pattern: /\r\n?|\n/, line_breaks: true });
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
export const True = createToken({ name: 'True', pattern: /true/, longer_alt: Identifier });
export const False = createToken({ name: 'False', pattern: /false/, longer_alt: Identifier });
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
});
// An unterminated string stops at the end of its line, so the next line still parses.
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\r\n]|\\.)*"?/ });
export const Equals = createToken({ name: 'Equals', pattern: /=/ });
export const Plus = createToken({ name: 'Plus', pattern: /\+/ });
export const Minus = createToken({ name: 'Minus', pattern: /-/ });
export const Star = createToken({ name: 'Star', pattern: /\*/ });
export const Slash = createToken({ name: 'Slash', pattern: /\// });
export const LParen = createToken({ name: 'LParen', pattern: /\(/ });
export const RParen = createToken({ name: 'RParen', pattern: /\)/ });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/ });
export const RBracket = createToken({ name: 'RBracket', pattern: /]/ });
export const Comma = createToken({ name: 'Comma', pattern: /,/ });

export const allTokens: TokenType[] = [
  Whitespace, Comment, Newline, NumberLiteral, StringLiteral, True, False, Identifier,
  Equals, Plus, Minus, Star, Slash, LParen, RParen, LBracket, RBracket, Comma,
];

const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: true });

export interface LexError {
  readonly offset: number;
  readonly length: number;
  readonly message: string;
}

export interface TokenizedText {
  /** Significant tokens, with statement-ending newlines only (see module comment). */
  readonly tokens: IToken[];
  readonly comments: IToken[];
  readonly errors: LexError[];
  /** Brackets left open where a statement was cut off, for diagnostics. */
  readonly unclosed: IToken[];
}

export function tokenize(text: string): TokenizedText {
  const result = lexer.tokenize(text);
  const errors: LexError[] = result.errors.map((e) => ({
    offset: e.offset,
    length: e.length,
    message: `unexpected character ${JSON.stringify(text.substr(e.offset, e.length))}`,
  }));
  for (const token of result.tokens) {
    if (token.tokenType === StringLiteral && !isClosedString(token.image)) {
      errors.push({ offset: token.startOffset, length: token.image.length, message: 'unterminated string: add a closing "' });
    }
  }
  const { tokens, unclosed } = statementNewlines(result.tokens);
  return { tokens, comments: result.groups['comments'] ?? [], errors, unclosed };
}

export function isClosedString(image: string): boolean {
  if (image.length < 2 || !image.endsWith('"')) return false;
  let backslashes = 0;
  for (let i = image.length - 2; i > 0 && image[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** Drops newlines inside brackets and duplicate newlines; cuts off unclosed brackets at a new statement. */
function statementNewlines(raw: IToken[]): { tokens: IToken[]; unclosed: IToken[] } {
  const tokens: IToken[] = [];
  const unclosed: IToken[] = [];
  let open: IToken[] = [];
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i]!;
    const type = token.tokenType;
    if (type === Newline) {
      if (open.length > 0 && !startsStatement(raw, i + 1)) continue;
      if (open.length > 0) {
        unclosed.push(open[0]!);
        open = [];
      }
      if (tokens.length > 0 && tokens[tokens.length - 1]!.tokenType !== Newline) tokens.push(token);
      continue;
    }
    if (type === LParen || type === LBracket) open.push(token);
    else if ((type === RParen || type === RBracket) && open.length > 0) open.pop();
    tokens.push(token);
  }
  if (open.length > 0) unclosed.push(open[0]!);
  return { tokens, unclosed };
}

function startsStatement(raw: IToken[], i: number): boolean {
  const first = raw[i];
  const second = raw[i + 1];
  return first !== undefined && first.startColumn === 1 && first.tokenType === Identifier &&
    second !== undefined && second.startLine === first.startLine && (second.tokenType === Equals || second.tokenType === LParen);
}

/** The string value of a string token (escapes resolved); tolerant of a missing closing quote. */
export function stringValue(image: string): string {
  const body = isClosedString(image) ? image.slice(1, -1) : image.slice(1);
  return body.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}
