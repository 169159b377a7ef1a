// Terminal output of the built CLI with names from hostile files: `tvr inspect` on tensor
// names holding escape sequences, line breaks and bidirectional overrides, and `tvr check`
// on a recipe whose path and source line hold them. Nothing reaches the terminal but text
// and line feeds: the names are shown escaped, no line is forged.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { visibleControls } from '../../server/src/display-text.ts';
import { fixtureDir, makeModel, writeSafetensors } from '../helpers/checkpoint-fixtures.ts';
import { HOSTILE_NAMES } from '../helpers/hostile-text.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';

/** Any control character but a line feed, and the bidirectional overrides. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const TERMINAL_ATTACKS = ['\u001b[2J\u001b[Hcleared', 'two\nlines', 'bell\u0007', '\u009b31mC1', 'tab\there', '\u202egnp.exe'];

describe('terminal output with hostile names (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  const names = [...TERMINAL_ATTACKS, ...HOSTILE_NAMES];
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    writeSafetensors(join(dir, 'hostile.safetensors'), makeModel(names.map((name) => ({ name, shape: [2], dtype: 'F32' as const })), { seed: 1 }));
  });
  after(cleanup);

  it('tvr inspect: one line per tensor, each name escaped, no control character', async () => {
    const { code, stdout, stderr } = await runTvr(['inspect', 'hostile.safetensors', '--norms'], dir);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, UNSAFE);
    const lines = stdout.trimEnd().split('\n');
    for (const name of names) assert.equal(lines.filter((l) => l.startsWith(`${visibleControls(name)} `)).length, 1, `one line for ${JSON.stringify(name)}`);
    assert.equal(lines.length, 2 + names.length + 3, 'header, rule, tensors, blank, totals, norm');
  });

  it('tvr check: the message and the source line escaped, the carets under the path', async () => {
    const path = '\u001b[31mmissing\u0007.safetensors';
    writeFileSync(join(dir, 'esc.tvr'), `m = load("${path}")\nsave(m, "out/m.safetensors")\n`);
    const { code, stdout } = await runTvr(['check', 'esc.tvr'], dir);
    assert.equal(code, 1);
    assert.doesNotMatch(stdout, UNSAFE);
    const lines = stdout.split('\n');
    const source = lines.find((l) => l.includes('m = load('))!;
    const carets = lines[lines.indexOf(source) + 1]!;
    assert.ok(source.includes(visibleControls(path)), source);
    assert.equal(carets.indexOf('^') - carets.indexOf('|'), source.indexOf(`"${visibleControls(path)}"`) - source.indexOf('|'), `carets under the path:\n${source}\n${carets}`);
  });

  it('tvr check: a long line is cut around the span, the carets still under it', async () => {
    const padding = Array.from({ length: 400 }, (_, i) => `${i % 10}`).join(' + ');
    writeFileSync(join(dir, 'long.tvr'), `x = ${padding} + undefined_thing + ${padding}\n`);
    const { code, stdout } = await runTvr(['check', 'long.tvr'], dir);
    assert.equal(code, 1);
    const lines = stdout.split('\n');
    const source = lines.find((l) => l.includes('undefined_thing') && l.includes('|'))!;
    const carets = lines[lines.indexOf(source) + 1]!;
    assert.ok(source.length < 300, `printed ${source.length} characters`);
    assert.match(source, /\| \.\.\..*\.\.\.$/);
    assert.equal(carets.indexOf('^'), source.indexOf('undefined_thing'));
    assert.equal(carets.trimEnd().length - carets.indexOf('^'), 'undefined_thing'.length);
  });

  it('tvr inspect --norms: tensors holding NaN or Infinity are named as such', async () => {
    const model = makeModel([{ name: 'fine', shape: [3] }, { name: 'nan', shape: [3] }, { name: 'inf', shape: [3] }], { seed: 2 });
    model.tensors[1]!.values[0] = Number.NaN;
    model.tensors[2]!.values[2] = Number.POSITIVE_INFINITY;
    writeSafetensors(join(dir, 'nonfinite.safetensors'), model);
    const { code, stdout, stderr } = await runTvr(['inspect', 'nonfinite.safetensors', '--norms'], dir);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^norm not finite \(the tensor holds NaN or infinite values\): nan, inf$/m);
  });

  it('tvr check: at most 100 diagnostics printed per file, then how many more (--json lists all)', async () => {
    writeFileSync(join(dir, 'many.tvr'), `${Array.from({ length: 500 }, (_, i) => `x${i} = missing_${i}`).join('\n')}\n`);
    const text = await runTvr(['check', 'many.tvr'], dir);
    assert.equal(text.code, 1);
    assert.equal(text.stdout.match(/^error\[undefined-name\]/gm)!.length, 100);
    assert.match(text.stdout, /^\.\.\. and 400 more in many\.tvr \(tvr check --json lists every one\)$/m);
    assert.match(text.stdout, /^500 errors, 0 warnings in 1 file$/m);
    const json = await runTvr(['check', '--json', 'many.tvr'], dir);
    assert.equal((JSON.parse(json.stdout) as { code: string }[]).filter((d) => d.code === 'undefined-name').length, 500);
  });
});

