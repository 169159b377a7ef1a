// Cursor markers in test text: `|` marks a position and is removed from the text.
export interface MarkedText {
  readonly text: string;
  /** Offsets of the markers in the text without them, in order. */
  readonly offsets: readonly number[];
}

export function unmark(source: string, marker = '|'): MarkedText {
  const offsets: number[] = [];
  let text = '';
  let from = 0;
  for (let at = source.indexOf(marker); at >= 0; at = source.indexOf(marker, from)) {
    text += source.slice(from, at);
    offsets.push(text.length);
    from = at + marker.length;
  }
  return { text: text + source.slice(from), offsets };
}

/** Offsets where lines start; as LSP specifies, '\n', '\r\n' and a lone '\r' end a line. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) starts.push(i + 1);
  }
  return starts;
}

/** Zero-based line and UTF-16 character of an offset, as LSP counts. */
export function positionAt(text: string, offset: number): { line: number; character: number } {
  const starts = lineStarts(text);
  let line = 0;
  while (line + 1 < starts.length && starts[line + 1]! <= offset) line++;
  return { line, character: offset - starts[line]! };
}

export function offsetAt(text: string, position: { line: number; character: number }): number {
  const starts = lineStarts(text);
  if (position.line >= starts.length) return text.length;
  const start = starts[position.line]!;
  let end = position.line + 1 < starts.length ? starts[position.line + 1]! : text.length;
  // A character past the end of the line means the end of the line, before its line break.
  while (end > start && (text[end - 1] === '\n' || text[end - 1] === '\r')) end--;
  return Math.min(start + position.character, end);
}

/** Applies non-overlapping LSP text edits to `text`. */
export function applyEdits(text: string, edits: readonly { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string }[]): string {
  const spans = edits
    .map((e) => ({ start: offsetAt(text, e.range.start), end: offsetAt(text, e.range.end), newText: e.newText }))
    .sort((a, b) => b.start - a.start);
  let out = text;
  for (const s of spans) out = out.slice(0, s.start) + s.newText + out.slice(s.end);
  return out;
}
