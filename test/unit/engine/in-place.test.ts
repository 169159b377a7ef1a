// Outputs written in place by I/O threads (js-workers, outputs of copies and linear
// combinations): the same bytes as the chunk pipeline of the reference backend, for every
// dtype, single and sharded, synced or not, with integer tensors copied, in chunks smaller than the
// tensors; only such outputs take that path; and its failures are the pipeline's: an
// input changed since it was checked, a cancelled run, a full disk, each with a precise
// error and nothing left behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureDtype, FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { BackendName, RunEvent } from '../../../server/src/engine/index.ts';
import type { Dtype } from '../../../server/src/checkpoints/types.ts';
import type { LoadNode, WeightNode } from '../../../server/src/language/program.ts';
import { fails, listTree, ProgramBuilder, readSafetensorsOutput } from './helpers.ts';

/** A float tensor over several chunks of CHUNK elements, one smaller than a chunk, a scalar, an integer buffer, an empty tensor. */
const specs = (dtype: FixtureDtype) => [
  { name: 'embed', shape: [61, 97], dtype },
  { name: 'bias', shape: [13], dtype },
  { name: 'scale', shape: [], dtype },
  { name: 'position_ids', shape: [1, 700], dtype: 'I64' as const },
  { name: 'empty', shape: [0, 4], dtype },
];
const CHUNK = 1000;

describe('outputs written in place by I/O threads', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());

  const models = (dtype: FixtureDtype): FixtureModel[] => {
    const base = makeModel(specs(dtype), { seed: 11 });
    return [base, perturbModel(base, { seed: 12, scale: 0.1 }), perturbModel(base, { seed: 13, scale: 0.1 })];
  };

  /** base + 0.7 (a - base) - 0.3 (b - base), and a plain copy of `a` into `dtype`, run on `backend`. */
  const run = async (dir: string, backend: BackendName, inputs: readonly string[], options: { sharded?: boolean; dtype?: Dtype; sync?: boolean } = {}) => {
    const pb = new ProgramBuilder(join(dir, 'recipe.tvr'));
    const [base, a, b] = await Promise.all(inputs.map((p, i) => pb.load(p, i)));
    const edit = pb.combine([[1, base!], [0.7, pb.diff(a!, base!)], [-0.3, pb.diff(b!, base!)]], 'model');
    pb.save(edit, join(dir, backend, options.sharded ? 'edit' : 'edit.safetensors'), { ...(options.sharded ? { shardBytes: 3000 } : {}), ...(options.dtype ? { dtype: options.dtype } : {}) });
    pb.save(a!, join(dir, backend, 'copy.safetensors'), { dtype: options.dtype ?? 'F16' });
    const result = await runProgram(pb.program(), { backend, recipeText: 'in place', chunkElements: CHUNK, placedMinBytes: 0, ...(options.sync ? { sync: true } : {}) });
    return { result, edit: readSafetensorsOutput(join(dir, backend, options.sharded ? 'edit' : 'edit.safetensors')), copy: readSafetensorsOutput(join(dir, backend, 'copy.safetensors')) };
  };

  const CASES: readonly { name: string; dtype: FixtureDtype; sharded?: boolean; shardedInputs?: boolean; out?: Dtype; sync?: boolean }[] = [
    { name: 'f32', dtype: 'F32' },
    { name: 'f16', dtype: 'F16' },
    { name: 'bf16', dtype: 'BF16' },
    { name: 'f32 into a sharded output, synced', dtype: 'F32', sharded: true, sync: true },
    { name: 'bf16 from sharded inputs, saved as f16', dtype: 'BF16', shardedInputs: true, out: 'F16' },
  ];
  for (const c of CASES) {
    test(`${c.name}: the same bytes as the reference backend's pipeline`, async () => {
      const dir = join(fixture.dir, c.name.replaceAll(' ', '-'));
      mkdirSync(dir);
      const inputs = models(c.dtype).map((m, i) => (c.shardedInputs ? writeShardedSafetensors(join(dir, `in${i}`), m, { shards: 2 }) : writeSafetensors(join(dir, `in${i}.safetensors`), m)));
      const options = { ...(c.sharded ? { sharded: true } : {}), ...(c.out ? { dtype: c.out } : {}), ...(c.sync ? { sync: true } : {}) };
      const placed = await run(dir, 'js-workers', inputs, options);
      const streamed = await run(dir, 'js', inputs, options);
      assert.deepEqual(placed.result.outputs.map((o) => o.writer), ['placed', 'placed']);
      assert.deepEqual(streamed.result.outputs.map((o) => o.writer), ['streaming', 'streaming']);
      for (const which of ['edit', 'copy'] as const) {
        assert.deepEqual(placed[which].order, streamed[which].order, `${which}: tensor order`);
        for (const name of streamed[which].order) {
          const want = streamed[which].tensors.get(name)!;
          const got = placed[which].tensors.get(name)!;
          assert.equal(got.dtype, want.dtype, `${which} ${name}: dtype`);
          assert.deepEqual(got.shape, want.shape, `${which} ${name}: shape`);
          assert.deepEqual(got.bytes, want.bytes, `${which} ${name}: bytes`);
        }
      }
      assert.equal(placed.edit.tensors.get('position_ids')!.bytes.length, 700 * 8, 'the integer buffer is copied whole');
    });
  }

  test('only outputs of copies and linear combinations, in safetensors, on js-workers are written in place', async () => {
    const dir = join(fixture.dir, 'which');
    mkdirSync(dir);
    const inputs = models('F32').map((m, i) => writeSafetensors(join(dir, `in${i}.safetensors`), m));
    const pb = new ProgramBuilder(join(dir, 'recipe.tvr'));
    const [base, a, b] = await Promise.all(inputs.map((p) => pb.load(p)));
    const vectors = [pb.diff(a!, base!), pb.diff(b!, base!)];
    const table: readonly [string, WeightNode, 'placed' | 'streaming'][] = [
      ['sum.safetensors', pb.combine([[1, base!], [0.5, vectors[0]!], [0.5, vectors[1]!]], 'model'), 'placed'],
      ['vector.safetensors', vectors[0]!, 'placed'],
      ['ties.safetensors', pb.combine([[1, base!], [1, pb.ties(vectors, 0.3)]], 'model'), 'streaming'],
      ['dare.safetensors', pb.dare(vectors[0]!, 0.5, 1), 'streaming'],
      ['slerp.safetensors', pb.slerp(a!, b!, 0.5), 'streaming'],
    ];
    for (const [name, node] of table) pb.save(node, join(dir, 'out', name));
    const { outputs } = await runProgram(pb.program(), { backend: 'js-workers', recipeText: 'which', placedMinBytes: 0 });
    assert.deepEqual(outputs.map((o) => o.writer), table.map(([, , writer]) => writer));
    const onJs = await runProgram({ ...pb.program(), saves: pb.saves.slice(0, 1).map((s) => ({ ...s, path: join(dir, 'js', 'sum.safetensors') })) }, { backend: 'js', recipeText: 'which', placedMinBytes: 0 });
    assert.equal(onJs.outputs[0]!.writer, 'streaming', 'the reference backend always runs the pipeline');
    const small = await runProgram({ ...pb.program(), saves: pb.saves.slice(0, 1).map((s) => ({ ...s, path: join(dir, 'small', 'sum.safetensors') })) }, { backend: 'js-workers', recipeText: 'which' });
    assert.equal(small.outputs[0]!.writer, 'streaming', 'an output too small to repay starting threads runs the pipeline (PLACED_MIN_BYTES)');
  });

  describe('failures', () => {
    // 8 MiB per input: many chunks, and reports (every 4 MiB written) during the run.
    const SPECS = ['first', 'second', 'third', 'fourth'].map((name) => ({ name, shape: [512, 1024] }));
    let inputs: string[];
    before(() => {
      const base = makeModel(SPECS, { seed: 21 });
      inputs = [base, perturbModel(base, { seed: 22, scale: 0.1 })].map((m, i) => writeSafetensors(join(fixture.dir, `failing${i}.safetensors`), m));
    });

    const program = async (out: string, victim?: string): Promise<ProgramBuilder> => {
      const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
      const loads: LoadNode[] = [await pb.load(inputs[0]!, 2), await pb.load(victim ?? inputs[1]!, 3)];
      pb.save(pb.combine([[1, loads[0]!], [0.5, pb.diff(loads[1]!, loads[0]!)]], 'model'), out, { line: 5 });
      return pb;
    };

    test('an input that changed since it was checked: an input error naming the tensor, the file and the load; nothing left', async () => {
      const victim = join(fixture.dir, 'victim.safetensors');
      writeSafetensors(victim, perturbModel(makeModel(SPECS, { seed: 21 }), { seed: 23, scale: 0.1 }));
      const outDir = join(fixture.dir, 'changed-out');
      mkdirSync(outDir);
      const pb = await program(join(outDir, 'edit.safetensors'), victim);
      truncateSync(victim, readFileSync(victim).length - 100);
      const events: RunEvent[] = [];
      await fails(runProgram(pb.program(), { backend: 'js-workers', recipeText: 'x', placedMinBytes: 0, onEvent: (e) => events.push(e) }), (e) => {
        assert.equal(e.code, 'input');
        assert.equal(e.file, victim);
        assert.equal(e.range?.start.line, 3, 'the load of the changed file');
        assert.ok(SPECS.some((s) => s.name === e.tensor), `a tensor of the file, got ${e.tensor}`);
        assert.match(e.message, /victim\.safetensors/);
        assert.match(e.message, /changed since its header was read/);
      });
      assert.equal(events.at(-1)?.type, 'error');
      assert.deepEqual(listTree(outDir), [], 'no output, no temporary');
    });

    test('cancelled while the threads write: a cancelled error, nothing left', async () => {
      const outDir = join(fixture.dir, 'cancelled-out');
      mkdirSync(outDir);
      const pb = await program(join(outDir, 'edit.safetensors'));
      const controller = new AbortController();
      const events: RunEvent[] = [];
      await fails(runProgram(pb.program(), {
        backend: 'js-workers',
        recipeText: 'x',
        placedMinBytes: 0,
        chunkElements: 4096,
        signal: controller.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'tensor') controller.abort();
        },
      }), (e) => assert.equal(e.code, 'cancelled'));
      assert.ok(events.some((e) => e.type === 'tensor'), 'the run had started writing');
      assert.ok(!events.some((e) => e.type === 'output'));
      assert.deepEqual(listTree(outDir), []);
    });

    test('a full disk: an output error naming the tensor and ENOSPC, for both writers; nothing left', { skip: diskFullSkip() }, async (t) => {
      const mount = join(fixture.dir, 'small-disk');
      mkdirSync(mount);
      // A 4 MiB file system: the 8 MiB output cannot fit, and the header does.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tvr-test', mount]);
      t.after(() => execFileSync('umount', [mount]));
      for (const backend of ['js-workers', 'js'] as const) {
        const pb = await program(join(mount, `${backend}.safetensors`));
        await fails(runProgram(pb.program(), { backend, recipeText: 'x', placedMinBytes: 0 }), (e) => {
          assert.equal(e.code, 'output', backend);
          assert.match(e.message, /no space left on device \(ENOSPC\)/, backend);
          assert.match(e.message, /nothing was left behind/, backend);
          assert.ok(SPECS.some((s) => s.name === e.tensor), `${backend}: names a tensor, got ${e.tensor}`);
          assert.equal(e.range?.start.line, 5, `${backend}: the save`);
        });
        assert.deepEqual(listTree(mount), [], `${backend}: no output, no temporary`);
      }
    });
  });
});

/** A full disk needs a small file system: a tmpfs, which only root can mount (and not in every container). Says loudly why when it cannot run. */
function diskFullSkip(): string | false {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) {
    reason = 'mounting a small tmpfs to fill needs root; run the unit tests as root (as .ci/run does) to cover a full disk';
  } else {
    const probe = mkdtempSync(join(tmpdir(), 'tvr-mount-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tvr-probe', probe], { stdio: 'pipe' });
      execFileSync('umount', [probe]);
    } catch (error) {
      reason = `this machine refuses to mount a tmpfs (${(error as Error).message.split('\n')[0]})`;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  }
  if (reason === undefined) return false;
  console.warn(`WARNING: the full-disk test is NOT RUN: ${reason}`);
  return `NOT RUN: ${reason}`;
}
