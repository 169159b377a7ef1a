// The language server on a 50,000-line recipe: the keystroke that un-defines a name used
// on every line is answered (diagnostics with "did you mean", then completion), where it
// used to take minutes; and a recipe over the size limit gets its one diagnostic. The cost
// per undefined name is asserted by counting work in test/unit/robustness/limits.test.ts;
// here the bounds are generous (a shared, loaded machine) and only say that answers come.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CompletionRequest, type CompletionItem } from 'vscode-languageserver-protocol/node';
import { serverOnRecipeWorkspace } from '../helpers/lsp-client.ts';

/** Before the fix this took minutes; a minute leaves room for a slow machine. */
const answerBoundMs = 60_000;
const lines = 50_000;

function id(i: number): string {
  return i.toString(36).padStart(4, '0');
}

describe('a 50,000-line recipe over the protocol', () => {
  const server = serverOnRecipeWorkspace();
  const uri = () => pathToFileURL(join(server.dir, 'long.tvr')).href;

  it('answers the keystroke that un-defines a name used on every line, with diagnostics and completion', { timeout: 4 * answerBoundMs }, async () => {
    const text = `x0000=1\n${Array.from({ length: lines - 1 }, (_, i) => `x${id(i + 1)}=x${id(i)}+x0000`).join('\n')}\n`;
    const first = await server.client.openAndDiagnose(uri(), text);
    assert.deepEqual(first.filter((d) => d.severity === 1), []);
    // One keystroke: x0000 becomes y0000, and every line's use of x0000 is undefined.
    await server.client.change(uri(), 2, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, text: 'y' }]);
    const second = await server.client.diagnostics(uri(), 2, answerBoundMs);
    const undefinedNames = second.filter((d) => d.code === 'undefined-name');
    assert.equal(undefinedNames.length, lines);
    assert.equal(undefinedNames.at(-1)!.message, "'x0000' is not defined; did you mean 'y0000'?");
    const items = await server.client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: uri() }, position: { line: lines - 1, character: 6 } }) as CompletionItem[];
    assert.ok(items.some((i) => i.label === 'x0002'));
  });

  it('gives a recipe over the size limit one diagnostic', async () => {
    const large = pathToFileURL(join(server.dir, 'large.tvr')).href;
    const diagnostics = await server.client.openAndDiagnose(large, `x = ${'a+'.repeat(2_500_000)}a\n`);
    assert.deepEqual(diagnostics.map((d) => [d.code, d.range.start.line, d.range.start.character]), [['recipe-too-large', 0, 0]]);
  });
});
