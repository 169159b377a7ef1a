// Each editor's own `initialize` capabilities replayed (test/protocol/clients/*.json; each
// fixture's `origin` says whether it was captured from the editor or transcribed from its
// source), and what the server owes that editor: snippets only where announced, VS Code's
// commands and `$(icon)` titles only in VS Code, documentation in the format the editor
// prefers, its own `tvr.runRecipe` with progress and an outcome message elsewhere, a
// checkpoint created later noticed without a file watcher, and exit at once.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CodeLensRequest, CompletionRequest, ExecuteCommandRequest, ExitNotification, HoverRequest, InsertTextFormat, MessageType, ShutdownRequest,
  SignatureHelpRequest, type ClientCapabilities, type CompletionItem, type InitializeResult, type MarkupContent, type TextEdit,
} from 'vscode-languageserver-protocol/node';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { LspTestClient, repositoryRoot } from '../helpers/lsp-client.ts';
import { writeRecipeWorkspace } from '../helpers/recipe-fixtures.ts';
import { positionAt, unmark } from '../helpers/text-markers.ts';

interface ClientFixture {
  readonly client: string;
  readonly origin: string;
  readonly initializationOptions?: unknown;
  readonly capabilities: ClientCapabilities;
}

type Format = 'markdown' | 'plaintext';

/** What each client is owed, stated here rather than derived, so that a wrong derivation fails. */
interface Expected {
  readonly snippets: boolean;
  readonly vscode: boolean;
  readonly hover: Format;
  readonly completionDocumentation: Format;
  readonly signatureDocumentation: Format;
  /** It registers a file watcher; otherwise the server polls for missing checkpoints. */
  readonly watchesFiles: boolean;
}

const clients: Record<string, Expected> = {
  'neovim-0.7': { snippets: false, vscode: false, hover: 'markdown', completionDocumentation: 'markdown', signatureDocumentation: 'markdown', watchesFiles: false },
  'emacs-eglot': { snippets: false, vscode: false, hover: 'plaintext', completionDocumentation: 'plaintext', signatureDocumentation: 'plaintext', watchesFiles: true },
  // Helix lists no completion documentation format: plain text, which every client shows as it is.
  'helix': { snippets: true, vscode: false, hover: 'markdown', completionDocumentation: 'plaintext', signatureDocumentation: 'markdown', watchesFiles: true },
  'vscode': { snippets: true, vscode: true, hover: 'markdown', completionDocumentation: 'markdown', signatureDocumentation: 'markdown', watchesFiles: true },
};

/** Markdown syntax that a plain-text client would show literally. */
function assertNoMarkdown(text: string, what: string): void {
  assert.doesNotMatch(text, /\*\*/, `${what}: bold markers`);
  assert.doesNotMatch(text, /```/, `${what}: a code fence`);
  assert.doesNotMatch(text, /`/, `${what}: code-span backquotes`);
  assert.doesNotMatch(text, /^\s*\|.*\|\s*$/m, `${what}: a pipe table row`);
}

const recipe = unmark([
  'base = load("base.safetensors")',
  'sci = load("sci.safetensors")',
  't|au = sci - base',
  'save(base + tau, "out.safetensors")',
  '',
].join('\n'));

for (const [name, expected] of Object.entries(clients)) {
  const fixture = JSON.parse(readFileSync(join(repositoryRoot, 'test', 'protocol', 'clients', `${name}.json`), 'utf8')) as ClientFixture;

  describe(`${name} (${fixture.client})`, () => {
    const { dir, cleanup } = fixtureDir();
    writeRecipeWorkspace(dir);
    const uri = (file: string) => pathToFileURL(join(dir, file)).href;
    let client: LspTestClient;
    let initialized: InitializeResult;
    let documents = 0;

    before(async () => {
      client = LspTestClient.start({ cwd: dir });
      initialized = await client.initialize({
        capabilities: fixture.capabilities,
        rootUri: pathToFileURL(dir).href,
        ...(fixture.initializationOptions !== undefined ? { initializationOptions: fixture.initializationOptions } : {}),
      });
    });
    after(() => {
      client.kill();
      cleanup();
    });

    /** Opens `source` (one `|` marks the cursor) as a new document and completes there. */
    async function completeAt(source: string): Promise<CompletionItem[]> {
      const { text, offsets } = unmark(source);
      const doc = uri(`complete${documents++}.tvr`);
      await client.openAndDiagnose(doc, text);
      return await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: doc }, position: positionAt(text, offsets[0]!) }) as CompletionItem[];
    }

    it(`announces tvr.runRecipe as a server command ${expected.vscode ? 'not to VS Code, whose extension runs recipes' : 'to an editor other than VS Code'}`, () => {
      const commands = initialized.capabilities.executeCommandProvider?.commands;
      if (expected.vscode) assert.equal(commands, undefined);
      else assert.deepEqual(commands, ['tvr.runRecipe']);
    });

    it(`completes built-ins ${expected.snippets ? 'as snippets' : 'as plain text, no snippet markers'}, with VS Code commands ${expected.vscode ? 'for re-suggesting' : 'nowhere'}`, async () => {
      const names = await completeAt('base = load("base.safetensors")\nx = ti|');
      const ties = names.find((i) => i.label === 'ties')!;
      assert.equal((ties.textEdit as TextEdit).newText, expected.snippets ? 'ties($0)' : 'ties');
      assert.equal(ties.insertTextFormat, expected.snippets ? InsertTextFormat.Snippet : InsertTextFormat.PlainText);
      const documentation = ties.documentation as MarkupContent;
      assert.equal(documentation.kind, expected.completionDocumentation);
      assert.match(documentation.value, /TIES/);
      if (expected.completionDocumentation === 'plaintext') assertNoMarkdown(documentation.value, 'ties documentation');

      const keywords = await completeAt('base = load("base.safetensors")\nsci = load("sci.safetensors") - base\nm = ties(sci, |');
      const paths = await completeAt('x = load("|');
      const retriggering = [keywords.find((i) => i.label === 'density=')!, paths.find((i) => i.label === 'sharded/')!];
      for (const item of retriggering) {
        assert.deepEqual(item.command?.command, expected.vscode ? 'editor.action.triggerSuggest' : undefined, item.label);
      }
      for (const item of [...names, ...keywords, ...paths]) {
        if (!expected.vscode) assert.equal(item.command, undefined, `${item.label} carries a command`);
        if (!expected.snippets) {
          assert.equal(item.insertTextFormat, InsertTextFormat.PlainText, item.label);
          assert.doesNotMatch((item.textEdit as TextEdit).newText, /\$\d|\$\{/, item.label);
        }
      }
    });

    it(`hovers in ${expected.hover}${expected.hover === 'plaintext' ? ': the same facts as plain lines, no Markdown syntax' : ''}`, async () => {
      const doc = uri('hover.tvr');
      await client.openAndDiagnose(doc, recipe.text);
      const position = positionAt(recipe.text, recipe.offsets[0]!);
      // The norms arrive from the background pass; the table with them is what must read well.
      const { answer } = await client.poll('the norms in the hover',
        () => client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: doc }, position }),
        (hover) => /L2 norm \d/.test((hover?.contents as MarkupContent | undefined)?.value ?? ''));
      const contents = answer!.contents as MarkupContent;
      assert.equal(contents.kind, expected.hover);
      if (expected.hover === 'plaintext') {
        assertNoMarkdown(contents.value, 'hover');
        assert.match(contents.value, /^tau: Vector\n\n {4}tau = sci - base\n/);
        assert.match(contents.value, /^tensor \(largest first\) +norm +elements$/m);
        assert.match(contents.value, /^encoder\/kernel +\d/m);
      } else {
        assert.match(contents.value, /^\*\*tau\*\*: Vector\n\n```tvr\ntau = sci - base\n```/);
        assert.match(contents.value, /^\| tensor \(largest first\) \| norm \| elements \|$/m);
      }

      const call = unmark('base = load("base.safetensors")\nsci = load("sci.safetensors") - base\nm = ties(|sci)\n');
      const signatureDoc = uri('signature.tvr');
      await client.openAndDiagnose(signatureDoc, call.text);
      const help = await client.connection.sendRequest(SignatureHelpRequest.type, { textDocument: { uri: signatureDoc }, position: positionAt(call.text, call.offsets[0]!) });
      const parameter = help!.signatures[0]!.parameters![0]!.documentation as MarkupContent;
      assert.equal(parameter.kind, expected.signatureDocumentation);
      const builtin = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: signatureDoc }, position: positionAt(call.text, call.offsets[0]! - 2) });
      const builtinContents = builtin!.contents as MarkupContent;
      assert.equal(builtinContents.kind, expected.hover);
      if (expected.hover === 'plaintext') {
        assertNoMarkdown(builtinContents.value, 'built-in hover');
        assert.match(builtinContents.value, /^ties\n\n/);
        assert.match(builtinContents.value, /^ {4}\S/m, 'the example, indented');
      }
    });

    it(`titles the code lens ${expected.vscode ? 'with $(play) icon syntax' : 'without VS Code icon syntax'}`, async () => {
      const doc = uri('lens.tvr');
      await client.openAndDiagnose(doc, recipe.text);
      const lenses = await client.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri: doc } });
      assert.equal(lenses?.length, 1);
      assert.equal(lenses![0]!.command?.command, 'tvr.runRecipe');
      assert.equal(lenses![0]!.command?.title, `${expected.vscode ? '$(play) ' : ''}Run Recipe: 1 output`);
    });

    if (!expected.vscode) {
      it('runs the recipe on tvr.runRecipe (the code lens command), reporting progress and the outcome', async () => {
        const file = join(dir, 'run.tvr');
        const text = recipe.text.replace('out.safetensors', `${name}.safetensors`);
        writeFileSync(file, text);
        await client.openAndDiagnose(pathToFileURL(file).href, text);
        const answer = await client.connection.sendRequest(ExecuteCommandRequest.type, { command: 'tvr.runRecipe', arguments: [pathToFileURL(file).href] });
        assert.equal(answer, null);
        const outcome = await client.waitFor('the outcome message', () => client.messages.find((m) => /run\.tvr/.test(m.message)), 60_000);
        assert.equal(outcome.type, MessageType.Info, outcome.message);
        assert.match(outcome.message, new RegExp(`^tvr: ran run\\.tvr in [\\d.]+ s; wrote ${name}\\.safetensors; results in run\\.results\\.json$`));
        assert.ok(existsSync(join(dir, `${name}.safetensors`)));
        assert.ok(client.serverRequests.includes('window/workDoneProgress/create'));
        const begin = client.progress.find((p) => p.value.kind === 'begin' && p.value.title === 'tvr: running run.tvr')!;
        assert.ok(begin, 'a progress begins');
        assert.ok(client.progress.some((p) => p.token === begin.token && p.value.kind === 'end'), 'and ends');
      });
    }

    if (expected.watchesFiles) {
      it('registers a watcher for checkpoint files', async () => {
        await client.waitFor('the watcher registration', () => client.serverRequests.includes('client/registerCapability'));
      });
    } else {
      it('notices a checkpoint created while the recipe is open, without a file watcher (polling)', async () => {
        assert.ok(!client.serverRequests.includes('client/registerCapability'));
        const doc = uri('later.tvr');
        const diagnostics = await client.openAndDiagnose(doc, 'later = load("later.safetensors")\nsave(later, "later-out.safetensors")\n');
        assert.deepEqual(diagnostics.map((d) => d.code), ['file-not-found']);
        const next = client.nextDiagnostics(doc);
        copyFileSync(join(dir, 'base.safetensors'), join(dir, 'later.safetensors'));
        assert.deepEqual(await next, []);
      });
    }

    it('exits at once after shutdown and exit', async (t) => {
      await client.connection.sendRequest(ShutdownRequest.type);
      const closed = new Promise<number>((resolve) => client.child.once('close', () => resolve(performance.now())));
      const sent = performance.now();
      await client.connection.sendNotification(ExitNotification.type);
      const elapsed = (await closed) - sent;
      t.diagnostic(`${name}: exit to process close ${elapsed.toFixed(1)} ms`);
      assert.equal(client.exitCode, 0);
      // The server exits within milliseconds; the margin is for a loaded test machine.
      assert.ok(elapsed < 500, `exit took ${elapsed.toFixed(1)} ms`);
    });
  });
}
