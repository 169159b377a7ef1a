// The external evaluator protocol (docs/evaluation.md): tvr runs the task's command
// without a shell, in the recipe's folder; the command evaluates the model it is given
// and prints, as the last thing on stdout, one JSON object of metrics:
//   {"accuracy": 0.91, "loss": 0.30, "examples": 1000}
// Its stderr goes to the run's log line by line. A non-zero exit, a timeout, or output
// that does not end with such an object fails the run with a message that says which.
import { spawn } from 'node:child_process';
import { stopAtExit } from '../../exit-cleanup.ts';
import type { MetricName } from './metrics.ts';
import { EvaluationError, evaluationCancelled } from './errors.ts';

export const DEFAULT_EXTERNAL_TIMEOUT_MS = 10 * 60 * 1000;
/** stdout kept (its tail): the metrics object is at the end. */
const STDOUT_TAIL_BYTES = 1 << 20;
/** stderr kept for the error message of a failing command. */
const STDERR_TAIL_CHARS = 2000;
/** Between SIGTERM and SIGKILL for a command that does not stop. */
const KILL_GRACE_MS = 3000;

export interface ExternalMetrics {
  readonly accuracy?: number;
  readonly loss?: number;
  readonly perplexity?: number;
  readonly examples: number;
}

export interface ExternalRunOptions {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Each line the command writes to stderr. */
  readonly onStderr?: (line: string) => void;
  /** For messages: "task 'digits', validation split". */
  readonly what: string;
}

/** A command as messages show it: plain words bare, anything else JSON-quoted. */
export function commandText(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export async function runExternalEvaluator(options: ExternalRunOptions): Promise<ExternalMetrics> {
  const { argv, what } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXTERNAL_TIMEOUT_MS;
  const shown = commandText(argv);
  if (options.signal?.aborted) throw evaluationCancelled();
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderrTail: string; timedOut: boolean; cancelled: boolean }>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, shell: false, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    // Stopped if tvr exits without waiting for it (a second Ctrl-C).
    child.once('close', stopAtExit(() => child.kill('SIGKILL')));
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = '';
    let partialLine = '';
    let timedOut = false;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => { timedOut = true; stop(); }, timeoutMs);
    const onAbort = (): void => { cancelled = true; stop(); };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      stdoutBytes += chunk.length;
      while (stdoutBytes - stdout[0]!.length >= STDOUT_TAIL_BYTES) stdoutBytes -= stdout.shift()!.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
      const lines = (partialLine + chunk).split(/\r?\n/);
      partialLine = lines.pop()!;
      for (const line of lines) options.onStderr?.(line);
    });
    const finish = (): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      const why = error.code === 'ENOENT' ? `command not found: ${argv[0]} (the program is looked up on PATH, or relative to the recipe's folder when it contains a slash)`
        : error.code === 'EACCES' ? `${argv[0]} is not executable`
        : error.message;
      reject(new EvaluationError('external', `${what}: cannot start the evaluator \`${shown}\`: ${why}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      finish();
      if (partialLine !== '') options.onStderr?.(partialLine);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderrTail, timedOut, cancelled });
    });
  });
  if (outcome.cancelled) throw evaluationCancelled();
  const stderrNote = outcome.stderrTail.trim() === '' ? '' : `; its stderr ends with: ${outcome.stderrTail.trim().split(/\r?\n/).slice(-3).join(' | ')}`;
  if (outcome.timedOut) {
    throw new EvaluationError('external', `${what}: the evaluator \`${shown}\` did not finish within ${formatDuration(timeoutMs)} and was stopped (raise the limit with --eval-timeout)${stderrNote}`);
  }
  if (outcome.code !== 0) {
    const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with status ${outcome.code}`;
    throw new EvaluationError('external', `${what}: the evaluator \`${shown}\` ${how}${stderrNote}`);
  }
  return parseMetricsOutput(outcome.stdout, `${what}: the evaluator \`${shown}\``);
}

/** The metrics object at the end of a command's stdout; `who` starts error messages. */
export function parseMetricsOutput(stdout: string, who: string): ExternalMetrics {
  const lines = stdout.replace(/\s+$/, '').split(/\r?\n/);
  let value: unknown;
  let found = false;
  for (let i = lines.length - 1; i >= 0 && !found; i--) {
    if (!lines[i]!.trimStart().startsWith('{')) continue;
    try {
      value = JSON.parse(lines.slice(i).join('\n'));
      found = true;
    } catch {
      // not the start of the final object: look further up
    }
  }
  const last = lines[lines.length - 1]!.trim();
  if (!found) {
    throw new EvaluationError('external', `${who} must print a JSON object of metrics as the last thing on stdout, e.g. {"accuracy": 0.91, "loss": 0.3, "examples": 1000}; ${last === '' ? 'its stdout was empty' : `its stdout ends with: ${last.slice(0, 200)}`}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EvaluationError('external', `${who} printed ${JSON.stringify(value)?.slice(0, 100)} last; it must be a JSON object of metrics`);
  }
  const record = value as Record<string, unknown>;
  const metrics: { -readonly [K in keyof ExternalMetrics]: ExternalMetrics[K] } = { examples: 0 };
  for (const name of ['accuracy', 'loss', 'perplexity'] as const) {
    const v = record[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new EvaluationError('external', `${who} printed ${name} = ${JSON.stringify(v)}; metrics must be finite numbers`);
    if (name === 'accuracy' && (v < 0 || v > 1)) throw new EvaluationError('external', `${who} printed accuracy = ${v}; accuracy is a fraction in [0, 1]`);
    metrics[name] = v;
  }
  if (metrics.perplexity === undefined && metrics.loss !== undefined) metrics.perplexity = Math.exp(metrics.loss);
  if (metrics.loss === undefined && metrics.perplexity !== undefined && metrics.perplexity > 0) metrics.loss = Math.log(metrics.perplexity);
  const examples = record.examples;
  if (examples !== undefined) {
    if (typeof examples !== 'number' || !Number.isSafeInteger(examples) || examples < 0) throw new EvaluationError('external', `${who} printed examples = ${JSON.stringify(examples)}; it must be a non-negative integer`);
    metrics.examples = examples;
  }
  return metrics;
}

/** Fails when the task's metric is missing from what the command printed. */
export function requireMetric(metrics: ExternalMetrics, metric: MetricName, who: string): void {
  if (metrics[metric] === undefined) {
    throw new EvaluationError('external', `${who} printed no "${metric}", the task's metric (it printed ${Object.keys(metrics).filter((k) => k !== 'examples').join(', ') || 'no metrics'})`);
  }
}

/** A time limit as messages give it: "10 min", "90 s". */
export function formatDuration(ms: number): string {
  return ms % 60000 === 0 ? `${ms / 60000} min` : `${ms / 1000} s`;
}
