// Diagnostics over the protocol: didOpen publishes syntax, name, type, shape and file
// diagnostics with stable codes and exact ranges; incremental didChange updates them.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  DiagnosticSeverity, DiagnosticTag, DidChangeWatchedFilesNotification, FileChangeType, HoverRequest, type Diagnostic,
} from 'vscode-languageserver-protocol/node';
import { HeaderCache } from '../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../server/src/language/analysis.ts';
import { serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';
import { positionAt, unmark } from '../helpers/text-markers.ts';

const loads = 'base = load("base.safetensors")\nsci = load("sci.safetensors")\ntoxic = load("toxic.safetensors")\n';

interface Case {
  readonly name: string;
  /** Appended to `loads`; two `|` markers delimit the expected range. */
  readonly recipe: string;
  readonly code: string;
  readonly severity: DiagnosticSeverity;
  readonly message: RegExp;
}

const cases: readonly Case[] = [
  { name: 'a stray bracket', recipe: 'x = 2 |)|\n', code: 'syntax', severity: DiagnosticSeverity.Error, message: /^unexpected '\)'/ },
  { name: 'a missing operand (empty range at the end of the line)', recipe: 'x = 1 +||\n', code: 'syntax', severity: DiagnosticSeverity.Error, message: /^expected an expression but found the end of the line$/ },
  { name: 'an unclosed call, the next line still parsed', recipe: 'x = load|(|"base.safetensors"\ny = 1\n', code: 'syntax', severity: DiagnosticSeverity.Error, message: /'\(' is never closed: add '\)'/ },
  { name: 'an undefined name with did-you-mean', recipe: 'tau = sci - |bsae|\n', code: 'undefined-name', severity: DiagnosticSeverity.Error, message: /^'bsae' is not defined; did you mean 'base'\?$/ },
  {
    name: 'two models added (weights sum to 2)', recipe: 'x = |sci + toxic|\n', code: 'model-weight-sum', severity: DiagnosticSeverity.Error,
    message: /^the model weights sum to 2 \('sci': 1, 'toxic': 1\).*mean\(/,
  },
  {
    name: 'a shape mismatch naming the tensors and their count', recipe: 'o = load("other.safetensors")\ny = o - |base|\n', code: 'shape-mismatch', severity: DiagnosticSeverity.Error,
    message: /^tensor tables differ from 'o': 2 tensors differ; "encoder\/kernel" is \[12, 8\] F32 here but \[12, 16\] F32 in 'o'; "encoder\/bias" is \[8\] F32 here but \[16\] F32 in 'o'$/,
  },
  { name: 'a missing checkpoint', recipe: 'm = load(|"missing.safetensors"|)\n', code: 'file-not-found', severity: DiagnosticSeverity.Error, message: /^checkpoint not found: missing\.safetensors/ },
  { name: 'a truncated checkpoint', recipe: 'bad = load(|"broken.safetensors"|)\n', code: 'bad-checkpoint', severity: DiagnosticSeverity.Error, message: /^cannot use broken\.safetensors: .*\[truncated\]$/ },
  {
    name: 'a task vector applied to a foreign base', recipe: 'b2 = load("base2.safetensors")\nedited = |b2 + (sci - base)|\n', code: 'foreign-base', severity: DiagnosticSeverity.Warning,
    message: /^a task vector computed from 'base' is applied to 'b2'/,
  },
  { name: 'a model where a vector is needed', recipe: 'x = ties(|sci|, toxic - base)\n', code: 'type-mismatch', severity: DiagnosticSeverity.Error, message: /^ties\(\) expects a task Vector for 'vectors', but this is a Model/ },
  { name: 'an argument out of range', recipe: 'x = dare(sci - base, p=|1.5|)\n', code: 'invalid-value', severity: DiagnosticSeverity.Error, message: /^'p' of dare\(\) must be < 1, but is 1\.5$/ },
];

/** Everything but unused-binding hints (the cases above leave their bindings unused on purpose). */
function significant(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics.filter((d) => d.code !== 'unused-binding');
}

describe('diagnostics over the protocol', () => {
  const server = serverOnRecipeWorkspace();
  const { dir } = server;
  const uri = (name: string) => pathToFileURL(join(dir, name)).href;

  for (const [i, c] of cases.entries()) {
    it(`reports ${c.name}`, async () => {
      const { text, offsets } = unmark(loads + c.recipe);
      const diagnostics = significant(await server.client.openAndDiagnose(uri(`case${i}.tvr`), text));
      assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics, null, 1));
      const [d] = diagnostics as [Diagnostic];
      assert.equal(d.code, c.code);
      assert.equal(d.severity, c.severity);
      assert.equal(d.source, 'tvr');
      assert.deepEqual(d.range, { start: positionAt(text, offsets[0]!), end: positionAt(text, offsets[1]!) });
      assert.match(typeof d.message === 'string' ? d.message : d.message.value, c.message);
    });
  }

  it('publishes no diagnostics for a clean recipe over every checkpoint format', async () => {
    const recipe = [
      loads,
      'h = load("half/base.safetensors")',
      't16 = load("half/tuned.safetensors") - h',
      'b = load("bf16/base.safetensors")',
      'tb = load("bf16/tuned.safetensors") - b',
      'f = load("tfjs/base/model.json")',
      'tf = load("tfjs/tuned/model.json") - f',
      'sharded = load("sharded/model.safetensors.index.json")',
      'edited = base + 0.5*(sci - base) - (toxic - base) + (sharded - base)',
      'save(edited, "out/edited.safetensors")',
      'save(h + t16, "out/h.safetensors")',
      'save(b + tb, "out/b.safetensors")',
      'save(f + tf, "out/f.safetensors")',
      '',
    ].join('\n');
    assert.deepEqual(await server.client.openAndDiagnose(uri('clean.tvr'), recipe), []);
  });

  it('marks an unused binding as an unnecessary hint on its name', async () => {
    const { text, offsets } = unmark(`${loads}|tau| = sci - base\nsave(base + 0.5*(toxic - base), "o.safetensors")\n`);
    const hints = (await server.client.openAndDiagnose(uri('unused.tvr'), text)).filter((d) => d.code === 'unused-binding');
    assert.deepEqual(hints.map((d) => [d.severity, d.tags, d.range, d.message]), [
      [DiagnosticSeverity.Hint, [DiagnosticTag.Unnecessary], { start: positionAt(text, offsets[0]!), end: positionAt(text, offsets[1]!) }, "'tau' is never used"],
    ]);
  });

  it('updates diagnostics after incremental changes, for each version', async () => {
    const name = uri('edited.tvr');
    const text = `${loads}x = sci + toxic\nsave(x, "o.safetensors")\n`;
    const first = significant(await server.client.openAndDiagnose(name, text));
    assert.deepEqual(first.map((d) => d.code), ['model-weight-sum']);

    // Replace `sci + toxic` (line 3, characters 4-15) by `mean(sci, toxic)`.
    const second = server.client.diagnostics(name, 2);
    await server.client.change(name, 2, [{ range: { start: { line: 3, character: 4 }, end: { line: 3, character: 15 } }, text: 'mean(sci, toxic)' }]);
    assert.deepEqual(significant(await second), []);

    // Two edits in one notification, applied in order: a typo, then a new line using it.
    const third = server.client.diagnostics(name, 3);
    await server.client.change(name, 3, [
      { range: { start: { line: 3, character: 9 }, end: { line: 3, character: 12 } }, text: 'sco' },
      { range: { start: { line: 5, character: 0 }, end: { line: 5, character: 0 } }, text: 'y = x - bse\n' },
    ]);
    const diagnostics = significant(await third);
    assert.deepEqual(diagnostics.map((d) => [d.code, d.range.start, d.range.end, d.message]), [
      ['undefined-name', { line: 3, character: 9 }, { line: 3, character: 12 }, "'sco' is not defined; did you mean 'sci'?"],
      ['undefined-name', { line: 5, character: 8 }, { line: 5, character: 11 }, "'bse' is not defined; did you mean 'base'?"],
    ]);
  });

  it('keeps only the latest of several quick changes (debounced), publishing for that version', async () => {
    const name = uri('typing.tvr');
    await server.client.openAndDiagnose(name, loads);
    const typed = 'tau = sci - base\nsave(base + tau, "o.safetensors")\n';
    let version = 1;
    for (const ch of typed) {
      const lines = (loads + typed.slice(0, version - 1)).split('\n');
      await server.client.change(name, ++version, [{ range: { start: { line: lines.length - 1, character: lines.at(-1)!.length }, end: { line: lines.length - 1, character: lines.at(-1)!.length } }, text: ch }]);
    }
    assert.deepEqual(significant(await server.client.diagnostics(name, version)), []);
    const versions = server.client.published.filter((p) => p.uri === name).map((p) => p.version!);
    assert.ok(versions.length < typed.length / 2, `expected debounced analyses, got versions ${versions.join(', ')}`);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'published versions never go backwards');
  });

  it('labels diagnostics with the version analysed when an edit lands while headers are read', async () => {
    const name = uri('racing.tvr');
    const texts = [
      `${loads}x = base\nsave(x, "o.safetensors")\n`,
      // Many checkpoints to look up keep the analysis waiting on the disk a while.
      `${loads}x = sci + toxic\nsave(x, "o.safetensors")\n${Array.from({ length: 40 }, (_, i) => `save(load("absent${i}.safetensors"), "o${i}.safetensors")\n`).join('')}`,
      `${loads}x = mean(sci, toxic)\nsave(x, "o.safetensors")\n`,
    ];
    await server.client.openAndDiagnose(name, texts[0]!, 1);
    const whole = (text: string) => ({ range: { start: { line: 0, character: 0 }, end: positionAt(text, text.length) } });
    // The hover starts the analysis of version 2 at once; version 3 arrives while it reads headers.
    await server.client.change(name, 2, [{ ...whole(texts[0]!), text: texts[1]! }]);
    const hover = server.client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: name }, position: { line: 3, character: 0 } });
    await server.client.change(name, 3, [{ ...whole(texts[1]!), text: texts[2]! }]);
    await hover;
    await server.client.diagnostics(name, 3);
    await new Promise((resolve) => setTimeout(resolve, 400)); // any later publication of version 3
    for (const p of server.client.published.filter((p) => p.uri === name)) {
      const expected = await analyzeFile(texts[p.version! - 1]!, join(dir, 'racing.tvr'), new HeaderCache());
      assert.deepEqual(p.diagnostics.map((d) => d.code), expected.diagnostics.map((d) => d.code), `diagnostics published as version ${p.version}`);
    }
  });

  it('re-checks open recipes when a checkpoint changes on disk (watched-files notification)', async () => {
    const name = uri('watched.tvr');
    const { text, offsets } = unmark('m = load(|"watched.safetensors"|)\nsave(m, "o.safetensors")\n');
    writeFileSync(join(dir, 'watched.safetensors'), readFileSync(join(dir, 'broken.safetensors')));
    const broken = await server.client.openAndDiagnose(name, text);
    assert.deepEqual(broken.map((d) => [d.code, d.range]), [['bad-checkpoint', { start: positionAt(text, offsets[0]!), end: positionAt(text, offsets[1]!) }]]);
    const repaired = server.client.nextDiagnostics(name);
    copyFileSync(join(dir, 'base.safetensors'), join(dir, 'watched.safetensors'));
    await server.client.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: [{ uri: uri('watched.safetensors'), type: FileChangeType.Changed }] });
    assert.deepEqual(await repaired, []);
  });

  it('notices a changed checkpoint at the next edit, without a notification', async () => {
    const name = uri('unwatched.tvr');
    const text = 'm = load("unwatched.safetensors")\nsave(m, "o.safetensors")\n';
    copyFileSync(join(dir, 'base.safetensors'), join(dir, 'unwatched.safetensors'));
    assert.deepEqual(await server.client.openAndDiagnose(name, text), []);
    // Another table (and a later mtime): `m - base` no longer matches.
    copyFileSync(join(dir, 'other.safetensors'), join(dir, 'unwatched.safetensors'));
    const after = server.client.diagnostics(name, 2);
    await server.client.change(name, 2, [{ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'base = load("base.safetensors")\nsave(m - base, "v.safetensors")\n' }]);
    assert.deepEqual((await after).map((d) => d.code), ['shape-mismatch']);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await server.client.shutdown(), 0);
  });
});
