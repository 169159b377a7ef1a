// What is at a cursor position: the token, the enclosing call and argument, whether
// the cursor sits in a string or a comment. Token-based, so it works on half-typed
// lines that do not parse.
import type { Analysis } from '../analysis.ts';
import type { Binding } from '../names.ts';
import { contains, walk, type Call, type Expression, type NameRef, type Span, type Token } from '../syntax-tree.ts';

export interface CallSite {
  readonly callee: string;
  readonly calleeSpan: Span;
  /** Offset just after `(`. */
  readonly argumentsStart: number;
  /** Positional arguments before the cursor's argument. */
  readonly positionalIndex: number;
  /** Set when the cursor is in the value of a keyword argument (`density=|`). */
  readonly keyword?: string;
  /** Keywords already given in this call. */
  readonly givenKeywords: readonly string[];
  /** The cursor is where a new argument can start (so keyword names can be offered). */
  readonly atArgumentStart: boolean;
  /** The cursor is inside a `[...]` list within the argument. */
  readonly inList: boolean;
}

export interface CursorContext {
  readonly offset: number;
  /** The identifier being typed or hovered, if any. */
  readonly word?: Token;
  /** The string literal containing the cursor, if any. */
  readonly string?: Token;
  readonly inComment: boolean;
  readonly call?: CallSite;
}

export function cursorContext(analysis: Analysis, offset: number): CursorContext {
  const tokens = analysis.tree.tokens;
  const inComment = analysis.tree.comments.some((c) => c.start <= offset && offset <= c.end && offset > c.start);
  const index = tokenIndexBefore(tokens, offset);
  const current = index >= 0 ? tokens[index] : undefined;
  const word = current?.type === 'identifier' && current.end >= offset ? current : undefined;
  const string = current?.type === 'string' && current.start < offset && (offset < current.end || !closedString(current.image)) ? current : undefined;
  const call = callSite(tokens, string || word ? index - 1 : index, offset);
  return { offset, ...(word ? { word } : {}), ...(string ? { string } : {}), inComment, ...(call ? { call } : {}) };
}

function closedString(image: string): boolean {
  return image.length >= 2 && image.endsWith('"') && !image.endsWith('\\"');
}

/** Index of the last token starting before `offset` (-1 when none). */
function tokenIndexBefore(tokens: readonly Token[], offset: number): number {
  let low = 0;
  let high = tokens.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (tokens[mid]!.start < offset) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

interface Frame {
  readonly open: Token;
  readonly callee: Token | undefined;
  argumentStart: number;
  positional: number;
  readonly keywords: string[];
}

/** Scans the statement forward to the cursor, keeping a stack of open brackets. */
function callSite(tokens: readonly Token[], last: number, offset: number): CallSite | undefined {
  let start = last;
  while (start >= 0 && tokens[start]!.type !== 'newline') start--;
  const stack: Frame[] = [];
  for (let i = start + 1; i <= last; i++) {
    const t = tokens[i]!;
    if (t.type === 'open') {
      const previous = tokens[i - 1];
      const callee = t.image === '(' && previous?.type === 'identifier' && i - 1 > start ? previous : undefined;
      stack.push({ open: t, callee, argumentStart: i + 1, positional: 0, keywords: [] });
    } else if (t.type === 'close') {
      stack.pop();
    } else if (t.type === 'comma' && stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const keyword = keywordAt(tokens, frame.argumentStart, i);
      if (keyword) frame.keywords.push(keyword);
      else frame.positional++;
      frame.argumentStart = i + 1;
    }
  }
  let callIndex = stack.length - 1;
  while (callIndex >= 0 && !stack[callIndex]!.callee) callIndex--;
  if (callIndex < 0) return undefined;
  const frame = stack[callIndex]!;
  const keyword = keywordAt(tokens, frame.argumentStart, last + 1);
  const inList = stack.slice(callIndex + 1).some((f) => f.open.image === '[');
  const typedBefore = frame.argumentStart <= last;
  return {
    callee: frame.callee!.image,
    calleeSpan: frame.callee!,
    argumentsStart: frame.open.end,
    positionalIndex: frame.positional,
    ...(keyword ? { keyword } : {}),
    givenKeywords: [...frame.keywords, ...keywordsAfter(tokens, last + 1, offset)],
    atArgumentStart: !typedBefore && stack.length - 1 === callIndex,
    inList,
  };
}

/** `name =` at the start of an argument spanning tokens [from, to). */
function keywordAt(tokens: readonly Token[], from: number, to: number): string | undefined {
  const first = tokens[from];
  const second = tokens[from + 1];
  return from + 1 < to && first?.type === 'identifier' && second?.type === 'equals' ? first.image : undefined;
}

/** Keywords given later in the same call (after the cursor), so completion does not offer them again. */
function keywordsAfter(tokens: readonly Token[], from: number, offset: number): string[] {
  const out: string[] = [];
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type === 'newline') break;
    if (t.type === 'open') depth++;
    else if (t.type === 'close') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && t.type === 'equals' && tokens[i - 1]?.type === 'identifier' && tokens[i - 1]!.start >= offset) {
      out.push(tokens[i - 1]!.image);
    }
  }
  return out;
}

/** The name reference or binding definition at an offset. */
export function bindingAt(analysis: Analysis, offset: number): { binding: Binding; span: Span; isDefinition: boolean } | undefined {
  for (const binding of analysis.resolution.bindings) {
    if (contains(binding.statement.target, offset)) return { binding, span: binding.statement.target, isDefinition: true };
  }
  const ref = nameRefAt(analysis, offset);
  if (!ref) return undefined;
  const binding = analysis.resolution.targets.get(ref);
  return binding ? { binding, span: ref, isDefinition: false } : undefined;
}

export function nameRefAt(analysis: Analysis, offset: number): NameRef | undefined {
  let found: NameRef | undefined;
  forEachExpression(analysis, (e) => {
    if (e.kind === 'name' && contains(e, offset)) found = e;
  });
  return found;
}

export function callAt(analysis: Analysis, offset: number): Call | undefined {
  let found: Call | undefined;
  forEachExpression(analysis, (e) => {
    if (e.kind === 'call' && contains(e.callee, offset)) found = e;
  });
  return found;
}

export function forEachExpression(analysis: Analysis, visit: (e: Expression) => void): void {
  for (const s of analysis.tree.statements) walk(s.kind === 'assignment' ? s.value : s.expression, visit);
}
