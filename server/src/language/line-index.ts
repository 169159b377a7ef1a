// Offsets <-> zero-based line/character positions (UTF-16 code units, as LSP counts).
import type { Position, Range } from './program.ts';
import type { Span } from './syntax-tree.ts';

export class LineIndex {
  /** Offset of each line's first character: 4 bytes a line, however many lines a text has. */
  private readonly starts: Uint32Array;
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    let count = 1;
    for (let i = 0; i < text.length; i++) if (endsLine(text, i)) count++;
    this.starts = new Uint32Array(count);
    let line = 1;
    for (let i = 0; i < text.length; i++) if (endsLine(text, i)) this.starts[line++] = i + 1;
  }

  /** Offset just past the line's last character (before its line end). */
  private lineEnd(line: number): number {
    if (line + 1 >= this.starts.length) return this.text.length;
    const next = this.starts[line + 1]!;
    return this.text.charCodeAt(next - 1) === 10 && this.text.charCodeAt(next - 2) === 13 ? next - 2 : next - 1;
  }

  position(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid]! <= clamped) low = mid;
      else high = mid - 1;
    }
    return { line: low, character: clamped - this.starts[low]! };
  }

  offset(position: Position): number {
    if (position.line >= this.starts.length) return this.text.length;
    const start = this.starts[Math.max(0, position.line)]!;
    return Math.min(start + Math.max(0, position.character), this.lineEnd(position.line));
  }

  range(span: Span): Range {
    return { start: this.position(span.start), end: this.position(span.end) };
  }

  get lineCount(): number {
    return this.starts.length;
  }

  lineText(line: number): string {
    const start = this.starts[line] ?? this.text.length;
    return this.text.slice(start, line < this.starts.length ? this.lineEnd(line) : start);
  }
}

/** \n, \r\n and a lone \r end a line (LSP's rule); true at the last character of a line end. */
function endsLine(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10);
}
