// A strict JSON parser for checkpoint headers and indexes. JSON.parse cannot be used
// for them: it keeps the last of duplicate keys silently, reads `2.0` and `2` as the
// same number (a shape needs integer literals), and a hostile 100 MB header of `[[[[`
// must fail at a small depth limit instead of building a huge tree.

/** A number with its source text, so callers can insist on integer literals. */
export class JsonNumber {
  readonly text: string;
  readonly value: number;
  constructor(text: string) {
    this.text = text;
    this.value = Number(text);
  }
  /** True when the literal is a non-negative integer that a double holds exactly. */
  isSafeNonNegativeInteger(): boolean {
    return /^(0|[1-9][0-9]*)$/.test(this.text) && Number.isSafeInteger(this.value);
  }
}

/** Objects are Maps: keys like `__proto__` stay plain data, and order is kept. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

export type JsonErrorKind = 'syntax' | 'duplicate-key' | 'too-deep';

export class StrictJsonError extends Error {
  readonly kind: JsonErrorKind;
  /** Character offset in the text. */
  readonly offset: number;
  /** For duplicate keys: the key. */
  readonly key?: string;
  constructor(kind: JsonErrorKind, offset: number, message: string, key?: string) {
    super(message);
    this.name = 'StrictJsonError';
    this.kind = kind;
    this.offset = offset;
    if (key !== undefined) this.key = key;
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** A string without escapes or control characters: the common case, matched natively. */
const SIMPLE_STRING = /"[^"\\\x00-\x1f]*"/y;

interface OpenContainer {
  readonly value: JsonValue[] | JsonObject;
  /** For objects: the key whose value is being parsed. */
  key: string | undefined;
}

/** Parses `text` as one JSON value (surrounding whitespace allowed). Throws only StrictJsonError. */
export function parseStrictJson(text: string, maxDepth: number): JsonValue {
  const { value, end } = parseJsonValueAt(text, 0, maxDepth);
  const after = skipJsonSpace(text, end);
  if (after !== text.length) throw new StrictJsonError('syntax', after, `unexpected ${describeAt(text, after)} after the value at offset ${after}`);
  return value;
}

/** Index of the first non-whitespace character at or after `pos`. */
export function skipJsonSpace(text: string, pos: number): number {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
    else return pos;
  }
}

function describeAt(text: string, at: number): string {
  return at >= text.length ? 'end of input' : `'${text[at] === "'" ? "\\'" : JSON.stringify(text[at]!).slice(1, -1)}'`;
}

/** Reads the string token starting at `pos` (a '"'); returns its value and the index after it. */
export function readJsonString(text: string, pos: number): { value: string; end: number } {
  SIMPLE_STRING.lastIndex = pos;
  const simple = SIMPLE_STRING.exec(text);
  if (simple) return { value: simple[0].slice(1, -1), end: pos + simple[0].length };
  const fail = (message: string, at: number): never => {
    throw new StrictJsonError('syntax', at, `${message} at offset ${at}`);
  };
  let at = pos + 1;
  for (;;) {
    if (at >= text.length) fail('unterminated string starting', pos);
    const c = text.charCodeAt(at);
    if (c === 0x22) break;
    if (c < 0x20) fail('control character in string', at);
    if (c === 0x5c) {
      const e = text[at + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail('bad \\u escape', at);
        at += 6;
        continue;
      }
      if (e === undefined || !'"\\/bfnrt'.includes(e)) fail('bad escape', at);
      at += 2;
      continue;
    }
    at++;
  }
  // The escapes were validated above, so JSON.parse decodes exactly this one string.
  return { value: JSON.parse(text.slice(pos, at + 1)) as string, end: at + 1 };
}

/**
 * Parses one JSON value starting at `start` (leading whitespace allowed); returns it
 * and the index just after it. `outerDepth`: containers already open around it, which
 * count toward `maxDepth`. Throws only StrictJsonError.
 */
export function parseJsonValueAt(text: string, start: number, maxDepth: number, outerDepth = 0): { value: JsonValue; end: number } {
  let pos = start;
  const stack: OpenContainer[] = [];

  const fail = (message: string, at = pos): never => {
    throw new StrictJsonError('syntax', at, `${message} at offset ${at}`);
  };
  const describe = (at: number): string => describeAt(text, at);
  const skipSpace = (): void => {
    pos = skipJsonSpace(text, pos);
  };

  const readString = (): string => {
    const { value, end } = readJsonString(text, pos);
    pos = end;
    return value;
  };

  /** Parses a scalar or opens a container; returns the scalar, or undefined after opening. */
  const readValueStart = (): JsonValue | undefined => {
    skipSpace();
    const c = text[pos];
    if (c === '{' || c === '[') {
      if (outerDepth + stack.length >= maxDepth) {
        throw new StrictJsonError('too-deep', pos, `nesting deeper than ${maxDepth} levels at offset ${pos}`);
      }
      pos++;
      stack.push({ value: c === '{' ? new Map() : [], key: undefined });
      return undefined;
    }
    if (c === '"') return readString();
    if (c === 't' && text.startsWith('true', pos)) { pos += 4; return true; }
    if (c === 'f' && text.startsWith('false', pos)) { pos += 5; return false; }
    if (c === 'n' && text.startsWith('null', pos)) { pos += 4; return null; }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (match) {
      pos += match[0].length;
      return new JsonNumber(match[0]);
    }
    return fail(`unexpected ${describe(pos)}`);
  };

  /** After `{` or `,` in an object: reads `"key":` (or sees `}` when allowed). */
  const readKey = (container: OpenContainer, allowClose: boolean): boolean => {
    skipSpace();
    if (allowClose && text[pos] === '}') return false;
    if (text[pos] !== '"') fail(`expected a string key, found ${describe(pos)}`);
    const keyAt = pos;
    const key = readString();
    if ((container.value as JsonObject).has(key)) {
      throw new StrictJsonError('duplicate-key', keyAt, `duplicate key ${JSON.stringify(key)} at offset ${keyAt}`, key);
    }
    skipSpace();
    if (text[pos] !== ':') fail(`expected ':' after key, found ${describe(pos)}`);
    pos++;
    container.key = key;
    return true;
  };

  /** Stores a finished value in the innermost container, or returns it when it is the root. */
  const store = (value: JsonValue): boolean => {
    const top = stack[stack.length - 1];
    if (!top) return true;
    if (Array.isArray(top.value)) top.value.push(value);
    else top.value.set(top.key!, value);
    return false;
  };

  let result: JsonValue | undefined = readValueStart();
  if (result !== undefined) return { value: result, end: pos };
  // `fresh`: the innermost container was just opened, so it may close immediately.
  let fresh = true;
  for (;;) {
    const top = stack[stack.length - 1]!;
    const isArray = Array.isArray(top.value);
    skipSpace();
    if (!fresh) {
      const c = text[pos];
      if (c === ',') {
        pos++;
      } else if (c === (isArray ? ']' : '}')) {
        pos++;
        stack.pop();
        if (store(top.value)) { result = top.value; break; }
        continue;
      } else {
        fail(`expected ',' or '${isArray ? ']' : '}'}', found ${describe(pos)}`);
      }
    }
    if (isArray) {
      skipSpace();
      if (fresh && text[pos] === ']') {
        pos++;
        stack.pop();
        fresh = false;
        if (store(top.value)) { result = top.value; break; }
        continue;
      }
    } else if (!readKey(top, fresh)) {
      pos++; // the '}' of an empty object
      stack.pop();
      fresh = false;
      if (store(top.value)) { result = top.value; break; }
      continue;
    }
    const value = readValueStart();
    if (value === undefined) { fresh = true; continue; }
    fresh = false;
    store(value);
  }
  return { value: result, end: pos };
}

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return value instanceof Map;
}

/** Short rendering of a value for messages: `"abc"`, `2.5`, `an array`, `an object`. */
export function describeJson(value: JsonValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return value.text.length > 40 ? `${value.text.slice(0, 40)}...` : value.text;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}
