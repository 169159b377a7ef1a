// Tests that need a Slurm cluster. CI starts a single-node one on the machine
// (scripts/setup-slurm.sh), so there a missing cluster fails the suite; on a developer
// machine without Slurm the suite is skipped, loudly.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface SlurmForTests {
  /** The `skip` option of the tests that need the cluster: false where they must run. */
  readonly skip: string | false;
  /** Why there is no usable cluster. */
  readonly reason?: string;
}

/** Node states in which a node takes jobs (sinfo's %t, `*` marking a node that does not respond). */
const USABLE_NODE = /^(idle|mix|alloc|comp)$/;

export async function slurmForTests(suite: string): Promise<SlurmForTests> {
  const reason = await whyNoCluster();
  if (reason === undefined) return { skip: false };
  if (process.env.CI) return { skip: false, reason };
  process.stderr.write(`\n!!! ${suite}: SKIPPED, no usable Slurm cluster here: ${reason}\n!!! Start a single-node one with: sudo bash scripts/setup-slurm.sh (under CI=true these tests fail instead)\n\n`);
  return { skip: `no Slurm cluster: ${reason}`, reason };
}

async function whyNoCluster(): Promise<string | undefined> {
  let states: string;
  try {
    states = (await promisify(execFile)('sinfo', ['-h', '-o', '%t'], { timeout: 15_000 })).stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    return failure.code === 'ENOENT' ? 'sinfo is not installed' : `sinfo failed: ${failure.stderr?.trim() || failure.message}`;
  }
  const words = states.split(/\s+/).filter(Boolean);
  return words.some((state) => USABLE_NODE.test(state)) ? undefined : `no node takes jobs (sinfo: ${words.join(', ') || 'no nodes'})`;
}
