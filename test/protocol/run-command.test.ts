// The server's own `tvr.runRecipe` (for editors other than VS Code) over the protocol:
// which recipe it runs (its URI, a path, or the only open recipe), what it refuses (unsaved
// edits, an external evaluator in an untrusted workspace, as `tvr run --untrusted`), and
// cancelling a run through its progress.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  ErrorCodes, ExecuteCommandRequest, LSPErrorCodes, MessageType, ResponseError, WorkDoneProgressCancelNotification,
} from 'vscode-languageserver-protocol/node';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { LspTestClient } from '../helpers/lsp-client.ts';
import { makeScenario } from '../unit/run/scenario.ts';

/** Initialises a server as an editor other than VS Code, with `initializationOptions` as given. */
function serverIn(dir: string, initializationOptions?: unknown): () => LspTestClient {
  let client: LspTestClient | undefined;
  before(async () => {
    client = LspTestClient.start({ cwd: dir });
    await client.initialize({ rootUri: pathToFileURL(dir).href, ...(initializationOptions !== undefined ? { initializationOptions } : {}) });
  });
  after(() => client?.kill());
  return () => client!;
}

const run = (client: LspTestClient, ...args: unknown[]) =>
  client.connection.sendRequest(ExecuteCommandRequest.type, { command: 'tvr.runRecipe', arguments: args });

const saveRecipe = (name: string) => `a = load("models/a/model.json")\nsave(a, "out/${name}.safetensors")\n`;
/** A run that lasts until cancelled: its external evaluator sleeps. */
const sleepingRecipe = 'a = load("models/a/model.json")\nt = task("data/a.safetensors", head=a, command="sleep 60")\nevaluate(a, targets=[t])\n';

async function outcome(client: LspTestClient, name: string) {
  return client.waitFor(`the outcome of ${name}`, () => client.messages.find((m) => m.message.includes(name)), 60_000);
}

describe('tvr.runRecipe in a trusted workspace', () => {
  const { dir, cleanup } = fixtureDir();
  makeScenario(dir);
  after(cleanup);
  const server = serverIn(dir);

  it('runs the only open recipe when given no argument, and a recipe given by path', async () => {
    const client = server();
    const only = join(dir, 'only.tvr');
    writeFileSync(only, saveRecipe('only'));
    await client.openAndDiagnose(pathToFileURL(only).href, saveRecipe('only'));
    assert.equal(await run(client), null);
    assert.equal((await outcome(client, 'only.tvr')).type, MessageType.Info);
    assert.ok(existsSync(join(dir, 'out', 'only.safetensors')));

    const byPath = join(dir, 'by-path.tvr');
    writeFileSync(byPath, saveRecipe('by-path'));
    await run(client, byPath);
    assert.equal((await outcome(client, 'by-path.tvr')).type, MessageType.Info);
    assert.ok(existsSync(join(dir, 'out', 'by-path.safetensors')));
  });

  it('asks which recipe when several are open and none is named', async () => {
    const client = server();
    const other = join(dir, 'other.tvr');
    writeFileSync(other, saveRecipe('other'));
    await client.openAndDiagnose(pathToFileURL(other).href, saveRecipe('other'));
    await assert.rejects(run(client), (error: unknown) => error instanceof ResponseError && error.code === ErrorCodes.InvalidParams && /takes the recipe's URI or path \(2 recipes are open\)/.test(error.message));
  });

  it('refuses a recipe with unsaved edits, which the run would not see', async () => {
    const client = server();
    const file = join(dir, 'edited.tvr');
    writeFileSync(file, saveRecipe('edited'));
    await client.openAndDiagnose(pathToFileURL(file).href, `${saveRecipe('edited')}# not saved yet\n`);
    await assert.rejects(run(client, pathToFileURL(file).href), (error: unknown) => error instanceof ResponseError && error.code === LSPErrorCodes.RequestFailed && /edited\.tvr has unsaved changes/.test(error.message));
    assert.equal(existsSync(join(dir, 'out', 'edited.safetensors')), false);
  });

  it('cancels a run through its progress, as Ctrl-C does', async () => {
    const client = server();
    const file = join(dir, 'sleeping.tvr');
    writeFileSync(file, sleepingRecipe);
    await run(client, pathToFileURL(file).href);
    const begin = await client.waitFor('the run\'s progress', () => client.progress.find((p) => p.value.kind === 'begin' && p.value.title === 'tvr: running sleeping.tvr'));
    // Once the run has started (its report of what it will evaluate), cancel.
    await client.waitFor('the run\'s start', () => client.progress.some((p) => p.token === begin.token && /1 evaluation/.test(p.value.message ?? '')));
    await client.connection.sendNotification(WorkDoneProgressCancelNotification.type, { token: begin.token });
    const message = await outcome(client, 'sleeping.tvr');
    assert.equal(message.type, MessageType.Warning);
    assert.equal(message.message, 'tvr: run of sleeping.tvr cancelled; no outputs were written');
  });
});

describe('tvr.runRecipe in an untrusted workspace', () => {
  const { dir, cleanup } = fixtureDir();
  makeScenario(dir);
  after(cleanup);
  const server = serverIn(dir, { trusted: false });

  it('refuses an external evaluator command, as `tvr run --untrusted` does', async () => {
    const client = server();
    const file = join(dir, 'external.tvr');
    writeFileSync(file, sleepingRecipe);
    await run(client, pathToFileURL(file).href);
    const message = await outcome(client, 'external.tvr');
    assert.equal(message.type, MessageType.Error);
    assert.match(message.message, /^tvr: external\.tvr failed: line 2: task 't' runs an external evaluator command, and this workspace is not trusted/);
  });
});
