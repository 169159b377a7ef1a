// `tvr.runRecipe`: from the command palette, the editor title and the server's code lens
// (which passes the document URI as a string). Saves the recipe, runs the CLI in a child
// process with a cancellable progress notification, logs to the `tvr` channel, streams the
// results into the recipe's panel, and reports a failure with a way to the log.
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { Range } from '../../../server/src/language/program.ts';
import { RESULTS_SCHEMA_VERSION, type RunResults } from '../../../server/src/results/schema.ts';
import { allowOutputsOutside } from '../language-client.ts';
import type { ResultsPanels } from '../results-panel.ts';
import type { CliEvent } from './cli-events.ts';
import { CliRun, type CliExit, type CliRunRequest, type RunBackend } from './cli-process.ts';
import { initialProgress, nextProgress, type RunProgress } from '../../../server/src/run/progress.ts';

export interface RunnerOptions {
  readonly cli: string;
  readonly output: vscode.LogOutputChannel;
  readonly panels: ResultsPanels;
}

/** Why a run failed; the engine's error events carry the recipe range of the statement that failed. */
interface RunFailure {
  readonly message: string;
  readonly range?: Range;
}

interface ActiveRun {
  readonly cli: CliRun;
  readonly name: string;
  /** Settles once the run has exited and its outcome was reported. */
  readonly finished: Promise<void>;
}

/** What a run has learnt from its events so far. */
interface RunState {
  progress: RunProgress;
  failure: RunFailure | undefined;
  resultsFile: string | undefined;
  finalStatus: RunResults['status'] | undefined;
  /** The progress notification, once VS Code has shown it. */
  report: ((value: { increment?: number; message?: string }) => void) | undefined;
}

const backendSetting = 'run.backend';
const syncSetting = 'run.syncOutputs';

/** The recipe a command invocation means: its argument, else the active .tvr editor. */
function recipeUri(target: unknown): vscode.Uri | undefined {
  if (target instanceof vscode.Uri) return target;
  if (typeof target === 'string') return vscode.Uri.parse(target);
  const document = vscode.window.activeTextEditor?.document;
  return document?.languageId === 'tvr' ? document.uri : undefined;
}

/** Evaluations at once: the resource's tvr.run.jobs, a positive integer. */
function configuredJobs(uri: vscode.Uri): number {
  const value = vscode.workspace.getConfiguration('tvr', uri).get<number>('run.jobs', 1);
  return Number.isSafeInteger(value) && value > 0 ? value : 1;
}

/** The Slurm executor, from user settings only (application scope: a workspace cannot send jobs to a cluster). */
function configuredCluster(): CliRunRequest['cluster'] {
  const settings = vscode.workspace.getConfiguration('tvr');
  if (settings.get<string>('run.executor', 'local') !== 'slurm') return undefined;
  return { sharedDir: settings.get<string>('run.sharedDir', ''), slurmArgs: settings.get<string>('run.slurmArgs', '') };
}

function configuredBackend(uri: vscode.Uri): RunBackend {
  const value = vscode.workspace.getConfiguration('tvr', uri).get<string>(backendSetting, 'auto');
  return value === 'gpu' || value === 'cpu' || value === 'webgpu' ? value : 'auto';
}

/** Results to show when the CLI ended without saying how: the last ones with the outcome, or a bare record of it. */
function endedResults(recipePath: string, last: RunResults | undefined, status: 'failed' | 'cancelled', error: string | undefined): RunResults {
  const base: RunResults = last ?? {
    schemaVersion: RESULTS_SCHEMA_VERSION, tvrVersion: '', recipe: { path: recipePath, sha256: '' }, startedAt: new Date().toISOString(),
    status, backend: { name: 'none', reason: 'the run ended before choosing a backend' }, sweeps: [], evaluations: [], outputs: [], notes: [],
  };
  return { ...base, status, finishedAt: new Date().toISOString(), ...(error !== undefined && { error }) };
}

function exitDescription(exit: CliExit): string {
  if (exit.spawnError !== undefined) return `the tvr CLI could not be started: ${exit.spawnError}`;
  if (exit.signal) return `tvr run was ended by ${exit.signal}`;
  return `tvr run exited with code ${exit.code ?? 'unknown'}`;
}

export class RecipeRunner implements vscode.Disposable {
  readonly #options: RunnerOptions;
  readonly #runs = new Map<string, ActiveRun>();

  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  async run(target: unknown): Promise<void> {
    const uri = recipeUri(target);
    if (!uri) {
      void vscode.window.showErrorMessage('tvr: open a .tvr recipe to run it.');
      return;
    }
    if (uri.scheme !== 'file') {
      void vscode.window.showErrorMessage(`tvr: ${basename(uri.path)} is not a file on disk (${uri.scheme}); save it as a .tvr file to run it.`);
      return;
    }
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (document?.isDirty && !(await document.save())) {
      void vscode.window.showWarningMessage(`tvr: ${basename(uri.fsPath)} was not saved, so it was not run.`);
      return;
    }
    const recipe = uri.fsPath;
    const active = this.#runs.get(recipe);
    if (active && !(await this.#resolveConflict(recipe, active))) return;
    // Another invocation may have started this recipe while we awaited the save or the question.
    if (this.#runs.has(recipe)) {
      this.#options.panels.show(recipe);
      return;
    }
    await this.#start(uri);
  }

  dispose(): void {
    for (const run of this.#runs.values()) void run.cli.cancel();
    this.#runs.clear();
  }

  /** A second run of a running recipe: show it, or cancel it and go on. True to start a new run. */
  async #resolveConflict(recipe: string, active: ActiveRun): Promise<boolean> {
    const choice = await vscode.window.showWarningMessage(`tvr: ${active.name} is already running.`, 'Show Results', 'Cancel It and Run Again');
    if (choice === 'Show Results') this.#options.panels.show(recipe);
    if (choice !== 'Cancel It and Run Again') return false;
    await active.cli.cancel();
    await active.finished;
    return true;
  }

  async #start(uri: vscode.Uri): Promise<void> {
    const { output, panels } = this.#options;
    const recipe = uri.fsPath;
    const name = basename(recipe);
    const trusted = vscode.workspace.isTrusted;
    const backend = configuredBackend(uri);
    const syncOutputs = vscode.workspace.getConfiguration('tvr', uri).get<boolean>(syncSetting, false) === true;
    // A user setting only (package.json: application scope): a workspace cannot turn it on; never passed when untrusted.
    const outsideAllowed = allowOutputsOutside();
    const cluster = configuredCluster();
    const state: RunState = { progress: initialProgress, failure: undefined, resultsFile: undefined, finalStatus: undefined, report: undefined };

    panels.show(recipe);
    panels.post(recipe, { type: 'progress', message: `starting ${name}`, fraction: 0 });
    output.info(`run ${recipe} (backend ${backend}${trusted ? '' : ', untrusted workspace: external evaluators refused, outputs only inside its folder'}${trusted && outsideAllowed ? ', outputs allowed outside the recipe\'s folder' : ''})`);
    const cli = new CliRun(
      { node: process.execPath, cli: this.#options.cli, recipe, backend, trusted, syncOutputs, allowOutputsOutside: outsideAllowed, jobs: configuredJobs(uri), ...(cluster ? { cluster } : {}), env: process.env },
      { onEvent: (event) => this.#onEvent(recipe, state, event), onText: (line, stream) => (stream === 'stderr' ? output.warn(line) : output.info(line)) },
    );
    const finished = this.#supervise(recipe, name, cli, state);
    this.#runs.set(recipe, { cli, name, finished });
    await finished;
  }

  /** The progress notification for the run's lifetime, then the outcome. */
  async #supervise(recipe: string, name: string, cli: CliRun, state: RunState): Promise<void> {
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `tvr: running ${name}`, cancellable: true },
        async (reporter, token) => {
          state.report = (value) => reporter.report(value);
          reporter.report({ increment: state.progress.fraction * 100, message: state.progress.message });
          const cancellation = token.onCancellationRequested(() => {
            reporter.report({ message: 'cancelling' });
            this.#options.output.info(`cancelling the run of ${recipe}`);
            void cli.cancel();
          });
          try {
            const exit = await cli.exited;
            this.#finish(recipe, name, exit, state);
          } finally {
            cancellation.dispose();
          }
        },
      );
    } finally {
      if (this.#runs.get(recipe)?.cli === cli) this.#runs.delete(recipe);
    }
  }

  #onEvent(recipe: string, state: RunState, event: CliEvent): void {
    const { panels } = this.#options;
    this.#log(event);
    const next = nextProgress(state.progress, event);
    if (next) {
      state.report?.({ increment: (next.fraction - state.progress.fraction) * 100, message: next.message });
      // Final results end the panel's progress line; what the CLI says after them is for the notification only.
      if (state.finalStatus === undefined || state.finalStatus === 'running') panels.post(recipe, { type: 'progress', message: next.message, fraction: next.fraction });
      state.progress = next;
    }
    if (event.type === 'results') {
      state.finalStatus = event.results.status;
      panels.post(recipe, { type: 'results', results: event.results });
    } else if (event.type === 'run-error') {
      state.failure = { message: event.message };
    } else if (event.type === 'error') {
      state.failure = { message: event.message, ...(event.range && { range: event.range }) };
    } else if (event.type === 'run-done') {
      state.resultsFile = event.resultsFile;
    }
  }

  #finish(recipe: string, name: string, exit: CliExit, outcome: RunState): void {
    const { output, panels } = this.#options;
    panels.clearProgress(recipe);
    const ended = outcome.finalStatus !== undefined && outcome.finalStatus !== 'running';
    if (exit.cancelled) {
      output.info(`the run of ${recipe} was cancelled (${exitDescription(exit)})`);
      if (!ended) panels.post(recipe, { type: 'results', results: endedResults(recipe, panels.results(recipe), 'cancelled', undefined) });
      void vscode.window.setStatusBarMessage(`tvr: the run of ${name} was cancelled`, 5000);
      return;
    }
    const succeeded = exit.code === 0 && exit.spawnError === undefined && !outcome.failure && outcome.finalStatus !== 'failed';
    if (succeeded) {
      if (!ended) output.warn(`tvr run finished without final results for ${recipe}; the panel shows the last it received`);
      output.info(`the run of ${recipe} finished${outcome.resultsFile ? `; results in ${outcome.resultsFile}` : ''}`);
      void vscode.window.setStatusBarMessage(`tvr: ${name} finished`, 5000);
      return;
    }
    const message = outcome.failure?.message ?? panels.results(recipe)?.error ?? exitDescription(exit);
    output.error(`the run of ${recipe} failed: ${message} (${exitDescription(exit)})`);
    if (!ended) panels.post(recipe, { type: 'results', results: endedResults(recipe, panels.results(recipe), 'failed', message) });
    void this.#reportFailure(recipe, message, outcome.failure?.range);
  }

  async #reportFailure(recipe: string, message: string, range: Range | undefined): Promise<void> {
    const actions = range ? ['Show Log', 'Go to Error'] : ['Show Log'];
    const choice = await vscode.window.showErrorMessage(`tvr: the run of ${basename(recipe)} failed: ${message}`, ...actions);
    if (choice === 'Show Log') this.#options.output.show(true);
    if (choice === 'Go to Error' && range) {
      const { start, end } = range;
      await vscode.window.showTextDocument(vscode.Uri.file(recipe), { selection: new vscode.Range(start.line, start.character, end.line, end.character) });
    }
  }

  #log(event: CliEvent): void {
    const { output } = this.#options;
    switch (event.type) {
      case 'run-start':
        output.info(`backend ${event.backend} (${event.reason}); ${event.points} sweep points, ${event.evaluations} evaluations`);
        break;
      case 'start':
        output.info(`computing on ${event.backend} (${event.device}): ${event.reason}`);
        break;
      case 'notice':
        output.warn(event.message);
        break;
      case 'output':
        output.info(`wrote ${event.path} (${event.format}, ${event.tensors} tensors, ${event.bytes} bytes)`);
        break;
      case 'done':
        output.info(`engine done in ${event.seconds.toFixed(1)} s: read ${event.bytesRead} bytes, wrote ${event.bytesWritten}`);
        break;
      case 'chosen':
        output.info(`${event.result.model}: chose ${JSON.stringify(event.result.point)}: ${event.result.reason}`);
        break;
      case 'run-done':
        output.info(`run done in ${event.seconds.toFixed(1)} s; results in ${event.resultsFile}`);
        break;
      case 'run-error':
        output.error(`${event.code}: ${event.message}`);
        break;
      case 'error':
        output.error(`${event.code}: ${event.message}${event.tensor ? ` (tensor ${event.tensor})` : ''}${event.file ? ` in ${event.file}` : ''}`);
        break;
      case 'results':
        output.debug(`results updated: ${event.results.status}, ${event.results.evaluations.reduce((n, e) => n + e.points.length, 0)} points`);
        break;
      default:
        output.trace(JSON.stringify(event));
    }
  }
}
