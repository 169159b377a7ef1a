// One `tvr run --json` in a child process: Node (VS Code's own runtime, as plain Node
// through ELECTRON_RUN_AS_NODE) running the bundled CLI, in its own process group so a
// cancel reaches whatever the run started (workers, external evaluator commands).
// Cancel escalates: SIGINT (the CLI writes its results as cancelled and exits), then
// SIGTERM, then SIGKILL, each after a grace period; the group is ended in any case.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { LineSplitter, parseCliLine, type CliEvent } from './cli-events.ts';

export type RunBackend = 'auto' | 'gpu' | 'cpu' | 'webgpu';

export interface CliRunRequest {
  /** The Node to run the CLI with: `process.execPath` in the extension host. */
  readonly node: string;
  /** `<extension>/dist/tvr.mjs`. */
  readonly cli: string;
  /** Absolute path of the .tvr file. */
  readonly recipe: string;
  readonly backend: RunBackend;
  /** False in an untrusted workspace: the CLI then refuses external evaluator commands. */
  readonly trusted: boolean;
  /** fsync outputs before they appear (`--sync`). */
  readonly syncOutputs?: boolean;
  /** Saves may write outside the recipe's folder (`--allow-outputs-outside`; only when trusted). */
  readonly allowOutputsOutside?: boolean;
  /** Evaluations at once (`--jobs`). */
  readonly jobs?: number;
  /** Evaluate as Slurm jobs (`--executor slurm`), with models and logs in `sharedDir`. */
  readonly cluster?: { readonly sharedDir: string; readonly slurmArgs: string };
  readonly env: NodeJS.ProcessEnv;
}

export interface CliRunHandlers {
  readonly onEvent: (event: CliEvent) => void;
  /** Lines that are not events: non-JSON stdout and all of stderr. */
  readonly onText: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly cancelled: boolean;
  /** Why the process could not be started at all (e.g. ENOENT). */
  readonly spawnError?: string;
}

export interface CancelTimings {
  /** After SIGINT, how long the CLI gets to write its results and exit. */
  readonly interruptMs: number;
  /** After SIGTERM, how long before SIGKILL. */
  readonly terminateMs: number;
}

export const defaultCancelTimings: CancelTimings = { interruptMs: 5000, terminateMs: 3000 };

/** After the process exits, how long its output pipes may stay open (held by a stray grandchild). */
const drainMs = 2000;

export function cliArguments(request: CliRunRequest): string[] {
  const { cluster } = request;
  return [
    request.cli, 'run', request.recipe, '--json', '--backend', request.backend,
    ...(request.trusted ? [] : ['--untrusted']),
    ...(request.syncOutputs ? ['--sync'] : []),
    ...(request.allowOutputsOutside && request.trusted ? ['--allow-outputs-outside'] : []),
    ...(request.jobs !== undefined && request.jobs > 1 ? ['--jobs', String(request.jobs)] : []),
    ...(cluster ? ['--executor', 'slurm', '--shared-dir', cluster.sharedDir, ...(cluster.slurmArgs.trim() !== '' ? ['--slurm-args', cluster.slurmArgs] : [])] : []),
  ];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class CliRun {
  readonly exited: Promise<CliExit>;
  readonly #child: ChildProcess;
  readonly #timings: CancelTimings;
  #cancelled = false;
  #running = true;

  constructor(request: CliRunRequest, handlers: CliRunHandlers, timings: CancelTimings = defaultCancelTimings) {
    this.#timings = timings;
    this.#child = spawn(request.node, cliArguments(request), {
      cwd: dirname(request.recipe),
      env: { ...request.env, ELECTRON_RUN_AS_NODE: '1' },
      // A new process group (POSIX): the whole run can be signalled at once.
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.exited = this.#watch(handlers);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Ends the run (see the file comment) and resolves once the process has exited. */
  async cancel(): Promise<CliExit> {
    if (!this.#running) return this.exited;
    this.#cancelled = true;
    const exitedWithin = async (ms: number): Promise<boolean> =>
      Promise.race([this.exited.then(() => true), delay(ms).then(() => false)]);
    this.#signal('SIGINT');
    if (!(await exitedWithin(this.#timings.interruptMs))) {
      this.#signal('SIGTERM');
      if (!(await exitedWithin(this.#timings.terminateMs))) this.#signal('SIGKILL');
    }
    const exit = await this.exited;
    // The leader is gone; anything it started that is still in the group goes too.
    this.#signal('SIGKILL');
    return exit;
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.#child.kill(signal);
      else process.kill(-pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  #watch(handlers: CliRunHandlers): Promise<CliExit> {
    const child = this.#child;
    const stdout = new LineSplitter((line) => {
      const parsed = parseCliLine(line);
      if (parsed.kind === 'event') handlers.onEvent(parsed.event);
      else if (parsed.text.trim() !== '') handlers.onText(parsed.text, 'stdout');
    });
    const stderr = new LineSplitter((line) => {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text.trim() !== '') handlers.onText(text, 'stderr');
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    return new Promise<CliExit>((resolve) => {
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      const finish = (spawnError?: string): void => {
        if (!this.#running) return;
        this.#running = false;
        stdout.end();
        stderr.end();
        resolve({ code: exit?.code ?? null, signal: exit?.signal ?? null, cancelled: this.#cancelled, ...(spawnError !== undefined && { spawnError }) });
      };
      child.once('error', (error) => finish(error.message));
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        // Normally 'close' follows at once; a grandchild holding the pipes must not keep the run open.
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish();
        }, drainMs).unref();
      });
      child.once('close', () => finish());
    });
  }
}
