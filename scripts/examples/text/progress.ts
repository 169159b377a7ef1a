// Progress of the language models' training on stderr: a bar with the latest loss on a
// terminal, one line per model elsewhere (CI logs).
import cliProgress from 'cli-progress';

export interface TextProgress {
  /** A new model starts training for `steps` steps of `tokens` tokens each. */
  stage(name: string, steps: number, tokens: number): void;
  /** One step done; `loss` when it was read back. */
  step(loss: number | undefined): void;
  stop(): void;
}

export function createTextProgress(total: number, enabled: boolean): TextProgress {
  if (!enabled || total === 0) return { stage() {}, step() {}, stop() {} };
  if (!process.stderr.isTTY) {
    return { stage: (name, steps, tokens) => process.stderr.write(`training ${name} (${steps} steps of ${tokens} tokens)\n`), step() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar({
    format: 'training {stage} [{bar}] {percentage}% | {value}/{total} steps | loss {loss} | ETA {eta_formatted}',
    hideCursor: true,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { stage: ''.padEnd(15), loss: '-' });
  return {
    stage: (name) => bar.update({ stage: name.padEnd(15) }),
    step: (loss) => bar.increment(loss === undefined ? {} : { loss: loss.toFixed(3) }),
    stop: () => bar.stop(),
  };
}
