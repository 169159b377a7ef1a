// How hover, completion and signature documentation is written: Markdown for clients that
// render it, plain text for those that ask for it (Emacs' eglot without markdown-mode shows
// Markdown syntax literally). The describing code says what each piece is (a name, a path
// from a file, a table); the markup decides how it looks.
import { markdownCode, markdownFence, markdownText, visibleControls } from '../../display-text.ts';

export interface Markup {
  readonly kind: 'markdown' | 'plaintext';
  /** A name or label to stand out (our own text). */
  strong(text: string): string;
  /** Text from a file or the recipe shown verbatim, as code (a path, a tensor name); `table-cell` inside `table`. */
  code(text: string, where?: 'inline' | 'table-cell'): string;
  /** Text from a file or the recipe inside a sentence. */
  text(text: string): string;
  /** A block of recipe source. */
  block(source: string, language: string): string;
  /** Lines of one paragraph, each on its own line. */
  lines(lines: readonly string[]): string;
  /** A table; each cell is already written with this markup. */
  table(header: readonly string[], rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[]): string;
  /** Our own documentation text (built-in and parameter docs), which marks code with backquotes. */
  doc(text: string): string;
}

export const markdown: Markup = {
  kind: 'markdown',
  strong: (text) => `**${text}**`,
  code: (text, where) => markdownCode(text, where),
  text: (text) => markdownText(text),
  block: (source, language) => markdownFence(source, language),
  lines: (lines) => lines.join('  \n'),
  table: (header, rows, align) => [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'right' ? '---:' : '---')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n'),
  doc: (text) => text,
};

export const plainText: Markup = {
  kind: 'plaintext',
  strong: (text) => text,
  // Control characters stay escaped: a name from a file must not fake a line of the hover.
  code: (text) => visibleControls(text),
  text: (text) => visibleControls(text),
  block: (source) => source.split(/\r?\n/).map((line) => `    ${line.split('\t').map(visibleControls).join('\t')}`).join('\n'),
  lines: (lines) => lines.join('\n'),
  table: (header, rows, align) => {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: readonly string[]) => cells.map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
    return [line(header), ...rows.map(line)].join('\n');
  },
  doc: (text) => text.replace(/`([^`]+)`/g, '$1'),
};
