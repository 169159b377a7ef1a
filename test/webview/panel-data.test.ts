// The data side of the results panel, without a browser: the messages each end accepts,
// the panel's HTML and CSP, CSV/JSON export, and reading the CLI's JSON lines into events
// and progress.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LineSplitter, parseCliLine, type CliEvent } from '../../client/src/run/cli-events.ts';
import { resultsToJson, writeFileAtomic } from '../../client/src/run/export.ts';
import { csvField, resultsToCsv } from '../../server/src/results/csv.ts';
import { contentSecurityPolicy, resultsPanelHtml } from '../../client/src/run/panel-html.ts';
import { parseHostMessage, parsePanelState, parseWebviewMessage } from '../../client/src/run/panel-messages.ts';
import { initialProgress, nextProgress } from '../../server/src/run/progress.ts';
import type { RunResults } from '../../server/src/results/schema.ts';
import { loadFixture } from './harness.ts';

const negation = loadFixture('negation-sweep');

describe('panel messages', () => {
  const webviewCases: readonly [unknown, unknown][] = [
    [{ type: 'ready' }, { type: 'ready' }],
    [{ type: 'export', format: 'csv' }, { type: 'export', format: 'csv' }],
    [{ type: 'export', format: 'json', extra: 1 }, { type: 'export', format: 'json' }],
    [{ type: 'export', format: 'xlsx' }, undefined],
    [{ type: 'export' }, undefined],
    [{ type: 'open', path: '/etc/passwd' }, undefined],
    ['ready', undefined],
    [null, undefined],
    [[{ type: 'ready' }], undefined],
  ];
  for (const [input, expected] of webviewCases) {
    it(`webview -> host ${JSON.stringify(input)}`, () => assert.deepEqual(parseWebviewMessage(input), expected));
  }

  const hostCases: readonly [string, unknown, unknown][] = [
    ['results', { type: 'results', results: negation }, { type: 'results', results: negation }],
    ['results without evaluations', { type: 'results', results: { ...negation, evaluations: undefined } }, undefined],
    ['results with an unknown status', { type: 'results', results: { ...negation, status: 'paused' } }, undefined],
    ['results of another schema version (the renderer explains it)', { type: 'results', results: { ...negation, schemaVersion: 2 } }, { type: 'results', results: { ...negation, schemaVersion: 2 } }],
    ['progress', { type: 'progress', message: 'evaluating 1/2', fraction: 0.5 }, { type: 'progress', message: 'evaluating 1/2', fraction: 0.5 }],
    ['progress clamps its fraction', { type: 'progress', message: 'x', fraction: 7 }, { type: 'progress', message: 'x', fraction: 1 }],
    ['progress without a fraction', { type: 'progress', message: 'x', fraction: Number.NaN }, { type: 'progress', message: 'x' }],
    ['progress without a message', { type: 'progress', fraction: 0.5 }, undefined],
    ['unknown type', { type: 'eval', code: 'alert(1)' }, undefined],
  ];
  for (const [name, input, expected] of hostCases) {
    it(`host -> webview: ${name}`, () => assert.deepEqual(parseHostMessage(input), expected));
  }

  const stateCases: readonly [string, unknown, unknown][] = [
    ['saved results and progress', { version: 1, results: negation, progress: { message: 'm', fraction: 0.25 } }, { version: 1, results: negation, progress: { message: 'm', fraction: 0.25 } }],
    ['nothing saved yet', undefined, { version: 1 }],
    ['another version', { version: 2, results: negation }, { version: 1 }],
    ['broken results are dropped', { version: 1, results: { recipe: 3 } }, { version: 1 }],
  ];
  for (const [name, input, expected] of stateCases) {
    it(`panel state: ${name}`, () => assert.deepEqual(parsePanelState(input), expected));
  }
});

describe('panel HTML', () => {
  it('has the strict CSP, one script with the nonce, and nothing inline', () => {
    const html = resultsPanelHtml({ cspSource: 'https://file+.vscode-resource.vscode-cdn.net', scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js', nonce: 'abc123==' });
    const csp = "default-src 'none'; script-src 'nonce-abc123=='; style-src https://file+.vscode-resource.vscode-cdn.net 'nonce-abc123=='; img-src https://file+.vscode-resource.vscode-cdn.net data:; font-src https://file+.vscode-resource.vscode-cdn.net";
    assert.equal(contentSecurityPolicy('https://file+.vscode-resource.vscode-cdn.net', 'abc123=='), csp);
    assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="${csp.replace(/'/g, '&#39;')}">`));
    assert.deepEqual([...html.matchAll(/<script[^>]*>/g)].map((m) => m[0]), ['<script nonce="abc123==" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js">']);
    assert.doesNotMatch(html, /<style|\sstyle=|\son\w+=/);
  });

  it('escapes what it puts in attributes', () => {
    const html = resultsPanelHtml({ cspSource: 'x', scriptUri: 'a"><script>alert(1)</script>', nonce: 'n' });
    assert.ok(html.includes('src="a&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'));
    assert.equal([...html.matchAll(/<script/g)].length, 1);
  });
});

/** A minimal RFC 4180 reader, enough to check what the writer produced. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 1; } else field += c;
  }
  return rows;
}

describe('export', () => {
  const fields: readonly [string | number | boolean | undefined, string][] = [
    ['toxic', 'toxic'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1', "'+1"],
    ['-rm', "'-rm"],
    ['@SUM(A1)', "'@SUM(A1)"],
    [-0.0288, '-0.0288'],
    [0.65, '0.65'],
    [Number.NaN, ''],
    [true, 'true'],
    [undefined, ''],
  ];
  for (const [input, expected] of fields) {
    it(`csv field ${JSON.stringify(input)}`, () => assert.equal(csvField(input), expected));
  }

  it('writes the negation sweep in long form: references, every sweep point and the chosen points', () => {
    const rows = parseCsv(resultsToCsv(negation));
    const [header, ...body] = rows;
    assert.deepEqual(header, ['evaluation', 'objective', 'kind', 'model', 'task', 'role', 'metric', 'split', 'lam',
      'value', 'accuracy', 'loss', 'perplexity', 'normalized', 'delta_vs_base', 'admissible', 'examples', 'seconds', 'cached']);
    const evaluation = negation.evaluations[0]!;
    const tasks = evaluation.tasks.length;
    assert.equal(body.length, evaluation.references.length * 2 + evaluation.points.length * tasks + evaluation.chosen.length * tasks);
    const count = (kind: string): number => body.filter((r) => r[2] === kind).length;
    assert.deepEqual([count('base'), count('finetuned'), count('point'), count('chosen')], [6, 6, 126, 6]);
    const chosen = body.find((r) => r[2] === 'chosen' && r[3] === 'forget_ta' && r[4] === 'sci')!;
    assert.deepEqual(chosen, ['0', 'forget', 'chosen', 'forget_ta', 'sci', 'control', 'accuracy', 'test', '0.65',
      '0.8215', '0.8215', String(evaluation.chosen[0]!.test['sci']!.loss), '', '0.8843', '-0.035', '', '2000', '2.3', '']);
    const point = body.find((r) => r[2] === 'point' && r[3] === 'forget_ties' && r[8] === '0.7' && r[4] === 'news')!;
    const source = evaluation.points.find((p) => p.model === 'forget_ties' && p.point['lam'] === 0.7)!;
    assert.deepEqual([point[9], point[13], point[15]], [String(source.metrics['news']!.accuracy), String(source.normalized['news']), String(source.admissible)]);
  });

  it('keeps names from files as data: quoted, and never a formula', () => {
    const evil = loadFixture('html-names');
    const formula: RunResults = { ...evil, evaluations: evil.evaluations.map((e) => ({ ...e, tasks: e.tasks.map((t) => ({ ...t, name: `=cmd|'/c calc'!A1,${t.name}` })) })) };
    const rows = parseCsv(resultsToCsv(formula)).slice(1);
    assert.ok(rows.length > 0);
    for (const row of rows) assert.ok(row[4]!.startsWith("'=cmd|'/c calc'!A1,"), row[4]);
    const plain = parseCsv(resultsToCsv(evil)).slice(1);
    assert.deepEqual([...new Set(plain.map((r) => r[4]))], evil.evaluations[0]!.tasks.map((t) => t.name));
  });

  it('writes JSON that reads back as the same results', () => {
    assert.deepEqual(JSON.parse(resultsToJson(negation)), negation);
  });

  it('writes atomically and leaves nothing behind when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
    try {
      const target = join(dir, 'out.csv');
      writeFileAtomic(target, 'first\n');
      writeFileAtomic(target, 'second\n');
      assert.equal(readFileSync(target, 'utf8'), 'second\n');
      assert.deepEqual(readdirSync(dir), ['out.csv']);
      assert.throws(() => writeFileAtomic(join(dir, 'missing/out.csv'), 'x'), { code: 'ENOENT' });
      // A directory in the way: the rename fails after the temporary file was written.
      assert.throws(() => writeFileAtomic(dir, 'x'));
      assert.deepEqual(readdirSync(dir), ['out.csv']);
      assert.ok(!existsSync(join(dir, 'missing')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI JSON lines', () => {
  const run: CliEvent = { type: 'run-done', resultsFile: '/r/x.results.json', seconds: 1.5 };
  const lineCases: readonly [string, string, unknown][] = [
    ['an event', JSON.stringify(run), { kind: 'event', event: run }],
    ['an event with CRLF', `${JSON.stringify(run)}\r`, { kind: 'event', event: run }],
    ['a plain line', 'loading the wasm backend', { kind: 'text', text: 'loading the wasm backend' }],
    ['half a JSON line', '{"type":"run-do', { kind: 'text', text: '{"type":"run-do' }],
    ['JSON of an unknown type', '{"type":"hello"}', { kind: 'text', text: '{"type":"hello"}' }],
    ['JSON without a type', '{"a":1}', { kind: 'text', text: '{"a":1}' }],
    ['a results event outside the schema', '{"type":"results","results":{}}', { kind: 'text', text: '(results event not in the expected schema) {"type":"results","results":{}}' }],
  ];
  for (const [name, line, expected] of lineCases) {
    it(`reads ${name}`, () => assert.deepEqual(parseCliLine(line), expected));
  }

  const chunkings: readonly [string, readonly string[], readonly string[]][] = [
    ['whole lines', ['a\nb\n'], ['a', 'b']],
    ['a line split across chunks', ['{"ty', 'pe":1}\nnext', '\n'], ['{"type":1}', 'next']],
    ['a last line without a newline', ['a\nb'], ['a', 'b']],
    ['empty chunks', ['', 'a', '', '\n'], ['a']],
    ['many lines in one chunk', ['1\n2\n3\n'], ['1', '2', '3']],
  ];
  for (const [name, chunks, expected] of chunkings) {
    it(`splits ${name}`, () => {
      const lines: string[] = [];
      const splitter = new LineSplitter((line) => lines.push(line));
      for (const chunk of chunks) splitter.push(chunk);
      splitter.end();
      assert.deepEqual(lines, expected);
    });
  }
});

describe('run progress', () => {
  const steps: readonly [CliEvent, number, string][] = [
    [{ type: 'run-start', recipe: 'r.tvr', backend: 'cpu', reason: 'asked', points: 21, evaluations: 1 }, 0, 'on cpu: 21 sweep points, 1 evaluation'],
    [{ type: 'progress', bytesDone: 50, bytesTotal: 200, tensor: 'enc.w', output: '/o/edited.safetensors' }, 0.25, 'writing edited.safetensors: 25% (enc.w)'],
    [{ type: 'evaluation-progress', done: 1, total: 10, what: 'lam = 0 on sci' }, 0.25, 'evaluating 1/10: lam = 0 on sci'],
    // Once evaluating, bytes no longer move the bar, and it never goes back.
    [{ type: 'progress', bytesDone: 190, bytesTotal: 200, tensor: 'enc.b', output: '/o/edited.safetensors' }, 0.25, 'writing edited.safetensors: 95% (enc.b)'],
    [{ type: 'evaluation-progress', done: 5, total: 10, what: 'lam = 0.5 on sci' }, 0.5, 'evaluating 5/10: lam = 0.5 on sci'],
    [{ type: 'run-done', resultsFile: '/r.results.json', seconds: 3 }, 1, 'done'],
  ];
  it('follows the events in order', () => {
    let progress = initialProgress;
    for (const [event, fraction, message] of steps) {
      const next = nextProgress(progress, event);
      assert.ok(next, event.type);
      assert.deepEqual([next.fraction, next.message], [fraction, message], event.type);
      progress = next;
    }
  });
  it('ignores events that say nothing about progress', () => {
    assert.equal(nextProgress(initialProgress, { type: 'results', results: negation }), undefined);
  });
});
