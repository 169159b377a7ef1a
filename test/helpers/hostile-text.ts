// Names a hostile file may hold (tensor names, paths, task and model names in a results
// file), and Markdown rendered the way VS Code renders hovers (marked, GFM), so tests
// assert what a person would see: no link, no image, no HTML, no extra table cell.
import { marked } from 'marked';

export const HOSTILE_NAMES: readonly string[] = [
  'w`](http://evil.example)`x',
  '[click](http://evil.example)',
  '![img](http://evil.example/x.png)',
  'a|b|c',
  '<img src=x onerror=alert(1)>',
  '\u001b[31mred\nforged line',
  '``double``',
  'www.evil.example',
  'mail@evil.example',
  '&lt;entity&#65;',
  '_em_ *strong* ~~gone~~',
  '\\`escaped\\|',
  ' =1+1',
  '\u202eevil\u202c',
];

/** Markdown as HTML, block level (tables included), as VS Code's hover renders it. */
export function renderMarkdown(markdown: string): string {
  return marked.parse(markdown, { async: false, gfm: true });
}

/** The text a person reads in an HTML fragment: tags dropped, entities decoded. */
export function visibleText(html: string): string {
  return html.replace(/<[^>]*>/g, '').replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);
}

/** Tags in rendered HTML other than the harmless ones a hover or a table is made of. */
export function unexpectedTags(html: string): string[] {
  const allowed = new Set(['p', 'code', 'pre', 'strong', 'em', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'br']);
  return [...html.matchAll(/<\/?([a-zA-Z0-9]+)/g)].map((m) => m[1]!.toLowerCase()).filter((tag) => !allowed.has(tag));
}

/** The cells of each row of the first table in rendered HTML. */
export function tableRows(html: string): string[][] {
  const table = /<table>([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  return [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => cell[1]!));
}
