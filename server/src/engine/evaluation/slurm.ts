// Runs one external evaluator command (the protocol of external.ts) as a Slurm batch job.
// The job is a bash script under <sharedDir>/jobs/ that cds to the recipe's folder and runs
// the command without a shell's word splitting; its stdout and stderr go to files beside
// the script, which tvr reads: stderr is tailed while the job runs (the run's log), stdout
// is parsed for the metrics once the job has ended.
//
// How the end of a job is seen: by polling `scontrol show job`, which gives the state
// (COMPLETED, FAILED, TIMEOUT, NODE_FAIL, ...) and the exit status together. Not sacct: it
// needs Slurm's accounting database, which small clusters often lack. Not `sbatch --wait`:
// it reports an exit status but not the state, and polls at its own slow pace. Slurm
// forgets an ended job after MinJobAge (300 s by default, less on busy clusters), so the
// script also writes its exit status to a .status file: that answers when scontrol no
// longer knows the job, and its appearance triggers an immediate state check.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { stopAtExit } from '../../exit-cleanup.ts';
import { EvaluationError, evaluationCancelled } from './errors.ts';
import { commandText, formatDuration, parseMetricsOutput } from './external.ts';
import type { ExternalMetrics } from './external.ts';

/** How often the job's stderr file is read, and its .status file looked for. */
const LOG_POLL_MS = 200;
/** The first pause between state queries; it grows to STATE_POLL_MAX_MS, sparing the controller during long jobs. */
const STATE_POLL_FIRST_MS = 500;
const STATE_POLL_MAX_MS = 5000;
/** A Slurm command (sbatch, scontrol, scancel) that takes longer is taken for a controller that does not answer. */
const COMMAND_TIMEOUT_MS = 30_000;
/**
 * How long scontrol may fail in a row (a controller restarting), or a job Slurm has
 * forgotten may take to show its .status file (NFS caches directory entries), before
 * the job is given up.
 */
const CONTROLLER_GRACE_MS = 60_000;
/** stdout read (its tail): the metrics object is at the end. */
const STDOUT_TAIL_BYTES = 1 << 20;
const LOG_TAIL_LINES = 3;
/** States after which a job does not run again (squeue(1), JOB STATE CODES). */
const ENDED_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY']);

export interface SlurmRunOptions {
  /** The evaluator command (already expanded), run without a shell on the node. */
  readonly argv: readonly string[];
  /** The working directory on the node. */
  readonly cwd: string;
  /** A directory every node can read and write: job scripts and logs go under <sharedDir>/jobs/. */
  readonly sharedDir: string;
  /** Passed through to sbatch, e.g. ['--gres=gpu:1', '--time=30']. */
  readonly slurmArgs?: readonly string[];
  /** Default 'tvr-eval'. */
  readonly jobName?: string;
  /** A limit on our side, queueing included; on expiry the job is cancelled and the run fails. None when absent. */
  readonly timeoutMs?: number;
  /** Abort cancels the job and rejects with evaluationCancelled(). */
  readonly signal?: AbortSignal;
  /** Each line the job writes to stderr, while it runs. */
  readonly onStderr?: (line: string) => void;
  /** Called once the job is submitted. */
  readonly onJob?: (jobId: string) => void;
  /** For messages: "task 'digits', validation split". */
  readonly what: string;
}

export async function runSlurmEvaluator(options: SlurmRunOptions): Promise<ExternalMetrics> {
  const { argv, what } = options;
  const shown = commandText(argv);
  if (argv.length === 0) throw new EvaluationError('external', `${what}: the evaluator command is empty`);
  if (options.signal?.aborted) throw evaluationCancelled();
  const jobsDir = path.join(path.resolve(options.sharedDir), 'jobs');
  const jobName = options.jobName ?? 'tvr-eval';
  const stem = path.join(jobsDir, `${jobName.replace(/[^\w.-]/g, '_')}-${Date.now()}-${randomBytes(4).toString('hex')}`);
  const files = { script: `${stem}.sh`, out: `${stem}.out`, err: `${stem}.err`, status: `${stem}.status` };
  const removeFiles = (): Promise<unknown> => Promise.all(Object.values(files).map((f) => rm(f, { force: true })));
  const kept = `its script and logs are kept: ${stem}.{sh,out,err}`;
  try {
    await mkdir(jobsDir, { recursive: true });
    await writeFile(files.script, jobScript(argv, options.cwd, files.status), { mode: 0o700 });
  } catch (error) {
    throw new EvaluationError('external', `${what}: cannot write the Slurm job script in ${jobsDir}: ${(error as Error).message}`, { cause: error });
  }

  const submitted = await slurmCommand(what, 'sbatch', ['--parsable', `--job-name=${jobName}`, `--output=${files.out}`, `--error=${files.err}`, ...(options.slurmArgs ?? []), files.script], jobsDir)
    .catch(async (error: unknown) => { await removeFiles(); throw error; });
  const jobId = submitted.stdout.trim().split(';')[0]!;
  if (submitted.code !== 0 || !/^\d+$/.test(jobId)) {
    await removeFiles();
    const said = (submitted.stderr.trim() || submitted.stdout.trim()).split('\n').slice(-LOG_TAIL_LINES).join(' | ');
    throw new EvaluationError('external', `${what}: sbatch did not accept the evaluator job \`${shown}\`${submitted.code !== 0 ? ` (exit status ${submitted.code})` : ''}: ${said || 'it printed no job id'}`);
  }
  // Cancelled if tvr exits without waiting for it (a second Ctrl-C).
  const forget = stopAtExit(() => spawnSync('scancel', [jobId], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS }));
  options.onJob?.(jobId);

  const stderr = new LineTail(files.err, options.onStderr);
  let end: JobEnd;
  try {
    end = await waitForJob(jobId, files.status, stderr, options);
  } finally {
    forget();
  }
  await stderr.poll();
  stderr.flush();
  const stderrNote = stderr.lastLines.length === 0 ? '' : `; its stderr ends with: ${stderr.lastLines.join(' | ')}`;
  const job = `Slurm job ${jobId} (\`${shown}\`)`;

  if (end.kind === 'cancelled') {
    await removeFiles();
    throw evaluationCancelled();
  }
  if (end.kind === 'timeout') {
    throw new EvaluationError('external', `${what}: ${job} did not finish within ${formatDuration(options.timeoutMs!)} and was cancelled${end.cancelNote} (last seen ${end.state}; raise the limit with --eval-timeout)${stderrNote}; ${kept}`);
  }
  if (end.kind === 'lost') {
    throw new EvaluationError('external', `${what}: ${job} is lost: ${end.why}${stderrNote}; ${kept}`);
  }
  if (end.state !== 'COMPLETED' || end.exitStatus !== 0) {
    const how = `ended ${end.state} with exit status ${end.exitStatus}${end.signal ? `, killed by signal ${end.signal}` : ''}`;
    const hint = end.exitStatus === 127 ? ' (127: the command was not found on the node)' : '';
    throw new EvaluationError('external', `${what}: ${job} ${how}${hint}${stderrNote}; ${kept}`);
  }
  let stdout: string;
  try {
    stdout = await readTail(files.out, STDOUT_TAIL_BYTES);
  } catch (error) {
    throw new EvaluationError('external', `${what}: ${job} completed but its stdout cannot be read: ${(error as Error).message}; ${kept}`, { cause: error });
  }
  let metrics: ExternalMetrics;
  try {
    metrics = parseMetricsOutput(stdout, `${what}: the evaluator \`${shown}\` (Slurm job ${jobId})`);
  } catch (error) {
    if (!(error instanceof EvaluationError)) throw error;
    throw new EvaluationError('external', `${error.message}; ${kept}`, { cause: error });
  }
  await removeFiles();
  return metrics;
}

/** Throws EvaluationError('external', ...) when Slurm's commands are missing, the controller does not answer, or sharedDir is not a writable directory. */
export async function checkSlurm(sharedDir: string): Promise<{ readonly version: string }> {
  const who = 'Slurm';
  try {
    if (!(await stat(sharedDir)).isDirectory()) throw new Error('it is not a directory');
    await access(sharedDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as NodeJS.ErrnoException).code === 'EACCES' ? 'it is not writable' : (error as Error).message;
    throw new EvaluationError('external', `${who}: the shared directory ${sharedDir} cannot hold job files: ${why} (it must be a directory every node can read and write)`, { cause: error });
  }
  let version = '';
  for (const program of ['sbatch', 'scontrol', 'scancel']) {
    const answer = await slurmCommand(who, program, ['--version']);
    if (answer.code !== 0) throw new EvaluationError('external', `${who}: \`${program} --version\` failed: ${answer.stderr.trim() || `exit status ${answer.code}`}`);
    version ||= answer.stdout.trim().replace(/^slurm\s+/i, '');
  }
  const ping = await slurmCommand(who, 'scontrol', ['ping']);
  if (ping.code !== 0 || !/\bUP\b/.test(ping.stdout)) {
    // Its first line says which controller is down; a banner of asterisks follows.
    const said = [ping.stdout.trim().split('\n')[0], ping.stderr.trim()].filter(Boolean).join(' | ');
    throw new EvaluationError('external', `${who}: the controller does not answer (\`scontrol ping\`: ${said || `exit status ${ping.code}`})`);
  }
  return { version };
}

/** The batch script: cd to the recipe's folder, run argv (each word single-quoted), record the exit status. */
function jobScript(argv: readonly string[], cwd: string, statusFile: string): string {
  return [
    '#!/bin/bash',
    `status_file=${shellQuote(statusFile)}`,
    // On every exit, a failing cd included; bash keeps the script's exit status.
    `trap 'printf "%s\\n" "$?" >"$status_file"' EXIT`,
    `cd -- ${shellQuote(cwd)} || exit 1`,
    argv.map(shellQuote).join(' '),
    '',
  ].join('\n');
}

/** One word for bash: inside single quotes nothing is special but the quote itself, written '\''. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

type JobEnd =
  | { readonly kind: 'ended'; readonly state: string; readonly exitStatus: number; readonly signal: number }
  | { readonly kind: 'timeout'; readonly state: string; readonly cancelNote: string }
  | { readonly kind: 'lost'; readonly why: string }
  | { readonly kind: 'cancelled' };

async function waitForJob(jobId: string, statusFile: string, stderr: LineTail, options: SlurmRunOptions): Promise<JobEnd> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let statePollMs = STATE_POLL_FIRST_MS;
  let nextStateQuery = 0;
  let lastState = 'PENDING';
  let statusWritten = false;
  let failingSince: number | undefined;
  for (;;) {
    if (options.signal?.aborted) {
      await cancelJob(jobId, options.what);
      return { kind: 'cancelled' };
    }
    if (Date.now() >= deadline) return { kind: 'timeout', state: lastState, cancelNote: await cancelJob(jobId, options.what) };
    await stderr.poll();
    if (!statusWritten && (await fileExists(statusFile))) {
      // The script has ended: ask Slurm now, and often until it agrees.
      statusWritten = true;
      nextStateQuery = 0;
      statePollMs = STATE_POLL_FIRST_MS;
    }
    if (Date.now() >= nextStateQuery) {
      // A query that cannot run or times out counts as a failing one: the controller may be restarting.
      const query = await slurmCommand(options.what, 'scontrol', ['show', 'job', '-o', jobId])
        .catch((error: unknown): CommandResult => ({ code: -1, stdout: '', stderr: (error as Error).message }));
      if (query.code === 0) {
        failingSince = undefined;
        const field = (name: string): string | undefined => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(query.stdout)?.[1];
        const state = field('JobState') ?? 'UNKNOWN';
        const reason = field('Reason');
        lastState = reason && reason !== 'None' ? `${state} (Reason=${reason})` : state;
        if (ENDED_STATES.has(state)) {
          const [exitStatus = NaN, signal = 0] = (field('ExitCode') ?? '').split(':').map(Number);
          return { kind: 'ended', state, exitStatus, signal };
        }
      } else {
        const forgotten = /invalid job id/i.test(query.stderr);
        if (forgotten) {
          // Slurm has forgotten the ended job: the script's own record of its exit status answers.
          const status = Number((await readFile(statusFile, 'utf8').catch(() => '')).trim() || NaN);
          if (Number.isInteger(status)) return { kind: 'ended', state: status === 0 ? 'COMPLETED' : 'FAILED', exitStatus: status, signal: 0 };
        }
        failingSince ??= Date.now();
        if (Date.now() - failingSince > CONTROLLER_GRACE_MS) {
          await cancelJob(jobId, options.what);
          const why = forgotten
            ? `Slurm no longer knows it and it recorded no exit status in ${statusFile} (its node may have failed)`
            : `\`scontrol show job ${jobId}\` has failed for ${CONTROLLER_GRACE_MS / 1000} s: ${query.stderr.trim() || `exit status ${query.code}`}`;
          return { kind: 'lost', why };
        }
      }
      nextStateQuery = Date.now() + statePollMs;
      statePollMs = Math.min(STATE_POLL_MAX_MS, statePollMs * 1.5);
    }
    // An abort ends the pause at once; the loop's first check then cancels the job.
    await delay(LOG_POLL_MS, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
}

/** scancel, best effort: '' when it worked, else a note for the error message. */
async function cancelJob(jobId: string, who: string): Promise<string> {
  try {
    const answer = await slurmCommand(who, 'scancel', [jobId]);
    return answer.code === 0 ? '' : ` (scancel failed: ${answer.stderr.trim() || `exit status ${answer.code}`})`;
  } catch (error) {
    return ` (scancel failed: ${(error as Error).message})`;
  }
}

interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a Slurm client command (no shell); a missing one is an EvaluationError naming it, a failing one a result to judge. */
function slurmCommand(who: string, program: string, args: readonly string[], cwd?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { cwd, timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const failure = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
      if (failure?.code === 'ENOENT') {
        reject(new EvaluationError('external', `${who}: ${program} is not installed here (not on PATH): evaluating on Slurm needs Slurm's client commands (sbatch, scontrol, scancel)`, { cause: error }));
      } else if (failure?.killed) {
        reject(new EvaluationError('external', `${who}: \`${program} ${args.join(' ')}\` did not answer within ${COMMAND_TIMEOUT_MS / 1000} s: is the Slurm controller up?`, { cause: error }));
      } else if (failure && typeof failure.code !== 'number') {
        reject(new EvaluationError('external', `${who}: cannot run ${program}: ${failure.message}`, { cause: error }));
      } else {
        resolve({ code: typeof failure?.code === 'number' ? failure.code : 0, stdout, stderr });
      }
    });
  });
}

/** Reads a growing file's complete lines as they appear; the last line without a newline only at flush(). */
class LineTail {
  /** The last lines seen, for error messages. */
  readonly lastLines: string[] = [];
  private offset = 0;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly file: string;
  private readonly onLine: ((line: string) => void) | undefined;

  constructor(file: string, onLine: ((line: string) => void) | undefined) {
    this.file = file;
    this.onLine = onLine;
  }

  async poll(): Promise<void> {
    let handle;
    try {
      handle = await open(this.file, 'r');
    } catch {
      return; // not created yet: the job has not started
    }
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const lines = (this.partial + this.decoder.write(buffer.subarray(0, bytesRead))).split(/\r?\n/);
        this.partial = lines.pop()!;
        for (const line of lines) this.emit(line);
      }
    } finally {
      await handle.close();
    }
  }

  flush(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.emit(rest);
  }

  private emit(line: string): void {
    this.onLine?.(line);
    if (line.trim() === '') return;
    this.lastLines.push(line.trim());
    if (this.lastLines.length > LOG_TAIL_LINES) this.lastLines.shift();
  }
}

async function readTail(file: string, bytes: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

async function fileExists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}
