// Completion and signature help over the protocol: names in scope with their types,
// built-ins as snippets, keyword arguments, choices of string arguments, file paths
// inside load("..."), and the active parameter of a call.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CompletionItemKind, CompletionRequest, InsertTextFormat, SignatureHelpRequest, type CompletionItem, type SignatureHelp, type TextEdit,
} from 'vscode-languageserver-protocol/node';
import { serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';
import { positionAt, unmark } from '../helpers/text-markers.ts';

const prelude = [
  'base = load("base.safetensors")',
  'sci = load("sci.safetensors")',
  'toxic = load("toxic.safetensors")',
  'tau = sci - base',
  'nu = toxic - base',
  'lam = sweep(0, 1, 0.1)',
  'k = 0.5',
  '',
].join('\n');

describe('completion and signature help over the protocol', () => {
  const server = serverOnRecipeWorkspace();
  const { dir } = server;
  let documents = 0;

  /** Opens `source` (one `|` marks the cursor) as a new document and asks at the cursor. */
  async function at<T>(source: string, ask: (uri: string, position: { line: number; character: number }) => Promise<T>): Promise<{ answer: T; text: string; offset: number }> {
    const { text, offsets } = unmark(source);
    const uri = pathToFileURL(join(dir, `doc${documents++}.tvr`)).href;
    await server.client.openAndDiagnose(uri, text);
    return { answer: await ask(uri, positionAt(text, offsets[0]!)), text, offset: offsets[0]! };
  }
  const complete = (source: string) => at(source, (uri, position) => server.client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position }) as Promise<CompletionItem[]>);
  const signature = (source: string) => at(source, (uri, position) => server.client.connection.sendRequest(SignatureHelpRequest.type, { textDocument: { uri }, position }));
  const labels = (items: readonly CompletionItem[], kind: CompletionItemKind) => items.filter((i) => i.kind === kind).map((i) => i.label).sort();

  it('offers the names defined above the cursor, with their types', async () => {
    const { answer } = await complete(`${prelude}x = |\nlater = 1\n`);
    const details = new Map(answer.filter((i) => i.kind === CompletionItemKind.Variable).map((i) => [i.label, i.detail]));
    assert.deepEqual([...details.keys()].sort(), ['base', 'k', 'lam', 'nu', 'sci', 'tau', 'toxic']);
    assert.equal(details.get('base'), 'Model');
    assert.equal(details.get('lam'), 'Sweep');
    assert.equal(details.get('k'), 'Scalar');
    assert.match(details.get('tau')!, /^Vector(, norm .*)?$/);
  });

  it('offers every built-in as a snippet with its signature and documentation', async () => {
    const { answer } = await complete(`${prelude}x = |`);
    const builtins = labels(answer, CompletionItemKind.Function);
    for (const name of ['dare', 'evaluate', 'exclude', 'load', 'magnitude_prune', 'mean', 'random_like', 'save', 'select', 'slerp', 'sweep', 'task', 'ties']) {
      assert.ok(builtins.includes(name), `${name} offered`);
    }
    const ties = answer.find((i) => i.label === 'ties')!;
    assert.equal(ties.detail, 'ties(vectors..., density=0.2, weights?, zero_sum="none", normalize=true, rounding="decimal") -> Vector');
    assert.equal(ties.insertTextFormat, InsertTextFormat.Snippet);
    assert.equal((ties.textEdit as TextEdit).newText, 'ties($0)');
    assert.match((ties.documentation as { value: string }).value, /^TIES merging/);
  });

  it('replaces the partly typed name', async () => {
    const { answer, text, offset } = await complete(`${prelude}x = ba|`);
    const item = answer.find((i) => i.label === 'base')!;
    assert.deepEqual((item.textEdit as TextEdit).range, { start: positionAt(text, offset - 2), end: positionAt(text, offset) });
  });

  it('sorts values of the expected type first: vectors inside ties(...)', async () => {
    const { answer } = await complete(`${prelude}x = ties(|`);
    const variables = answer.filter((i) => i.kind === CompletionItemKind.Variable).sort((a, b) => a.sortText!.localeCompare(b.sortText!));
    assert.deepEqual(variables.slice(0, 2).map((i) => i.label).sort(), ['nu', 'tau']);
  });

  const keywordCases = [
    { source: `${prelude}x = ties(tau, |`, expected: ['density=', 'normalize=', 'rounding=', 'weights=', 'zero_sum='] },
    { source: `${prelude}save(tau, "o.safetensors", |`, expected: ['dtype=', 'overwrite=', 'shard_size='] },
    { source: `${prelude}save(tau, "o.safetensors", dtype="f16", |`, expected: ['overwrite=', 'shard_size='] },
    { source: `${prelude}x = dare(tau, |`, expected: ['p=', 'rescale=', 'seed='] },
    { source: `${prelude}x = dare(tau, |seed=1)`, expected: ['p=', 'rescale='] },
  ];
  for (const c of keywordCases) {
    it(`offers the keyword arguments not given yet in ${JSON.stringify(c.source.slice(prelude.length))}`, async () => {
      const { answer } = await complete(c.source);
      assert.deepEqual(labels(answer, CompletionItemKind.Property), c.expected);
    });
  }

  it('offers the choices of a string argument after `dtype=` and inside its string', async () => {
    for (const source of [`${prelude}save(tau, "o.safetensors", dtype=|`, `${prelude}save(tau, "o.safetensors", dtype="|`, `${prelude}save(tau, "o.safetensors", dtype="b|")`]) {
      const { answer } = await complete(source);
      const values = answer.filter((i) => i.kind === CompletionItemKind.Value).map((i) => (i.textEdit as TextEdit).newText);
      assert.deepEqual(values, ['"f32"', '"f16"', '"bf16"'], source);
    }
    const { answer, text, offset } = await complete(`${prelude}save(tau, "o.safetensors", dtype="b|")`);
    // Inside the string the whole string is replaced.
    assert.deepEqual((answer[0]!.textEdit as TextEdit).range, { start: positionAt(text, offset - 2), end: positionAt(text, offset + 1) });
  });

  const pathCases = [
    {
      source: 'm = load("|',
      files: ['base.safetensors', 'base2.safetensors', 'broken.safetensors', 'other.safetensors', 'sci.safetensors', 'toxic.safetensors'],
      folders: ['bf16/', 'half/', 'sharded/', 'tfjs/'],
    },
    { source: 'm = load("sharded/|', files: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'], folders: [] },
    { source: 'm = load("tfjs/base/mo|del.json")', files: ['model.json'], folders: [] },
    { source: 'm = load("tfjs/|', files: [], folders: ['base/', 'tuned/'] },
    { source: 'm = load("nowhere/|', files: [], folders: [] },
  ];
  for (const c of pathCases) {
    it(`completes checkpoint paths in ${c.source}`, async () => {
      const { answer, text, offset } = await complete(c.source);
      assert.deepEqual(labels(answer, CompletionItemKind.File), c.files);
      assert.deepEqual(labels(answer, CompletionItemKind.Folder), c.folders);
      assert.equal(answer.length, c.files.length + c.folders.length, 'nothing but paths inside a path string');
      const typed = text.slice(0, offset);
      const replaceFrom = typed.lastIndexOf('/') > typed.indexOf('"') ? typed.lastIndexOf('/') + 1 : typed.indexOf('"') + 1;
      for (const item of answer) assert.deepEqual((item.textEdit as TextEdit).range, { start: positionAt(text, replaceFrom), end: positionAt(text, offset) });
    });
  }

  it('offers nothing inside a comment or a string that names no file', async () => {
    assert.deepEqual((await complete(`${prelude}# tau is |`)).answer, []);
    assert.deepEqual((await complete(`${prelude}x = select(tau, "enc|`)).answer, []);
  });

  const signatureCases: readonly { source: string; label: string; active: number | undefined }[] = [
    { source: `${prelude}x = ties(tau, nu, density=|`, label: 'ties(vectors..., density=0.2, weights?, zero_sum="none", normalize=true, rounding="decimal") -> Vector', active: 1 },
    { source: `${prelude}x = ties(tau, |`, label: 'ties(vectors..., density=0.2, weights?, zero_sum="none", normalize=true, rounding="decimal") -> Vector', active: 0 },
    { source: `${prelude}save(|`, label: 'save(value, path, dtype?, shard_size?, overwrite=false) -> nothing', active: 0 },
    { source: `${prelude}save(tau, |`, label: 'save(value, path, dtype?, shard_size?, overwrite=false) -> nothing', active: 1 },
    { source: `${prelude}save(tau, "o.safetensors", overwrite=tr|ue)`, label: 'save(value, path, dtype?, shard_size?, overwrite=false) -> nothing', active: 4 },
    { source: `${prelude}x = dare(tau, 0.5, |`, label: 'dare(vector, p=0.9, seed=0, rescale="inverse") -> Vector', active: 2 },
    { source: `${prelude}x = base + 0.5*mean(sci, select(toxic, "enc*"), |)`, label: 'mean(values..., weights?) -> Model for models, Vector for vectors', active: 0 },
    { source: `${prelude}x = base + 0.5*mean(sci, select(toxic, |"enc*"))`, label: 'select(value, patterns...) -> the kind of value', active: 1 },
  ];
  for (const c of signatureCases) {
    it(`shows the signature and active parameter in ${JSON.stringify(c.source.slice(prelude.length))}`, async () => {
      const help = (await signature(c.source)).answer as SignatureHelp;
      assert.equal(help.signatures.length, 1);
      assert.equal(help.signatures[0]!.label, c.label);
      assert.equal(help.activeParameter, c.active);
      assert.ok(help.signatures[0]!.parameters!.length > 0);
    });
  }

  it('shows no signature outside a call', async () => {
    assert.equal((await signature(`${prelude}x = tau + |`)).answer, null);
    assert.equal((await signature(`${prelude}x = (tau + |`)).answer, null);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await server.client.shutdown(), 0);
  });
});
