// IDE queries of the core, with `|` marking the cursor in each recipe.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { codeActions } from '../../../server/src/language/ide/code-actions.ts';
import { complete } from '../../../server/src/language/ide/completion.ts';
import { format } from '../../../server/src/language/ide/format.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';
import { definition, documentSymbols, references, rename } from '../../../server/src/language/ide/navigation.ts';
import { semanticTokens } from '../../../server/src/language/ide/semantic-tokens.ts';
import { signatureHelp } from '../../../server/src/language/ide/signature-help.ts';
import { analyzeIn, cursor, recipeWorkspace, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';

let ws: RecipeWorkspace;
before(() => { ws = recipeWorkspace(); });
after(() => ws.cleanup());

const header = 'base = load("base.safetensors")\nsci = load("sci.safetensors") - base\ntoxic = load("toxic.safetensors") - base\nlam = sweep()\n';
const readDirectory = (dir: string) => readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, isDirectory: d.isDirectory() }));

async function at(textWithMarker: string) {
  const { text, offset } = cursor(textWithMarker);
  return { analysis: await analyzeIn(ws, text), offset, text };
}

// [recipe with cursor, labels that must be offered, labels that must not, label expected first]
const completions: [string, string[], string[], string?][] = [
  [`${header}e = base + |`, ['sci', 'toxic', 'base', 'lam', 'ties', 'mean'], ['e'], undefined],
  [`${header}e = ba|`, ['base'], [], undefined],
  [`${header}m = ties(|`, ['sci', 'toxic', 'density=', 'dare'], ['vectors=', 'base='], undefined],
  [`${header}m = ties(sci, toxic, |`, ['density=', 'sci'], ['m'], undefined],
  [`${header}m = ties(sci, density=0.1, |`, ['toxic'], ['density='], undefined],
  [`${header}save(base, "o.safetensors", dtype=|`, ['"f32"', '"f16"', '"bf16"'], ['dtype='], '"f32"'],
  [`${header}save(base, "o.safetensors", dtype="b|`, ['"bf16"'], [], undefined],
  [`${header}save(base, "o.safetensors", overwrite=|`, ['true', 'false'], [], undefined],
  [`${header}x = load("|`, ['base.safetensors', 'sharded/', 'tfjs/'], ['notes.txt'], undefined],
  [`${header}x = load("sharded/|`, ['model.safetensors.index.json'], ['base.safetensors'], undefined],
  [`${header}# a comment |`, [], ['base', 'ties'], undefined],
  [`${header}t = task("data.safetensors", head=base, metric=|`, ['"accuracy"', '"loss"'], [], undefined],
  [`${header}evaluate(base, targets=[|`, ['base'], ['targets='], undefined],
];

for (const [recipe, present, absent, first] of completions) {
  test(`completion at ${JSON.stringify(recipe.slice(header.length))}`, async () => {
    const { analysis, offset } = await at(recipe);
    const items = complete(analysis, offset, { readDirectory });
    const labels = items.map((i) => i.label);
    for (const label of present) assert.ok(labels.includes(label), `${label} missing from ${labels.join(', ')}`);
    for (const label of absent) assert.ok(!labels.includes(label), `${label} should not be offered`);
    if (first) {
      const sorted = [...items].sort((a, b) => (a.sortText ?? a.label).localeCompare(b.sortText ?? b.label));
      assert.equal(sorted[0]!.label, first);
    }
  });
}

test('completion replaces the partial word and shows types', async () => {
  const { analysis, offset } = await at(`${header}e = base + to|`);
  const item = complete(analysis, offset).find((i) => i.label === 'toxic')!;
  assert.equal(item.detail, 'Vector');
  assert.deepEqual(item.replace, { start: offset - 2, end: offset });
});

test('in ties(...) vectors sort before models', async () => {
  const { analysis, offset } = await at(`${header}m = ties(|`);
  const items = complete(analysis, offset);
  const sort = (label: string) => items.find((i) => i.label === label)!.sortText!;
  assert.ok(sort('sci') < sort('base'));
});

test('hover on a model shows tensors, parameters and file size', async () => {
  const { analysis, offset } = await at(`ba|se = load("base.safetensors")\n`);
  const h = hover(analysis, offset)!;
  assert.match(h.contents, /\*\*base\*\*: Model/);
  assert.match(h.contents, /4 tensors, 43 parameters \(F32 x4\)/);
  assert.match(h.contents, /safetensors, \d+ B/);
});

test('hover on a built-in shows its documentation; on a keyword, the parameter', async () => {
  let { analysis, offset } = await at(`${header}m = ti|es(sci, toxic, density=0.2)\n`);
  assert.match(hover(analysis, offset)!.contents, /TIES merging[\s\S]*Yadav/);
  ({ analysis, offset } = await at(`${header}m = ties(sci, toxic, dens|ity=0.2)\n`));
  assert.match(hover(analysis, offset)!.contents, /\*\*density\*\* \(argument of ties\), default 0.2/);
});

test('hover on a sweep lists its values', async () => {
  const { analysis, offset } = await at(`l|am = sweep(0, 1, 0.25)\n`);
  assert.match(hover(analysis, offset)!.contents, /5 values \(0, 0.25, 0.5, 0.75, 1\)/);
});

test('signature help marks the active parameter by position and by keyword', async () => {
  let { analysis, offset } = await at(`${header}m = dare(sci, |`);
  let help = signatureHelp(analysis, offset)!;
  assert.equal(help.parameters[help.activeParameter!]!.label, 'p=0.9');
  ({ analysis, offset } = await at(`${header}m = dare(sci, seed=|`));
  help = signatureHelp(analysis, offset)!;
  assert.equal(help.parameters[help.activeParameter!]!.label, 'seed=0');
  assert.match(help.label, /^dare\(vector, p=0.9, seed=0, rescale="inverse"\) -> Vector$/);
});

test('definition, references and rename follow bindings', async () => {
  const { analysis, offset, text } = await at(`${header}e = base + s|ci\nf = sci - toxic\n`);
  const def = definition(analysis, offset)!;
  assert.equal(text.slice(def.start, def.end), 'sci');
  assert.equal(analysis.lines.position(def.start).line, 1);
  assert.equal(references(analysis, offset, true).length, 3);
  const renamed = rename(analysis, offset, 'science');
  assert.ok('edits' in renamed);
  assert.equal(renamed.edits.length, 3);
  assert.deepEqual(rename(analysis, offset, 'toxic'), { error: "'toxic' is already defined in this recipe." });
  assert.deepEqual(rename(analysis, offset, '2x'), { error: "'2x' is not a valid name: use letters, digits and _ (not starting with a digit)." });
  assert.deepEqual(rename(analysis, offset, 'mean'), { error: "'mean' is a built-in function." });
});

test('document symbols list bindings with their kinds, saves and evaluations', async () => {
  const { analysis } = await at(`${header}e = base + sci\nsave(e, "o.safetensors")|\n`);
  assert.deepEqual(documentSymbols(analysis).map((s) => `${s.kind} ${s.name}`), ['model base', 'vector sci', 'vector toxic', 'scalar lam', 'model e', 'output save e']);
});

test('semantic tokens colour models as types and built-ins as library functions', async () => {
  const { analysis, text } = await at(`${header}e = ties(sci, toxic, density=0.2)|\n`);
  const tokens = semanticTokens(analysis).filter((t) => analysis.lines.position(t.start).line === 4);
  assert.deepEqual(tokens.map((t) => `${text.slice(t.start, t.end)}:${t.type}:${t.modifiers.join('+')}`), [
    'e:variable:declaration', 'ties:function:defaultLibrary', 'sci:variable:', 'toxic:variable:', 'density:parameter:readonly',
  ]);
  assert.equal(semanticTokens(analysis)[0]!.type, 'type');
});

// [before, after]
const formats: [string, string][] = [
  ['a=load("base.safetensors")\nb   =  a+0.5 * ( a-a )\n', 'a = load("base.safetensors")\nb = a + 0.5*(a - a)\n'],
  ['# head\n\n\n\nx = 1   # one\ny=[1,2 ,3]\n\n', '# head\n\nx = 1  # one\ny = [1, 2, 3]\n'],
  ['m = ties(a,b,density = 0.2)', 'm = ties(a, b, density=0.2)\n'],
  ['s = save(x, "p", dtype="bf16")\n', 's = save(x, "p", dtype="bf16")\n'],
  [`m = mean(${Array.from({ length: 12 }, (_, i) => `model_number_${i}`).join(', ')})\n`, `m = mean(\n${Array.from({ length: 12 }, (_, i) => `    model_number_${i},`).join('\n')}\n)\n`],
  ['m = mean(a, # first\n  b)\n', 'm = mean(a, # first\n  b)\n'],
];

for (const [before, expected] of formats) {
  test(`formats ${JSON.stringify(before.slice(0, 40))}`, async () => {
    const analysis = await analyzeIn(ws, before);
    const edits = format(analysis);
    const result = edits.length === 0 ? before : edits[0]!.newText;
    assert.equal(result, expected);
    const again = await analyzeIn(ws, result);
    assert.deepEqual(format(again), [], 'formatting is idempotent');
  });
}

test('formatting leaves a recipe with syntax errors alone', async () => {
  assert.deepEqual(format(await analyzeIn(ws, 'x = = 1\n')), []);
});

test('a quick fix applied gives a recipe that checks clean', async () => {
  const { analysis, offset, text } = await at(`${header}m = load("legal.safetensors") + |load("sci.safetensors")\nsave(m, "o.safetensors")\n`);
  const actions = codeActions(analysis, { start: offset, end: offset });
  const fix = actions.find((a) => a.fix.preferred)!.fix;
  const [edit] = fix.edits;
  const fixed = text.slice(0, edit!.span.start) + edit!.newText + text.slice(edit!.span.end);
  const after = await analyzeIn(ws, fixed.replace('lam = sweep()\n', ''));
  assert.deepEqual(after.diagnostics.filter((d) => d.severity === 'error' || d.severity === 'warning').map((d) => d.message), []);
});
