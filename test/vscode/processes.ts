// Child processes that must never outlive the suite: each runs in its own process group
// (a new session, like setsid) and is ended by group, so the extension hosts and language
// servers it forked go with it, including when a scenario fails or the runner is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export interface GroupProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the leader exits. */
  readonly exited: Promise<number | string>;
  stop(): Promise<void>;
}

const running = new Set<GroupProcess>();

export interface SpawnGroupOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** stdout and stderr are appended to this file. */
  readonly logFile: string;
}

export function spawnGroup(command: string, args: readonly string[], options: SpawnGroupOptions): GroupProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (error) => resolve(error.message));
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  const group: GroupProcess = {
    pid,
    child,
    exited,
    async stop() {
      running.delete(group);
      await killGroup(pid, exited);
      log.end();
    },
  };
  running.add(group);
  return group;
}

/** SIGTERM to the whole group, SIGKILL to what is left after a grace period. */
async function killGroup(pid: number, exited: Promise<unknown>, graceMs = 5000): Promise<void> {
  signalGroup(pid, 'SIGTERM');
  const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
  await Promise.race([exited, timer]);
  // The leader may be gone while children of the group linger; kill the group regardless.
  signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Ends every group still running: for `finally` blocks and signal handlers. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((group) => group.stop()));
}

/** Synchronous last resort when the runner itself exits unexpectedly. */
export function killAllNow(): void {
  for (const group of running) signalGroup(group.pid, 'SIGKILL');
  running.clear();
}

/** Polls `url` until it answers 2xx, the process exits, or the deadline passes. */
export async function waitForHttp(url: string, server: GroupProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: number | string | undefined;
  void server.exited.then((code) => { exitedWith = code; });
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) throw new Error(`process ${server.pid} exited (${exitedWith}) before ${url} answered`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // Not listening yet: poll again.
    }
    await delay(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}
