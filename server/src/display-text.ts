// Text that came from a file (tensor names, paths, strings in a recipe, names in a results
// file) on its way to a person. In Markdown it stays text: no link, no HTML, no way out of
// a code span or a table cell. In a terminal it cannot move the cursor, recolour the screen
// or fake a line. In a spreadsheet it is never a formula. Pure, so the webview can use it.

// C0 controls, DEL, C1 controls, and the invisible bidirectional marks and overrides that
// reorder what a reader sees ("Trojan Source").
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeControl(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** Control characters and bidirectional marks as visible escapes (`\n`, `\x1b`, `\u202e`); everything else as it is. */
export function visibleControls(text: string): string {
  return text.replace(CONTROLS, escapeControl);
}

/**
 * Inline Markdown code showing `text` verbatim: fenced by one more backquote than the longest
 * run inside (so a backquote cannot close it), padded when it starts or ends with a backquote
 * or a space (CommonMark strips one space each side). In a table cell, `|` is escaped, since
 * GFM splits cells before it reads code spans; outside a table a backslash would show.
 * A table cell whose text has a backslash right before a pipe is shown as escaped plain text.
 */
export function markdownCode(text: string, where: 'inline' | 'table-cell' = 'inline'): string {
  let shown = visibleControls(text);
  if (where === 'table-cell') {
    // A backslash before a pipe would pair with the escape and end the cell: plain text then.
    if (shown.includes('\\|')) return markdownText(text);
    shown = shown.replaceAll('|', '\\|');
  }
  if (shown === '') return '` `';
  const longest = Math.max(0, ...(shown.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(shown) ? ' ' : '';
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/**
 * Plain Markdown text showing `text` verbatim: each character that could start emphasis, a
 * link, an image, HTML, an entity, code, math or a table cell is backslash-escaped (`_` only
 * at a word's edge, where it can emphasise), and so is what makes an autolink (`://`, `www.`, `@`).
 * Characters that matter only at the start of a line (`#`, `-`, `+`) are left: this is inline text.
 */
export function markdownText(text: string): string {
  return visibleControls(text)
    .replace(/[\\`*[\]<>|~&!$@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\$&')
    .replace(/:(?=\/\/)/g, '\\:')
    .replace(/(www)\./gi, '$1\\.');
}

/** A fenced Markdown code block holding `text` (its lines and tabs kept): the fence is longer than any backquote run inside. */
export function markdownFence(text: string, language = ''): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const lines = text.split(/\r?\n/).map((line) => line.split('\t').map(visibleControls).join('\t'));
  return `${fence}${language}\n${lines.join('\n')}\n${fence}`;
}

/**
 * True when a spreadsheet would read the text as a formula or a command: it starts with
 * `= + - @` (also after leading spaces or line breaks, which spreadsheets skip), with their
 * full-width forms, or with a tab, carriage return or line feed.
 */
export function looksLikeFormula(text: string): boolean {
  return /^[\s\u0000-\u001f]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r\n]/.test(text);
}

/** A JSON-like value with `visibleControls` applied to every string in it, object keys included. */
export function withVisibleControls<T>(value: T): T {
  if (typeof value === 'string') return visibleControls(value) as T;
  if (Array.isArray(value)) return value.map(withVisibleControls) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [visibleControls(k), withVisibleControls(v)])) as T;
  }
  return value;
}
