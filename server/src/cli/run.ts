// `tvr run RECIPE`: evaluate, sweep, choose and save, with a progress bar on a terminal
// or JSON lines (`--json`: engine events and recipe-run events, one object per line on
// stdout and nothing else). Ctrl-C cancels cleanly: no partial outputs, the results
// file says `cancelled`, exit status 130 (143 for SIGTERM); a second Ctrl-C exits at once.
// Exit status: 0 done, 1 recipe errors or a failed run, 2 the recipe cannot be read.
import { resolve } from 'node:path';
import { styleText } from 'node:util';
import cliProgress from 'cli-progress';
import type { RunBackendChoice } from '../engine/evaluation/tfjs-runtime.ts';
import { renderResults } from '../results/table.ts';
import { parseSlurmArgs, type Executor } from '../run/executor.ts';
import { errorCode, RecipeReadError, runRecipe } from '../run/run-recipe.ts';
import type { RecipeEvent } from '../run/run-recipe.ts';
import { visibleControls } from '../display-text.ts';
import { reportRecipeFailure } from './recipe-failure.ts';

export interface RunCommandOptions {
  readonly out?: string;
  readonly backend?: string;
  readonly json: boolean;
  readonly untrusted: boolean;
  readonly cache: boolean;
  readonly force: boolean;
  /** Saves may write outside the recipe's folder (or `out`); refused with `untrusted`. */
  readonly allowOutputsOutside?: boolean;
  /** fsync outputs before they are moved into place. */
  readonly sync?: boolean;
  /** Seconds an external evaluator may run. */
  readonly evalTimeout?: number;
  readonly batchSize?: number;
  readonly jobs?: number;
  readonly executor?: Executor['kind'];
  /** With the Slurm executor: a folder every node reads and writes. */
  readonly sharedDir?: string;
  /** With the Slurm executor: sbatch options, as one string. */
  readonly slurmArgs?: string;
}

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export async function runCommand(recipe: string, options: RunCommandOptions): Promise<number> {
  const file = resolve(recipe);
  if (options.untrusted && options.allowOutputsOutside) {
    // An untrusted recipe could otherwise replace any file the user can write.
    process.stderr.write("tvr: --allow-outputs-outside is refused with --untrusted: a recipe from an untrusted workspace writes only inside its own folder. Trust the workspace (run without --untrusted) to allow it\n");
    return 2;
  }
  let executor: Executor | undefined;
  try {
    executor = executorFor(options);
  } catch (error) {
    process.stderr.write(`tvr: ${visibleControls((error as Error).message)}\n`);
    return 2;
  }
  const controller = new AbortController();
  let stoppedBy: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (stoppedBy) process.exit(SIGNAL_EXIT[signal]);
    stoppedBy = signal;
    if (!options.json) process.stderr.write('\ncancelling (press Ctrl-C again to quit at once)...\n');
    controller.abort();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const view = options.json ? jsonView() : terminalView();
  const restoreConsole = options.json ? consoleToStderr() : () => {};
  try {
    const { results } = await runRecipe({
      recipe: file,
      ...(options.out !== undefined ? { outDir: resolve(options.out) } : {}),
      ...(options.backend !== undefined ? { backend: options.backend as RunBackendChoice } : {}),
      untrusted: options.untrusted,
      cache: options.cache,
      force: options.force,
      ...(options.allowOutputsOutside ? { allowOutputsOutside: true } : {}),
      ...(options.sync ? { sync: true } : {}),
      signal: controller.signal,
      onEvent: view.onEvent,
      ...(options.evalTimeout !== undefined ? { externalTimeoutMs: options.evalTimeout * 1000 } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(executor ? { executor } : {}),
    });
    view.stop();
    if (!options.json) process.stdout.write(renderResults(results, { style: (format, text) => styleText(format, text, { stream: process.stdout }) }));
    return 0;
  } catch (error) {
    view.stop();
    if (stoppedBy && errorCode(error) === 'cancelled') {
      if (!options.json) process.stderr.write('tvr: run cancelled; no outputs were written\n');
      return SIGNAL_EXIT[stoppedBy];
    }
    if (!options.json) reportRecipeFailure(error, file, 'nothing ran');
    return error instanceof RecipeReadError ? 2 : 1;
  } finally {
    restoreConsole();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/** The executor the options ask for; the Slurm one starts `tvr eval` on nodes as this process was started. */
function executorFor(options: RunCommandOptions): Executor | undefined {
  if (options.executor !== 'slurm') {
    if (options.sharedDir !== undefined || (options.slurmArgs ?? '') !== '') throw new Error('--shared-dir and --slurm-args go with --executor slurm');
    return undefined;
  }
  if (options.sharedDir === undefined || options.sharedDir === '') throw new Error('--executor slurm needs --shared-dir DIR: a folder every node of the cluster can read and write (the models evaluated and the jobs\' logs go there)');
  let slurmArgs: string[];
  try {
    slurmArgs = parseSlurmArgs(options.slurmArgs ?? '');
  } catch (error) {
    throw new Error(`--slurm-args ${JSON.stringify(options.slurmArgs)}: ${(error as Error).message}`);
  }
  return { kind: 'slurm', sharedDir: resolve(options.sharedDir), slurmArgs, tvr: [process.execPath, ...process.execArgv, process.argv[1]!] };
}

interface View {
  readonly onEvent: (event: RecipeEvent) => void;
  stop(): void;
}

function jsonView(): View {
  return {
    onEvent: (event) => {
      process.stdout.write(`${JSON.stringify(event)}\n`);
    },
    stop: () => {},
  };
}

/** tfjs and other libraries may print to stdout; in JSON-lines mode stdout carries only events. */
function consoleToStderr(): () => void {
  const saved = { log: console.log, info: console.info, debug: console.debug, warn: console.warn };
  const toStderr = (...args: unknown[]): void => {
    process.stderr.write(`${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
  };
  console.log = console.info = console.debug = console.warn = toStderr;
  return () => Object.assign(console, saved);
}

/** A progress bar on a terminal's stderr (evaluations, then bytes written); log lines above it. */
function terminalView(): View {
  const tty = process.stderr.isTTY === true;
  const multi = tty
    ? new cliProgress.MultiBar({
      stream: process.stderr,
      format: '{phase} |{bar}| {value}/{total} {what}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? String(Math.round(value)) : String(value)),
    }, cliProgress.Presets.shades_classic)
    : undefined;
  let bar: cliProgress.SingleBar | undefined;
  const show = (phase: string, value: number, total: number, what: string): void => {
    if (!multi) return;
    if (!bar) bar = multi.create(total, value, { phase, what });
    bar.setTotal(total);
    bar.update(value, { phase, what: visibleControls(what.length > 48 ? `${what.slice(0, 47)}…` : what) });
  };
  // Log lines quote paths and tensor names from files: control characters shown escaped.
  const log = (text: string): void => {
    const line = visibleControls(text);
    if (multi) multi.log(`${line}\n`);
    else process.stderr.write(`${line}\n`);
  };
  return {
    onEvent: (event) => {
      switch (event.type) {
        case 'run-start': log(`tvr: running ${event.recipe} on ${event.backend} (${event.reason})`); break;
        case 'evaluation-progress': show('evaluating', event.done, event.total, event.what); break;
        case 'start': show('writing', 0, Math.max(1, event.bytesTotal), event.outputs.map((o) => o.path).join(', ')); break;
        case 'progress': show('writing', event.bytesDone, Math.max(1, event.bytesTotal), event.tensor); break;
        case 'log': log(event.level === 'warning' ? `warning: ${event.message}` : event.message); break;
        case 'notice': log(`note: ${event.message}`); break;
        default: break;
      }
    },
    stop: () => multi?.stop(),
  };
}
