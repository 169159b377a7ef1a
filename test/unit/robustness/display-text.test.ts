// Text from a file reaching a person, per channel, with hostile names: Markdown (hover
// pieces and the results exporter) rendered as VS Code renders it, the terminal table,
// and CSV for spreadsheets. A name stays the text it is: no link, no HTML, no extra cell
// or line, no escape sequence, no formula.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { looksLikeFormula, markdownCode, markdownFence, markdownText, visibleControls } from '../../../server/src/display-text.ts';
import { csvField, resultsToCsv, similarityToCsv } from '../../../server/src/results/csv.ts';
import { resultsMarkdown } from '../../../server/src/results/markdown.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { renderResults } from '../../../server/src/results/table.ts';
import { HOSTILE_NAMES, renderMarkdown, tableRows, unexpectedTags, visibleText } from '../../helpers/hostile-text.ts';

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('Markdown pieces show hostile names as text', () => {
  for (const name of HOSTILE_NAMES) {
    it(JSON.stringify(name), () => {
      const shown = visibleControls(name);
      assert.doesNotMatch(shown, CONTROL);
      for (const piece of [markdownCode(name), markdownText(name)]) {
        const html = renderMarkdown(`before ${piece} after`);
        assert.deepEqual(unexpectedTags(html), [], html);
        assert.equal(visibleText(html).trim(), `before ${shown} after`, html);
      }
      const table = renderMarkdown(`| a | b |\n|---|---|\n| ${markdownCode(name, 'table-cell')} | ${markdownText(name)} |`);
      assert.deepEqual(unexpectedTags(table), []);
      const rows = tableRows(table);
      assert.equal(rows[1]!.length, 2, table);
      for (const cell of rows[1]!) assert.equal(visibleText(cell).trim(), shown.trim(), table);
      const block = renderMarkdown(markdownFence(`x = "${name}"`, 'tvr'));
      assert.deepEqual(unexpectedTags(block), []);
      assert.equal(visibleText(block).trim(), `x = "${name}"`.split('\n').map(visibleControls).join('\n').trim(), 'a code block keeps its lines');
    });
  }
});

/** The results with each old name replaced by a new one, wherever it appears (values and keys). */
function renamed<T>(value: T, names: ReadonlyMap<string, string>): T {
  if (typeof value === 'string') return (names.get(value) ?? value) as T;
  if (Array.isArray(value)) return value.map((v) => renamed(v, names)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [names.get(k) ?? k, renamed(v, names)])) as T;
  }
  return value;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/results/negation-sweep.results.json', import.meta.url), 'utf8')) as RunResults;
const evaluation = fixture.evaluations[0]!;
const originals = [...new Set([...evaluation.tasks.map((t) => t.name), ...evaluation.chosen.map((c) => c.model), ...fixture.similarity!.vectors])];
// Names a spreadsheet would run come first, so the CSV export meets them.
const byRisk = [...HOSTILE_NAMES].sort((a, b) => Number(looksLikeFormula(b)) - Number(looksLikeFormula(a)));
const hostile = new Map(originals.map((name, i) => [name, `${byRisk[i % byRisk.length]}${i}`]));
const hostileResults = renamed({ ...fixture, notes: [...fixture.notes, HOSTILE_NAMES.join(' ')] }, hostile);

describe('the results exporters with hostile names', () => {
  it('Markdown: tables keep their columns, no link, image or HTML, every name shown as it is', () => {
    const html = renderMarkdown(resultsMarkdown(hostileResults));
    assert.deepEqual(unexpectedTags(html), []);
    const tables = html.split('<table>').slice(1).map((t) => tableRows(`<table>${t}`));
    assert.equal(tables.length, fixture.evaluations.length + 1, 'one table per evaluation, and the similarity');
    for (const rows of tables) for (const row of rows) assert.equal(row.length, rows[0]!.length, `a row with ${row.length} cells: ${row.join(' | ')}`);
    const text = visibleText(html);
    for (const name of hostile.values()) assert.ok(text.includes(visibleControls(name).trim()), `${JSON.stringify(name)} shown`);
  });

  it('terminal: no control character from a file, no forged line', () => {
    const plain = renderResults({ ...fixture, notes: [...fixture.notes, 'one more note'] });
    const text = renderResults(hostileResults);
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, 'only line feeds');
    assert.equal(text.split('\n').length, plain.split('\n').length, 'as many lines as with plain names');
    for (const name of hostile.values()) assert.ok(text.includes(visibleControls(name)), `${JSON.stringify(name)} shown escaped`);
  });

  it('CSV: no field a spreadsheet would run, every name kept after the guard', () => {
    for (const csv of [resultsToCsv(hostileResults), similarityToCsv(hostileResults.similarity!)]) {
      const fields = csv.match(/("([^"]|"")*"|[^,\r\n]*)(?=,|\r\n)/g)!.map((f) => (f.startsWith('"') ? f.slice(1, -1).replace(/""/g, '"') : f));
      const texts = fields.filter((f) => f === '' || !Number.isFinite(Number(f)));
      for (const field of texts) assert.equal(looksLikeFormula(field), false, `a formula: ${JSON.stringify(field)}`);
      for (const name of hostile.values()) if (looksLikeFormula(name)) assert.ok(texts.includes(`'${name}`), `${JSON.stringify(name)} kept behind an apostrophe`);
    }
  });
});

describe('the CSV formula guard', () => {
  const cases: [string, boolean][] = [
    ['=1+1', true], ['+1', true], ['-1', true], ['@SUM(A1)', true], ['\t=1', true], ['\r=1', true],
    [' =1+1', true], ['\n=cmd', true], ['  @x', true], ['\uff1d1', true], ['\n', true],
    ['sci', false], ['task a', false], ['a=b', false], ['1e-3', false], ['', false],
  ];
  for (const [text, formula] of cases) {
    it(`${JSON.stringify(text)} ${formula ? 'is guarded' : 'is left as it is'}`, () => {
      assert.equal(looksLikeFormula(text), formula);
      assert.equal(csvField(text).replace(/^"|"$/g, '').startsWith("'"), formula);
    });
  }
});
