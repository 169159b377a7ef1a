// Navigation and editing over the protocol: definition, references, rename (and refused
// renames), document symbols, quick fixes applied to the text, formatting, semantic tokens.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CodeActionRequest, DefinitionRequest, DiagnosticSeverity, DocumentFormattingRequest, DocumentSymbolRequest, PrepareRenameRequest,
  ReferencesRequest, RenameRequest, ResponseError, SemanticTokensRequest, SymbolKind,
  type CodeAction, type Diagnostic, type DocumentSymbol, type Location, type SemanticTokensLegend, type TextEdit,
} from 'vscode-languageserver-protocol/node';
import { serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';
import { applyEdits, positionAt, unmark } from '../helpers/text-markers.ts';

const loads = 'base = load("base.safetensors")\nsci = load("sci.safetensors")\ntoxic = load("toxic.safetensors")\n';

describe('navigation and editing over the protocol', () => {
  const server = serverOnRecipeWorkspace();
  const { dir } = server;
  let documents = 0;

  /** Opens `source` (with `|` markers) as a new document. */
  async function open(source: string): Promise<{ uri: string; text: string; offsets: readonly number[]; diagnostics: Diagnostic[] }> {
    const { text, offsets } = unmark(source);
    const uri = pathToFileURL(join(dir, `doc${documents++}.tvr`)).href;
    return { uri, text, offsets, diagnostics: await server.client.openAndDiagnose(uri, text) };
  }
  const range = (text: string, start: number, end: number) => ({ start: positionAt(text, start), end: positionAt(text, end) });
  const errorsAndWarnings = (diagnostics: readonly Diagnostic[]) => diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning);

  it('goes to the definition of a name from its uses and from itself; not from a built-in', async () => {
    const { uri, text, offsets } = await open(`${loads}|tau| = sci - base\nx = base + 0.5*t|au + me|an(sci, toxic) - base\nsave(x, "o.safetensors")\n`);
    const definitionAt = (offset: number) => server.client.connection.sendRequest(DefinitionRequest.type, { textDocument: { uri }, position: positionAt(text, offset) }) as Promise<Location | null>;
    const expected = { uri, range: range(text, offsets[0]!, offsets[1]!) };
    assert.deepEqual(await definitionAt(offsets[2]!), expected);
    assert.deepEqual(await definitionAt(offsets[0]! + 1), expected);
    assert.equal(await definitionAt(offsets[3]!), null);
  });

  it('finds every reference, with or without the declaration', async () => {
    const { uri, text, offsets } = await open(`${loads}|tau| = sci - base\nx = base + |t|au| + 0.5*|tau|\ny = base - |tau|\nsave(x, "o.safetensors")\nsave(y, "p.safetensors")\n`);
    const uses = [[offsets[2]!, offsets[4]!], [offsets[5]!, offsets[6]!], [offsets[7]!, offsets[8]!]].map(([s, e]) => ({ uri, range: range(text, s!, e!) }));
    const declaration = { uri, range: range(text, offsets[0]!, offsets[1]!) };
    const refs = (includeDeclaration: boolean) => server.client.connection.sendRequest(ReferencesRequest.type, { textDocument: { uri }, position: positionAt(text, offsets[3]!), context: { includeDeclaration } });
    assert.deepEqual(await refs(false), uses);
    assert.deepEqual(await refs(true), [declaration, ...uses]);
  });

  it('renames a binding everywhere; the renamed recipe checks the same', async () => {
    const { uri, text, offsets, diagnostics } = await open(`${loads}tau = sci - base\nx = base + t|au + 0.5*tau\nsave(x, "o.safetensors")\n`);
    const prepared = await server.client.connection.sendRequest(PrepareRenameRequest.type, { textDocument: { uri }, position: positionAt(text, offsets[0]!) });
    assert.deepEqual(prepared, { range: range(text, offsets[0]! - 1, offsets[0]! + 2), placeholder: 'tau' });
    const edit = await server.client.connection.sendRequest(RenameRequest.type, { textDocument: { uri }, position: positionAt(text, offsets[0]!), newName: 'science' });
    const renamed = applyEdits(text, edit!.changes![uri]!);
    assert.equal(renamed, `${loads}science = sci - base\nx = base + science + 0.5*science\nsave(x, "o.safetensors")\n`);
    await server.client.change(uri, 2, [{ text: renamed }]);
    assert.deepEqual(await server.client.diagnostics(uri, 2), diagnostics);
  });

  const refusals = [
    { newName: 'mean', message: "'mean' is a built-in function." },
    { newName: 'sci', message: "'sci' is already defined in this recipe." },
    { newName: '2tau', message: "'2tau' is not a valid name: use letters, digits and _ (not starting with a digit)." },
    { newName: 'true', message: "'true' is not a valid name: use letters, digits and _ (not starting with a digit)." },
  ];
  for (const r of refusals) {
    it(`refuses to rename to ${JSON.stringify(r.newName)} with a message`, async () => {
      const { uri, text, offsets } = await open(`${loads}tau = sci - base\nx = base + t|au\nsave(x, "o.safetensors")\n`);
      await assert.rejects(
        server.client.connection.sendRequest(RenameRequest.type, { textDocument: { uri }, position: positionAt(text, offsets[0]!), newName: r.newName }),
        (error: unknown) => error instanceof ResponseError && error.code === -32803 && error.message === r.message,
      );
    });
  }

  it('refuses to rename a built-in or a number', async () => {
    const { uri, text, offsets } = await open(`${loads}x = me|an(sci, toxic)\ny = 0.|5\n`);
    for (const offset of offsets) {
      assert.equal(await server.client.connection.sendRequest(PrepareRenameRequest.type, { textDocument: { uri }, position: positionAt(text, offset) }), null);
      await assert.rejects(server.client.connection.sendRequest(RenameRequest.type, { textDocument: { uri }, position: positionAt(text, offset), newName: 'z' }),
        (error: unknown) => error instanceof ResponseError && /Only names defined in the recipe can be renamed/.test(error.message));
    }
  });

  it('lists document symbols with kinds by value type', async () => {
    const { uri } = await open(`${loads}tau = sci - base\nlam = sweep(0, 1, 0.5)\nk = 2\nx = base + k*tau\nsave(x, "out/x.safetensors")\n`);
    const symbols = await server.client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri } }) as DocumentSymbol[];
    assert.deepEqual(symbols.map((s) => [s.name, s.kind]), [
      ['base', SymbolKind.Class], ['sci', SymbolKind.Class], ['toxic', SymbolKind.Class], ['tau', SymbolKind.Variable],
      ['lam', SymbolKind.Number], ['k', SymbolKind.Number], ['x', SymbolKind.Class], ['save x', SymbolKind.File],
    ]);
    assert.equal(symbols[7]!.detail, 'out/x.safetensors');
    assert.deepEqual(symbols[3]!.selectionRange, { start: { line: 3, character: 0 }, end: { line: 3, character: 3 } });
    assert.deepEqual(symbols[3]!.range, { start: { line: 3, character: 0 }, end: { line: 3, character: 16 } });
  });

  const quickFixes = [
    { recipe: `${loads}x = sci + toxic\nsave(x, "o.safetensors")\n`, code: 'model-weight-sum', title: 'Average them: mean(sci, toxic)', fixed: `${loads}x = mean(sci, toxic)\nsave(x, "o.safetensors")\n` },
    { recipe: `${loads}x = base + 0.5*(toxic - bsae) + (sci - base)\nsave(x, "o.safetensors")\n`, code: 'undefined-name', title: "Change to 'base'", fixed: `${loads}x = base + 0.5*(toxic - base) + (sci - base)\nsave(x, "o.safetensors")\n` },
    { recipe: `${loads}x = base + ties(sci, toxic - base)\nsave(x, "o.safetensors")\n`, code: 'type-mismatch', title: 'Use the task vector sci - base', fixed: `${loads}x = base + ties(sci - base, toxic - base)\nsave(x, "o.safetensors")\n` },
    { recipe: `${loads}x = maen(sci, toxic)\nsave(x, "o.safetensors")\n`, code: 'unknown-function', title: "Change to 'mean'", fixed: `${loads}x = mean(sci, toxic)\nsave(x, "o.safetensors")\n` },
  ];
  for (const q of quickFixes) {
    it(`quick fix "${q.title}" repairs ${q.code}: the fixed recipe checks clean`, async () => {
      const { uri, text, diagnostics } = await open(q.recipe);
      const target = diagnostics.find((d) => d.code === q.code);
      assert.ok(target, `a ${q.code} diagnostic in ${JSON.stringify(diagnostics)}`);
      const actions = await server.client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: target.range, context: { diagnostics: [target] } }) as CodeAction[];
      const action = actions.find((a) => a.title === q.title);
      assert.ok(action, `"${q.title}" among ${JSON.stringify(actions.map((a) => a.title))}`);
      assert.equal(action.kind, 'quickfix');
      assert.deepEqual(action.diagnostics?.map((d) => d.code), [q.code]);
      const fixed = applyEdits(text, action.edit!.changes![uri]!);
      assert.equal(fixed, q.fixed);
      const after = server.client.diagnostics(uri, 2);
      await server.client.change(uri, 2, [{ text: fixed }]);
      assert.deepEqual(errorsAndWarnings(await after), []);
    });
  }

  it('offers no quick fix where there is no diagnostic', async () => {
    const { uri, text } = await open(`${loads}x = mean(sci, toxic, base)\nsave(x, "o.safetensors")\n`);
    const actions = await server.client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: range(text, 0, text.length), context: { diagnostics: [] } });
    assert.deepEqual(actions, []);
  });

  it('formats a recipe into the canonical layout, and a formatted recipe not at all', async () => {
    const messy = 'base=load( "base.safetensors" )\n  sci =load("sci.safetensors")# the science model\n\n\n\nx=sci+ 0.5 *( sci-base)\nsave(x,"o.safetensors" ,dtype = "bf16")\n\n';
    const canonical = 'base = load("base.safetensors")\nsci = load("sci.safetensors")  # the science model\n\nx = sci + 0.5*(sci - base)\nsave(x, "o.safetensors", dtype="bf16")\n';
    const { uri, text } = await open(messy);
    const options = { tabSize: 4, insertSpaces: true };
    const edits = await server.client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri }, options }) as TextEdit[];
    assert.equal(applyEdits(text, edits), canonical);
    const formatted = await open(canonical);
    assert.deepEqual(await server.client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri: formatted.uri }, options }), []);
  });

  it('does not format a recipe with syntax errors', async () => {
    const { uri } = await open('base=load( "base.safetensors"\nx = 1 +\n');
    assert.deepEqual(await server.client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri }, options: { tabSize: 4, insertSpaces: true } }), []);
  });

  it('colours names by what they hold: semantic tokens decode to the expected types and modifiers', async () => {
    const { uri } = await open('base = load("base.safetensors")\ntau = load("sci.safetensors") - base\nlam = sweep(0, 1, 0.5)\nx = base + lam*ties(tau, density=0.5)\n');
    const legend = server.initialized.capabilities.semanticTokensProvider!.legend as SemanticTokensLegend;
    const { data } = await server.client.connection.sendRequest(SemanticTokensRequest.type, { textDocument: { uri } }) as { data: number[] };
    const decoded: [number, number, number, string, string[]][] = [];
    let line = 0;
    let character = 0;
    for (let i = 0; i < data.length; i += 5) {
      line += data[i]!;
      character = data[i]! === 0 ? character + data[i + 1]! : data[i + 1]!;
      const modifiers = legend.tokenModifiers.filter((_, bit) => (data[i + 4]! & (1 << bit)) !== 0);
      decoded.push([line, character, data[i + 2]!, legend.tokenTypes[data[i + 3]!]!, modifiers]);
    }
    assert.deepEqual(decoded, [
      [0, 0, 4, 'type', ['declaration']],
      [0, 7, 4, 'function', ['defaultLibrary']],
      [1, 0, 3, 'variable', ['declaration']],
      [1, 6, 4, 'function', ['defaultLibrary']],
      [1, 32, 4, 'type', []],
      [2, 0, 3, 'parameter', ['declaration']],
      [2, 6, 5, 'function', ['defaultLibrary']],
      [3, 0, 1, 'type', ['declaration']],
      [3, 4, 4, 'type', []],
      [3, 11, 3, 'parameter', []],
      [3, 15, 4, 'function', ['defaultLibrary']],
      [3, 20, 3, 'variable', []],
      [3, 25, 7, 'parameter', ['readonly']],
    ]);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await server.client.shutdown(), 0);
  });
});
