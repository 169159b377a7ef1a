// `tvr.runRecipe` for editors other than VS Code (whose extension runs recipes itself, with
// its results panel): the server runs `tvr run --json` on the saved recipe in a child
// process, so a run never blocks the request loop, reports its progress with `$/progress`
// (cancelling it interrupts the run as Ctrl-C does) and its outcome with `window/showMessage`.
// The request answers once the run has started: clients wait for it (eglot blocks Emacs).
// In an untrusted workspace the run gets `--untrusted`, which refuses external evaluator commands.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import {
  ErrorCodes, LSPErrorCodes, MessageType, ResponseError, ShowMessageNotification,
  type ExecuteCommandParams, type WorkDoneProgressServerReporter,
} from 'vscode-languageserver/node';
import { initialProgress, nextProgress, type RunProgress } from '../run/progress.ts';
import type { RecipeEvent } from '../run/run-recipe.ts';
import { guarded, type Feature, type FeatureContext } from './context.ts';
import { uriToPath } from './convert.ts';

export const runRecipeCommand = 'tvr.runRecipe';

/** Least time between two progress reports of one run (byte progress comes per chunk). */
const reportIntervalMs = 250;

export const runRecipeFeature: Feature = {
  capabilities: (client) => (client.isVsCode ? {} : { executeCommandProvider: { commands: [runRecipeCommand] } }),
  register(context) {
    const running = new Map<string, ChildProcess>();
    // A run the editor can no longer see ends with the server (the CLI tidies up on SIGTERM).
    process.once('exit', () => { for (const child of running.values()) child.kill('SIGTERM'); });
    context.connection.onExecuteCommand((params) => guarded(context, 'run recipe', async () => {
      if (params.command !== runRecipeCommand) throw new ResponseError(ErrorCodes.InvalidParams, `unknown command ${params.command}`);
      const recipe = await runnableRecipe(context, params);
      if (running.has(recipe)) throw new ResponseError(LSPErrorCodes.RequestFailed, `${basename(recipe)} is already running`);
      const progress = context.client.workDoneProgress ? await context.connection.window.createWorkDoneProgress() : undefined;
      const child = startRun(context, recipe, progress);
      running.set(recipe, child);
      child.once('close', () => running.delete(recipe));
      return null;
    }));
  },
};

/** The recipe a command means: its argument (a URI or a path), else the only open recipe; saved, without unsaved edits. */
async function runnableRecipe(context: FeatureContext, params: ExecuteCommandParams): Promise<string> {
  const argument: unknown = params.arguments?.[0];
  let uri: string;
  if (typeof argument === 'string') {
    uri = /^[a-z][a-z0-9+.-]+:/i.test(argument) ? argument : pathToFileURL(resolve(argument)).href;
  } else {
    const open = context.workspace.documents.all();
    if (open.length !== 1) throw new ResponseError(ErrorCodes.InvalidParams, `${runRecipeCommand} takes the recipe's URI or path (${open.length} recipes are open)`);
    uri = open[0]!.uri;
  }
  if (!uri.startsWith('file:')) throw new ResponseError(LSPErrorCodes.RequestFailed, 'save the recipe to a file first: a run reads it from disk');
  const recipe = uriToPath(uri);
  const saved = await readFile(recipe, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ResponseError(LSPErrorCodes.RequestFailed, `cannot read ${recipe}: ${error.code ?? error.message}`);
  });
  const document = context.workspace.documents.get(uri);
  if (document && document.getText() !== saved) throw new ResponseError(LSPErrorCodes.RequestFailed, `${basename(recipe)} has unsaved changes: save it, then run it (a run reads the file)`);
  return recipe;
}

function startRun(context: FeatureContext, recipe: string, progress: WorkDoneProgressServerReporter | undefined): ChildProcess {
  const { connection, workspace } = context;
  const name = basename(recipe);
  const flags = workspace.trusted ? (workspace.allowOutputsOutside ? ['--allow-outputs-outside'] : []) : ['--untrusted'];
  const child = spawn(process.execPath, [context.cli, 'run', recipe, '--json', ...flags], { cwd: dirname(recipe), stdio: ['ignore', 'pipe', 'pipe'] });
  let cancelled = false;
  progress?.begin(`tvr: running ${name}`, 0, initialProgress.message, true);
  progress?.token.onCancellationRequested(() => {
    cancelled = true;
    child.kill('SIGINT');
  });

  let state: RunProgress = initialProgress;
  let lastReport = { percent: 0, at: 0 };
  let failure: string | undefined;
  let outputs: readonly string[] = [];
  let done: { resultsFile: string; seconds: number } | undefined;
  const stderrTail: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = parseEvent(line);
    if (!event) return void connection.console.log(`${name}: ${line}`);
    if (event.type === 'run-error') failure = event.message;
    else if (event.type === 'run-done') done = event;
    else if (event.type === 'done') outputs = event.outputs;
    else if (event.type === 'log' || event.type === 'notice') connection.console.log(`${name}: ${event.message}`);
    const next = nextProgress(state, event);
    if (!next || !progress) return;
    state = next;
    const percent = Math.round(next.fraction * 100);
    if (percent === lastReport.percent && performance.now() - lastReport.at < reportIntervalMs) return;
    lastReport = { percent, at: performance.now() };
    progress.report(percent, next.message);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    connection.console.log(`${name}: ${line}`);
    stderrTail.push(line);
    if (stderrTail.length > 5) stderrTail.shift();
  });

  let finished = false;
  // A notification (`window/showMessage`): the connection's showInformationMessage would be a request awaiting a choice.
  const finish = (type: MessageType, message: string): void => {
    if (finished) return;
    finished = true;
    progress?.done();
    void connection.sendNotification(ShowMessageNotification.type, { type, message });
  };
  child.once('error', (error) => finish(MessageType.Error, `tvr: ${name} did not start: ${error.message}`));
  child.once('close', (code, signal) => {
    if (code === 0) {
      const wrote = outputs.length > 0 ? `; wrote ${outputs.map((o) => basename(o)).join(', ')}` : '';
      finish(MessageType.Info, `tvr: ran ${name}${done ? ` in ${done.seconds.toFixed(1)} s` : ''}${wrote}${done ? `; results in ${basename(done.resultsFile)}` : ''}`);
    } else if (cancelled) {
      finish(MessageType.Warning, `tvr: run of ${name} cancelled; no outputs were written`);
    } else {
      finish(MessageType.Error, `tvr: ${name} failed: ${failure ?? stderrTail.at(-1) ?? (code !== null ? `exit status ${code}` : `ended by ${signal}`)}`);
    }
  });
  return child;
}

/** One line of `tvr run --json`: an event, or undefined for anything else (a stray print). */
function parseEvent(line: string): RecipeEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' ? value as RecipeEvent : undefined;
  } catch {
    return undefined;
  }
}
