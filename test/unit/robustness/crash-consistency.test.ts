// kill -9 while an output is written or replaced: at every instant the final name holds a
// whole output (the old one or the new one), or, in the instant between the two renames
// of a folder replacement, nothing, with the old one aside under a name the next run puts
// back. Temporaries say which process owns them; the next writer in the folder removes
// those of dead processes and never those of a live one. The kill points are made exact
// by TVR_TEST_PAUSE (the child blocks there and says so), plus kills at arbitrary instants
// whose outcome must satisfy the same invariant whatever it is.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanStaleTemporaries } from '../../../server/src/checkpoints/atomic-output.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';

const CHILD = join(import.meta.dirname, 'crash-writer.child.ts');

type Kind = 'single' | 'sharded';

interface Child {
  readonly process: ChildProcess;
  /** Resolves once the child printed `marker` on stderr. */
  readonly said: (marker: string) => Promise<void>;
  readonly exited: Promise<number | null>;
}

function writer(destination: string, kind: Kind, megabytes: number, fill: number, pause?: 'commit' | 'swap'): Child {
  const env = { ...process.env };
  if (pause) env.TVR_TEST_PAUSE = pause;
  else delete env.TVR_TEST_PAUSE;
  const child = spawn(process.execPath, [CHILD, destination, kind, String(megabytes), String(fill)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const waiters: { marker: string; resolve: () => void }[] = [];
  child.stderr!.on('data', (data: Buffer) => {
    stderr += data.toString();
    for (const w of waiters) if (stderr.includes(w.marker)) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const said = (marker: string) => new Promise<void>((resolve, reject) => {
    if (stderr.includes(marker)) return resolve();
    waiters.push({ marker, resolve });
    void exited.then((code) => reject(new Error(`the writer exited (${code}) before saying ${marker}: ${stderr}`)));
  });
  return { process: child, said, exited };
}

async function writeFully(destination: string, kind: Kind, megabytes: number, fill: number): Promise<void> {
  const child = writer(destination, kind, megabytes, fill);
  assert.equal(await child.exited, 0, 'the writer finishes');
}

async function killAt(destination: string, kind: Kind, megabytes: number, fill: number, pause: 'commit' | 'swap'): Promise<void> {
  const child = writer(destination, kind, megabytes, fill, pause);
  await child.said(`tvr-test-paused ${pause}`);
  child.process.kill('SIGKILL');
  await child.exited;
}

/** The first file of a single or sharded safetensors output. */
function firstFile(destination: string): string {
  return statSync(destination).isDirectory() ? join(destination, readdirSync(destination).filter((n) => n.endsWith('.safetensors')).sort()[0]!) : destination;
}

/** The value every element of a complete output holds; fails on a partial file. */
function filledWith(destination: string): number {
  const bytes = readFileSync(firstFile(destination));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString()) as Record<string, { data_offsets: [number, number] }>;
  const end = Math.max(...Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, t]) => t.data_offsets[1]));
  assert.equal(bytes.length, 8 + headerLength + end, 'the file is complete');
  return bytes.readFloatLE(8 + headerLength);
}

const hidden = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.'));

describe('crash consistency of outputs', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());
  let n = 0;
  const folder = () => {
    const dir = join(fixture.dir, `case${n++}`);
    return { dir, out: join(dir, 'out') };
  };

  const points: readonly { kind: Kind; pause: 'commit' | 'swap'; finalDuringKill: 'old' | 'absent' }[] = [
    { kind: 'single', pause: 'commit', finalDuringKill: 'old' },
    { kind: 'sharded', pause: 'commit', finalDuringKill: 'old' },
    { kind: 'sharded', pause: 'swap', finalDuringKill: 'absent' },
  ];

  for (const p of points) {
    test(`${p.kind} output killed at ${p.pause}: the old output is at the final name once the next writer tidies, and no temporary is left`, async () => {
      const { dir, out } = folder();
      const destination = p.kind === 'single' ? `${out}.safetensors` : out;
      await writeFully(destination, p.kind, 8, 1);
      await killAt(destination, p.kind, 8, 2, p.pause);
      assert.equal(existsSync(destination), p.finalDuringKill === 'old', `right after the kill the final name ${p.finalDuringKill === 'old' ? 'holds the old output' : 'is empty'}`);
      assert.ok(hidden(dir).length > 0, 'the killed writer left its temporaries');
      const tidied = await cleanStaleTemporaries(dir);
      assert.deepEqual(tidied.restored, p.finalDuringKill === 'absent' ? [destination] : []);
      assert.equal(filledWith(destination), 1, 'the old output, whole');
      assert.deepEqual(hidden(dir), [], 'nothing hidden is left');
    });
  }

  test('the next writer of the output rolls back a killed replacement, then replaces it', async () => {
    const { dir, out } = folder();
    await writeFully(out, 'sharded', 4, 1);
    await killAt(out, 'sharded', 4, 2, 'swap');
    assert.ok(!existsSync(out));
    await writeFully(out, 'sharded', 4, 3);
    assert.equal(filledWith(out), 3);
    assert.deepEqual(hidden(dir), []);
  });

  test('temporaries of a live writer are left alone, and removed once it is gone', async () => {
    const { dir, out } = folder();
    const live = writer(out, 'sharded', 4, 1, 'commit');
    await live.said('tvr-test-paused commit');
    try {
      const [temporary] = hidden(dir);
      assert.ok(temporary, 'the live writer has a temporary');
      assert.match(temporary, new RegExp(`^\\.out\\.tvr-tmp-${live.process.pid}-\\d+-[0-9a-f]{8}$`), 'named after its owner');
      assert.deepEqual(await cleanStaleTemporaries(dir), { restored: [], removed: [] });
      assert.deepEqual(hidden(dir), [temporary]);
    } finally {
      live.process.kill('SIGKILL');
      await live.exited;
    }
    assert.equal((await cleanStaleTemporaries(dir)).removed.length, 1);
    assert.deepEqual(hidden(dir), []);
  });

  test('temporaries named by an older tvr (pid only) are removed when that pid is gone', async () => {
    const { dir } = folder();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    // A pid above the kernel's maximum (4194304) never exists.
    writeFileSync(join(dir, '.x.safetensors.tvr-tmp-9999999-abcdef01'), 'partial');
    writeFileSync(join(dir, `.y.safetensors.tvr-tmp-${process.pid}-abcdef01`), 'ours: alive');
    const tidied = await cleanStaleTemporaries(dir);
    assert.deepEqual(tidied.removed, [join(dir, '.x.safetensors.tvr-tmp-9999999-abcdef01')]);
  });

  // A kill at whatever instant the write has reached: the outcome must satisfy the invariant, whichever it is.
  for (const delayMs of [150, 400, 800]) {
    test(`a kill ${delayMs} ms into replacing a 64 MB output leaves the old or the new one whole, and tidying leaves nothing hidden`, async () => {
      const { dir, out } = folder();
      const destination = `${out}.safetensors`;
      await writeFully(destination, 'single', 1, 1);
      const child = writer(destination, 'single', 64, 2);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.process.kill('SIGKILL');
      await child.exited;
      assert.ok([1, 2].includes(filledWith(destination)), 'a whole output at the final name');
      await cleanStaleTemporaries(dir);
      assert.deepEqual(hidden(dir), []);
    });
  }
});
