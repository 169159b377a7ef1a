// Server-level robustness: hundreds of random incremental edits to a live server, with
// requests interleaved, then the server's diagnostics must match an in-process analysis
// of the text the client holds (incremental sync stayed exact), and a normal request
// must still answer correctly (the server neither crashed nor hung).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import {
  CompletionRequest, DocumentSymbolRequest, HoverRequest, SemanticTokensRequest, SignatureHelpRequest, type Diagnostic,
} from 'vscode-languageserver-protocol/node';
import { HeaderCache } from '../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../server/src/language/analysis.ts';
import { seededRandom } from '../helpers/checkpoint-fixtures.ts';
import { serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';
import { tokenArbitrary, validRecipes } from '../helpers/recipe-fuzz.ts';
import { positionAt } from '../helpers/text-markers.ts';

const edits = 300;
const seed = Number(process.env['TVR_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

describe('random edits to a live server', () => {
  const server = serverOnRecipeWorkspace();
  const { dir } = server;
  const uri = pathToFileURL(join(dir, 'fuzzed.tvr')).href;

  it(`keeps in sync and answers through ${edits} random edits (seed ${seed}, rerun with TVR_FUZZ_SEED)`, async () => {
    const random = seededRandom(seed);
    const insertions = fc.sample(tokenArbitrary, { seed, numRuns: edits });
    const pick = (n: number) => Math.floor(random() * n);
    let text = validRecipes[1]!;
    let version = 1;
    await server.client.openAndDiagnose(uri, text, version);
    const answers: Promise<unknown>[] = [];
    for (let i = 0; i < edits; i++) {
      // LSP positions cannot point between the two characters of a '\r\n'.
      const representable = (offset: number) => (text[offset - 1] === '\r' && text[offset] === '\n' ? offset - 1 : offset);
      const start = representable(pick(text.length + 1));
      const end = Math.max(start, representable(Math.min(text.length, start + (random() < 0.4 ? pick(12) : 0))));
      const insert = random() < 0.15 ? '' : insertions[i]!;
      const range = { start: positionAt(text, start), end: positionAt(text, end) };
      text = text.slice(0, start) + insert + text.slice(end);
      await server.client.change(uri, ++version, [{ range, text: insert }]);
      if (i % 7 === 0) {
        // Not awaited: requests race with the edits, as they do in an editor.
        const position = positionAt(text, representable(pick(text.length + 1)));
        const textDocument = { uri };
        answers.push(
          server.client.connection.sendRequest(HoverRequest.type, { textDocument, position }),
          server.client.connection.sendRequest(CompletionRequest.type, { textDocument, position }),
          server.client.connection.sendRequest(SignatureHelpRequest.type, { textDocument, position }),
          server.client.connection.sendRequest(SemanticTokensRequest.type, { textDocument }),
          server.client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument }),
        );
      }
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 200)); // let a debounced analysis run now and then
    }
    await Promise.all(answers);

    const published = await server.client.diagnostics(uri, version);
    const expected = await analyzeFile(text, join(dir, 'fuzzed.tvr'), new HeaderCache());
    const summary = (d: Pick<Diagnostic, 'code' | 'range' | 'message'>) => `${d.code} ${JSON.stringify(d.range)} ${d.message}`;
    assert.deepEqual(published.map(summary), expected.diagnostics.map((d) => summary({ code: d.code, range: expected.lines.range(d.span), message: d.message })),
      `server and in-process analysis disagree on ${JSON.stringify(text)}`);

    // A normal recipe afterwards is analysed and answered correctly.
    const recipe = 'base = load("base.safetensors")\nx = base + load("sci.safetensors")\nsave(x, "o.safetensors")\n';
    const fresh = server.client.diagnostics(uri, version + 1);
    await server.client.change(uri, version + 1, [{ text: recipe }]);
    assert.deepEqual((await fresh).map((d) => d.code), ['model-weight-sum']);
    const hover = await server.client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 1 } });
    assert.match((hover?.contents as { value: string }).value, /^\*\*base\*\*: Model\n[\s\S]*4 tensors, 131 parameters \(F32 x4\)/);
  });

  it('shuts down and exits with 0', async () => {
    assert.equal(await server.client.shutdown(), 0);
    assert.doesNotMatch(server.client.logs.join('\n'), /failed|uncaught|unhandled/i);
  });
});
