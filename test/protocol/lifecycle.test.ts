// The server's life over the protocol: initialize (capabilities), requests on closed or
// unknown documents, malformed messages, trace-only timings, cancellation, the crash
// policy, shutdown and exit codes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CancellationTokenSource, CompletionRequest, DocumentFormattingRequest, DocumentSymbolRequest, ErrorCodes, ExitNotification, HoverRequest,
  LSPErrorCodes, ResponseError, SemanticTokensRequest, SetTraceNotification, TextDocumentSyncKind,
} from 'vscode-languageserver-protocol/node';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { LspTestClient, serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';
import { writeRecipeWorkspace } from '../helpers/recipe-fixtures.ts';

const recipe = 'base = load("base.safetensors")\ntau = load("sci.safetensors") - base\nsave(base + tau, "o.safetensors")\n';

describe('server lifecycle over the protocol', () => {
  const server = serverOnRecipeWorkspace();
  const { dir } = server;
  const uri = (name: string) => pathToFileURL(join(dir, name)).href;

  it('announces its name and every feature it implements', () => {
    const c = server.initialized.capabilities;
    assert.equal(server.initialized.serverInfo?.name, 'tvr');
    assert.match(server.initialized.serverInfo?.version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(c.textDocumentSync, TextDocumentSyncKind.Incremental);
    assert.deepEqual(c.completionProvider?.triggerCharacters?.slice().sort(), ['"', '(', ',', '/', '=', '['].sort());
    assert.equal(c.hoverProvider, true);
    assert.deepEqual(c.signatureHelpProvider?.triggerCharacters, ['(', ',']);
    assert.equal(c.definitionProvider, true);
    assert.equal(c.referencesProvider, true);
    assert.deepEqual(c.renameProvider, { prepareProvider: true });
    assert.equal(c.documentSymbolProvider, true);
    assert.deepEqual(c.codeActionProvider, { codeActionKinds: ['quickfix'] });
    assert.equal(c.documentFormattingProvider, true);
    const semantic = c.semanticTokensProvider!;
    assert.equal(semantic.full, true);
    assert.ok(semantic.legend.tokenTypes.includes('type') && semantic.legend.tokenTypes.includes('function'));
  });

  it('registers a watcher for checkpoint files, as the server.client allows dynamic registration', async () => {
    await server.client.waitFor('the watcher registration', () => server.client.serverRequests.includes('client/registerCapability'));
  });

  it('answers requests on a document it never saw with empty results', async () => {
    const textDocument = { uri: uri('never-opened.tvr') };
    const position = { line: 0, character: 0 };
    assert.equal(await server.client.connection.sendRequest(HoverRequest.type, { textDocument, position }), null);
    assert.deepEqual(await server.client.connection.sendRequest(CompletionRequest.type, { textDocument, position }), []);
    assert.deepEqual(await server.client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument }), []);
    assert.deepEqual(await server.client.connection.sendRequest(SemanticTokensRequest.type, { textDocument }), { data: [] });
    assert.deepEqual(await server.client.connection.sendRequest(DocumentFormattingRequest.type, { textDocument, options: { tabSize: 4, insertSpaces: true } }), []);
  });

  it('answers requests on a closed document with empty results, and reopens it fresh', async () => {
    const name = uri('closed.tvr');
    await server.client.openAndDiagnose(name, recipe);
    await server.client.close(name);
    const position = { line: 1, character: 1 };
    assert.equal(await server.client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: name }, position }), null);
    const diagnostics = await server.client.openAndDiagnose(name, 'x = bsae\n', 7);
    assert.deepEqual(diagnostics.map((d) => d.code).sort(), ['undefined-name', 'unused-binding']);
  });

  it('answers a request whose parameters are malformed with an error, and keeps serving', async () => {
    await assert.rejects(server.client.connection.sendRequest('textDocument/hover', {}), (error: unknown) => error instanceof ResponseError);
    assert.equal(await server.client.connection.sendRequest('textDocument/hover', { textDocument: { uri: 42 }, position: 'here' }), null);
    await assert.rejects(server.client.connection.sendRequest('textDocument/hover', null), (error: unknown) => error instanceof ResponseError && error.code === -32602);
    await assert.rejects(server.client.connection.sendRequest('tvr/noSuchMethod', {}), (error: unknown) => error instanceof ResponseError && error.code === -32601);
    await assertStillServing(server.client, uri('after-bad-params.tvr'));
  });

  it('survives a message that is not JSON, and one that is not JSON-RPC', async () => {
    const garbage = '{"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": {oops';
    server.client.writeRaw(`Content-Length: ${Buffer.byteLength(garbage)}\r\n\r\n${garbage}`);
    const notRpc = '[1, 2, 3]';
    server.client.writeRaw(`Content-Length: ${Buffer.byteLength(notRpc)}\r\n\r\n${notRpc}`);
    await assertStillServing(server.client, uri('after-garbage.tvr'));
    assert.equal(server.client.exitCode, undefined);
  });

  it('answers positions beyond the end of the document without failing', async () => {
    const name = uri('positions.tvr');
    await server.client.openAndDiagnose(name, recipe);
    for (const position of [{ line: 99, character: 0 }, { line: 0, character: 999 }, { line: 2, character: 10_000 }]) {
      await server.client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: name }, position });
      assert.ok(Array.isArray(await server.client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: name }, position })));
    }
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await server.client.shutdown(), 0);
    assert.doesNotMatch(server.client.stderr, /Error|uncaught|unhandled/i);
  });
});

describe('analysis timings in the trace only', () => {
  const server = serverOnRecipeWorkspace();

  it('logs no timing while tracing is off, and traces one per analysis once the client turns tracing on', async () => {
    const { client, dir } = server;
    await client.openAndDiagnose(pathToFileURL(join(dir, 'quiet.tvr')).href, recipe);
    assert.deepEqual([...client.logs, ...client.traces].filter((m) => /analysed/.test(m)), []);
    await client.connection.sendNotification(SetTraceNotification.type, { value: 'verbose' });
    const traced = pathToFileURL(join(dir, 'traced.tvr')).href;
    await client.openAndDiagnose(traced, recipe);
    await client.waitFor('the trace', () => client.traces.find((m) => m.startsWith(`analysed ${traced} v1 in `)));
    assert.deepEqual(client.logs.filter((m) => /analysed/.test(m)), []);
  });
});

describe('cancellation', () => {
  const server = serverOnRecipeWorkspace();

  it('answers a request cancelled while its analysis runs with RequestCancelled', async () => {
    const { client, dir } = server;
    const doc = pathToFileURL(join(dir, 'cancelled.tvr')).href;
    await client.openAndDiagnose(doc, recipe);
    // The edit schedules an analysis; the hover waits for it, and is cancelled meanwhile.
    await client.change(doc, 2, [{ text: `${recipe}# edited\n` }]);
    const source = new CancellationTokenSource();
    const hover = client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: doc }, position: { line: 0, character: 1 } }, source.token);
    source.cancel();
    await assert.rejects(hover, (error: unknown) => error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled);
    await assertStillServing(client, pathToFileURL(join(dir, 'after-cancel.tvr')).href);
  });
});

describe('crash policy', () => {
  // A position the server cannot read makes the hover handler throw: a stand-in for a bug.
  const failingHover = (client: LspTestClient, uri: string) =>
    client.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: null });

  /** A fresh server (each test may end it) with a recipe open. */
  async function serverWithRecipe(t: TestContext): Promise<{ client: LspTestClient; dir: string; doc: string }> {
    const { dir, cleanup } = fixtureDir();
    writeRecipeWorkspace(dir);
    const client = LspTestClient.start({ cwd: dir });
    t.after(() => { client.kill(); cleanup(); });
    await client.initialize({ rootUri: pathToFileURL(dir).href });
    const doc = pathToFileURL(join(dir, 'r.tvr')).href;
    await client.openAndDiagnose(doc, recipe);
    return { client, dir, doc };
  }

  it('answers a request that throws with an error and keeps serving; a success resets the count', async (t) => {
    const { client, dir, doc } = await serverWithRecipe(t);
    await assert.rejects(failingHover(client, doc), (error: unknown) => error instanceof ResponseError && error.code === ErrorCodes.InternalError && /^tvr: hover failed: /.test(error.message));
    await assertStillServing(client, pathToFileURL(join(dir, 'between.tvr')).href);
    await assert.rejects(failingHover(client, doc), ResponseError);
    await assertStillServing(client, pathToFileURL(join(dir, 'after.tvr')).href);
    assert.equal(client.exitCode, undefined);
    assert.match(client.logs.join('\n'), /hover failed: TypeError/);
  });

  it('ends the process (non-zero exit) at the second failure in a row, after answering it', async (t) => {
    const { client, doc } = await serverWithRecipe(t);
    await assert.rejects(failingHover(client, doc), ResponseError);
    await assert.rejects(failingHover(client, doc), ResponseError);
    assert.equal(await client.exited, 70);
    assert.match(client.logs.join('\n'), /a second failure in a row: the server exits/);
  });
});

describe('exit without shutdown', () => {
  it('exits with 1, as the protocol asks', async (t) => {
    const client = LspTestClient.start();
    t.after(() => client.kill());
    await client.initialize();
    await client.connection.sendNotification(ExitNotification.type);
    assert.equal(await client.exited, 1);
  });
});

/** A normal document still gets diagnostics and a hover. */
async function assertStillServing(client: LspTestClient, docUri: string): Promise<void> {
  const diagnostics = await client.openAndDiagnose(docUri, recipe);
  assert.deepEqual(diagnostics, []);
  const hover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: docUri }, position: { line: 0, character: 1 } });
  assert.match((hover?.contents as { value: string }).value, /^\*\*base\*\*: Model/);
}
