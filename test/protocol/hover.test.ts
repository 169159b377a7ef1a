// Hover over the protocol: models (tensors, parameters, dtypes, file size), task vectors
// (L2 norm, per-tensor norms, cosine similarities) and LoRA adapters (‖ΔW‖ and per-module
// norms) checked against an independent float64 computation from the fixture values,
// built-ins, and the work-done progress the background norm computation reports.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CompletionRequest, HoverRequest, type CompletionItem, type Hover, type MarkupContent } from 'vscode-languageserver-protocol/node';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { deltaW, writeAdapter, type AdapterModule } from '../helpers/lora-fixtures.ts';
import { LspTestClient, realisticCapabilities } from '../helpers/lsp-client.ts';
import { parameterCount, referenceCosine, referenceNorm, writeRecipeWorkspace, type Term } from '../helpers/recipe-fixtures.ts';
import { positionAt, unmark } from '../helpers/text-markers.ts';

const { dir, cleanup } = fixtureDir();
const { models } = writeRecipeWorkspace(dir);
const m = (path: string) => models[path]!;
const uri = (name: string) => pathToFileURL(join(dir, name)).href;

// Each `|` marks the hover position of the binding on that line.
const vectorsRecipe = unmark([
  'base = load("base.safetensors")',
  'sci = load("sci.safetensors")',
  'toxic = load("toxic.safetensors")',
  'shard = load("sharded/model.safetensors.index.json")',
  't|au = sci - base',
  'n|u = toxic - base',
  'm|ix = 0.5*tau - nu',
  's|h = shard - base',
  'h16 = load("half/base.safetensors")',
  'h|alf = load("half/tuned.safetensors") - h16',
  'b16 = load("bf16/base.safetensors")',
  'b|rain = load("bf16/tuned.safetensors") - b16',
  'tb = load("tfjs/base/model.json")',
  't|f = load("tfjs/tuned/model.json") - tb',
  'save(base + tau + mix + sh, "out/a.safetensors")',
  'save(h16 + half, "out/b.safetensors")',
  'save(b16 + brain, "out/c.safetensors")',
  'save(tb + tf, "out/d.safetensors")',
  '',
].join('\n'));

/** Each vector of the recipe as its linear combination of fixture models. */
const vectors: Readonly<Record<string, readonly Term[]>> = {
  tau: [[1, m('sci.safetensors')], [-1, m('base.safetensors')]],
  nu: [[1, m('toxic.safetensors')], [-1, m('base.safetensors')]],
  mix: [[0.5, m('sci.safetensors')], [-1, m('toxic.safetensors')], [0.5, m('base.safetensors')]],
  sh: [[1, m('sharded/model.safetensors.index.json')], [-1, m('base.safetensors')]],
  half: [[1, m('half/tuned.safetensors')], [-1, m('half/base.safetensors')]],
  brain: [[1, m('bf16/tuned.safetensors')], [-1, m('bf16/base.safetensors')]],
  tf: [[1, m('tfjs/tuned/model.json')], [-1, m('tfjs/base/model.json')]],
};
const hoverAt: Record<string, number> = Object.fromEntries(Object.keys(vectors).map((name, i) => [name, vectorsRecipe.offsets[i]!]));
/** Vectors over one tensor table (names and shapes, whatever the dtype) are compared with each other. */
const comparable = [['tau', 'nu', 'mix', 'sh', 'half', 'brain'], ['tf']];

interface ShownStats {
  readonly norm: number;
  readonly parameters: string;
  readonly tensors: { name: string; norm: number; elements: number }[];
  readonly cosines: Map<string, number>;
}

function markdown(hover: Hover | null): string {
  assert.ok(hover, 'expected a hover');
  return (hover.contents as MarkupContent).value;
}

function parseStats(text: string): ShownStats {
  const head = /\*\*L2 norm ([-\d.e+]+)\*\* over (\S+) parameters/.exec(text);
  assert.ok(head, `no norm in ${text}`);
  const tensors = [...text.matchAll(/^\| `([^`]+)` \| ([-\d.e+]+) \| (\d+) \|$/gm)].map((r) => ({ name: r[1]!, norm: Number(r[2]), elements: Number(r[3]) }));
  const cosineLine = /^Cosine similarity: (.*)$/m.exec(text)?.[1];
  const cosines = new Map((cosineLine?.split(', ') ?? []).map((entry) => {
    const [name, value] = entry.split(' ');
    return [name!, Number(value)] as const;
  }));
  return { norm: Number(head[1]), parameters: head[2]!, tensors, cosines };
}

// A LoRA adapter in BF16 with rsLoRA, rank_pattern, alpha_pattern and fan_in_fan_out: its
// hover norm is checked against ΔW = scale · B·A formed in float64 from the stored factors.
const loraQ: AdapterModule = { module: 'h.0.attn.c_attn', rank: 4, inputs: 6, outputs: 8 };
const loraV: AdapterModule = { module: 'h.0.mlp.c_fc', rank: 2, inputs: 6, outputs: 12 };
const loraFactors = writeAdapter(join(dir, 'adapters/sci'), { r: 4, lora_alpha: 8, use_rslora: true, fan_in_fan_out: true, rank_pattern: { c_fc: 2 }, alpha_pattern: { 'mlp.c_fc': 3 } }, [loraQ, loraV], { seed: 7, dtype: 'BF16' });
/** Per module (as its base tensor), ‖ΔW‖ with the scales rsLoRA gives: alpha / sqrt(r). */
const loraReference = ([[loraQ, 8 / Math.sqrt(4)], [loraV, 3 / Math.sqrt(2)]] as const)
  .map(([module, scale]) => ({ name: `${module.module}.weight`, norm: Math.sqrt(deltaW(loraFactors, module, scale, true).reduce((sum, x) => sum + x * x, 0)), elements: module.inputs * module.outputs }))
  .sort((a, b) => b.norm - a.norm);

/** Hovers show 4 significant digits: the shown value is the reference rounded to them. */
function assertShown(shown: number, reference: number, what: string): void {
  assert.ok(Math.abs(shown - reference) <= 5.01e-4 * Math.abs(reference), `${what}: shown ${shown}, reference ${reference}`);
}

describe('hover over the protocol', () => {
  let client: LspTestClient;

  before(async () => {
    client = LspTestClient.start({ cwd: dir });
    await client.initialize({ rootUri: pathToFileURL(dir).href });
  });
  after(() => {
    client.kill();
    cleanup();
  });

  const hover = (docUri: string, text: string, offset: number) =>
    client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: docUri }, position: positionAt(text, offset) });

  it('shows norms being computed, then the norms, per-tensor norms and similarities of every vector', async () => {
    const docUri = uri('vectors.tvr');
    const { text } = vectorsRecipe;
    const diagnostics = await client.openAndDiagnose(docUri, text);
    assert.deepEqual(diagnostics, []);
    for (const [name, terms] of Object.entries(vectors)) {
      const { answer, earlier } = await client.poll(`the norm of ${name}`, () => hover(docUri, text, hoverAt[name]!), (h) => /\*\*L2 norm/.test(markdown(h)));
      for (const before of earlier) assert.match(markdown(before), /L2 norm: being computed \(\d+%\)/);
      const shown = parseStats(markdown(answer));
      const reference = referenceNorm(terms);
      assertShown(shown.norm, reference.norm, `norm of ${name}`);
      assert.equal(shown.parameters, String(parameterCount(terms[0]![1])));
      assert.deepEqual(shown.tensors.map((t) => t.name), reference.tensors.map((t) => t.name), `tensors of ${name}, largest first`);
      shown.tensors.forEach((t, i) => assertShown(t.norm, reference.tensors[i]!.norm, `norm of ${name}/${t.name}`));
      const peers = comparable.find((group) => group.includes(name))!.filter((other) => other !== name);
      assert.deepEqual([...shown.cosines.keys()].sort(), [...peers].sort(), `similarities shown for ${name}`);
      for (const other of peers) {
        const cosine = referenceCosine(terms, vectors[other]!);
        assert.ok(Math.abs(shown.cosines.get(other)! - cosine) <= 5.01e-4, `cosine(${name}, ${other}): shown ${shown.cosines.get(other)}, reference ${cosine}`);
      }
    }
  });

  it('reported the norm computation as work-done progress: create, begin, reports, end', async () => {
    const created = client.serverRequests.filter((r) => r === 'window/workDoneProgress/create').length;
    assert.ok(created >= 1, 'the server asked to create a progress token');
    const tokens = [...new Set(client.progress.map((p) => p.token))];
    assert.ok(tokens.length >= 1 && tokens.length <= created);
    // The norms are shown as soon as they are ready; the end of the progress follows.
    await client.waitFor('the end of every progress', () => tokens.every((t) => client.progress.some((p) => p.token === t && p.value.kind === 'end')));
    for (const token of tokens) {
      const events = client.progress.filter((p) => p.token === token).map((p) => p.value);
      assert.equal(events[0]!.kind, 'begin');
      assert.equal(events[0]!.title, 'tvr: computing vector norms');
      assert.equal(events.at(-1)!.kind, 'end');
      const reports = events.slice(1, -1);
      assert.ok(reports.every((e) => e.kind === 'report'));
      const percentages = reports.map((e) => e.percentage!);
      assert.deepEqual(percentages, [...percentages].sort((a, b) => a - b), 'percentages never go back');
      assert.ok(percentages.every((p) => p >= 0 && p <= 100));
    }
  });

  it('completion shows the norm of a vector once computed', async () => {
    const { text, offsets } = unmark(`${vectorsRecipe.text}x = tau + |`);
    const docUri = uri('complete-norm.tvr');
    await client.openAndDiagnose(docUri, text);
    const complete = () => client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: docUri }, position: positionAt(text, offsets[0]!) }) as Promise<CompletionItem[]>;
    const { answer } = await client.poll('the norm in completion', complete, (items) => /^Vector, norm /.test(items.find((i) => i.label === 'nu')?.detail ?? ''));
    const nu = answer.find((i) => i.label === 'nu')!;
    assertShown(Number(nu.detail!.replace('Vector, norm ', '')), referenceNorm(vectors.nu!).norm, 'norm of nu in completion');
  });

  const modelCases: readonly { name: string; load: string; tensors: number; parameters: number; dtypes: string; format: string; files: string[] }[] = [
    { name: 'an f32 safetensors file', load: 'base.safetensors', tensors: 4, parameters: parameterCount(m('base.safetensors')), dtypes: 'F32 x4', format: 'safetensors', files: ['base.safetensors'] },
    { name: 'an f16 file', load: 'half/base.safetensors', tensors: 4, parameters: 131, dtypes: 'F16 x4', format: 'safetensors', files: ['half/base.safetensors'] },
    { name: 'a bf16 file', load: 'bf16/tuned.safetensors', tensors: 4, parameters: 131, dtypes: 'BF16 x4', format: 'safetensors', files: ['bf16/tuned.safetensors'] },
    {
      name: 'a sharded checkpoint', load: 'sharded/model.safetensors.index.json', tensors: 4, parameters: 131, dtypes: 'F32 x4', format: 'sharded safetensors',
      files: readdirSync(join(dir, 'sharded')).map((f) => `sharded/${f}`),
    },
    {
      name: 'a TensorFlow.js model', load: 'tfjs/base/model.json', tensors: 4, parameters: parameterCount(m('tfjs/base/model.json')), dtypes: 'F32 x4', format: 'TensorFlow.js LayersModel',
      files: readdirSync(join(dir, 'tfjs/base')).map((f) => `tfjs/base/${f}`),
    },
  ];
  for (const [i, c] of modelCases.entries()) {
    it(`describes ${c.name}: tensors, parameters, dtypes, format and size`, async () => {
      const { text, offsets } = unmark(`m|odel = load("${c.load}")\nsave(model, "out/x.safetensors")\n`);
      const docUri = uri(`model${i}.tvr`);
      await client.openAndDiagnose(docUri, text);
      const h = await hover(docUri, text, offsets[0]!);
      const value = markdown(h);
      const bytes = c.files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
      const size = bytes < 1000 ? `${bytes} B` : `${(bytes / 1000).toFixed(1)} kB`;
      const inFiles = c.files.length > 1 ? ` in ${c.files.length} files` : '';
      assert.match(value, /^\*\*model\*\*: Model/);
      assert.ok(value.includes(`${c.tensors} tensors, ${c.parameters} parameters (${c.dtypes})`), value);
      assert.ok(value.includes(`${c.format}, ${size}${inFiles}: \`${join(dir, c.load)}\``), value);
      assert.deepEqual(h!.range, { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } });
    });
  }

  it('shows the norm of a LoRA adapter\'s ΔW, computed from its factors, and its largest module', async () => {
    const { text, offsets } = unmark('s|ci = lora("adapters/sci")\n');
    const docUri = uri('lora.tvr');
    await client.openAndDiagnose(docUri, text);
    const { answer, earlier } = await client.poll('the norm of the adapter', () => hover(docUri, text, offsets[0]!), (h) => /\*\*L2 norm/.test(markdown(h)));
    for (const before of earlier) assert.match(markdown(before), /L2 norm: being computed \(\d+%\)/);
    const value = markdown(answer);
    assert.match(value, /LoRA adapter, 2 modules: rank 2\/4, alpha 3\/8, scale alpha \/ sqrt\(r\) \(rsLoRA\), fan_in_fan_out/);
    const shown = parseStats(value);
    assertShown(shown.norm, Math.sqrt(loraReference.reduce((sum, t) => sum + t.norm ** 2, 0)), 'norm of the adapter');
    assert.equal(shown.parameters, String(loraReference.reduce((sum, t) => sum + t.elements, 0)));
    assert.deepEqual(shown.tensors.map((t) => t.name), loraReference.map((t) => t.name), 'modules, largest first');
    shown.tensors.forEach((t, i) => assertShown(t.norm, loraReference[i]!.norm, `norm of ${t.name}`));
    assert.deepEqual(shown.tensors.map((t) => t.elements), loraReference.map((t) => t.elements));
  });

  it('shows the exact byte size when hovering the path of a loaded checkpoint', async () => {
    const { text, offsets } = unmark('s = load("sharded/mo|del.safetensors.index.json")\nsave(s, "out/s.safetensors")\n');
    const docUri = uri('path-hover.tvr');
    await client.openAndDiagnose(docUri, text);
    const bytes = readdirSync(join(dir, 'sharded')).reduce((sum, f) => sum + statSync(join(dir, 'sharded', f)).size, 0);
    assert.equal(markdown(await hover(docUri, text, offsets[0]!)), `\`${join(dir, 'sharded/model.safetensors.index.json')}\`\n\nsafetensors-sharded, 4 tensors, ${bytes.toLocaleString('en-US')} bytes`);
  });

  it('documents a built-in on its name, and a keyword argument on its keyword', async () => {
    const { text, offsets } = unmark('base = load("base.safetensors")\nt = load("sci.safetensors") - base\nx = base + ti|es(t, dens|ity=0.3)\nsave(x, "o.safetensors")\n');
    const docUri = uri('builtin.tvr');
    await client.openAndDiagnose(docUri, text);
    const onName = await hover(docUri, text, offsets[0]!);
    assert.match(markdown(onName), /^\*\*ties\*\*\n\nTIES merging: trim, elect sign, disjoint mean\./);
    assert.match(markdown(onName), /Reference: TIES-Merging \(Yadav et al\., 2023\)/);
    assert.deepEqual(onName!.range, { start: positionAt(text, offsets[0]! - 2), end: positionAt(text, offsets[0]! + 2) });
    assert.match(markdown(await hover(docUri, text, offsets[1]!)), /^\*\*density\*\* \(argument of ties\), default 0\.2\n\nFraction of each task vector kept/);
  });

  it('answers null on whitespace and numbers', async () => {
    const { text, offsets } = unmark('x = |  0.|5\n');
    const docUri = uri('nothing.tvr');
    await client.openAndDiagnose(docUri, text);
    for (const offset of offsets) assert.equal(await hover(docUri, text, offset), null);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await client.shutdown(), 0);
  });
});

describe('norms without client progress support', () => {
  const { dir: plainDir, cleanup: cleanupPlain } = fixtureDir();
  writeRecipeWorkspace(plainDir);
  let client: LspTestClient;
  before(async () => {
    client = LspTestClient.start({ cwd: plainDir });
    const { window: _window, ...capabilities } = realisticCapabilities;
    await client.initialize({ capabilities });
  });
  after(() => {
    client.kill();
    cleanupPlain();
  });

  it('computes norms without asking the client for progress tokens', async () => {
    const { text, offsets } = unmark('base = load("base.safetensors")\nt|au = load("sci.safetensors") - base\nsave(base + tau, "o.safetensors")\n');
    const docUri = pathToFileURL(join(plainDir, 'r.tvr')).href;
    await client.openAndDiagnose(docUri, text);
    const { answer } = await client.poll('the norm', () => client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: docUri }, position: positionAt(text, offsets[0]!) }),
      (h) => /\*\*L2 norm/.test(markdown(h)));
    assertShown(parseStats(markdown(answer)).norm, referenceNorm(vectors.tau!).norm, 'norm of tau');
    assert.deepEqual(client.serverRequests.filter((r) => r === 'window/workDoneProgress/create'), []);
    assert.deepEqual(client.progress, []);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await client.shutdown(), 0);
  });
});
