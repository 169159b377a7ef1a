// Failing cleanly: an input truncated mid-run, an output that cannot be written, a
// cancelled run, an output that would replace an input or an existing file. Every
// failure names what went wrong and leaves no output and no temporary behind.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, namedPipes, perturbModel, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { RunEvent } from '../../../server/src/engine/index.ts';
import type { LoadNode } from '../../../server/src/language/program.ts';
import { fails, listTree, ProgramBuilder } from './helpers.ts';

// 2 MiB each: read straight from the file, not from a read-ahead window.
const SPECS = ['first', 'second', 'third', 'fourth', 'fifth'].map((name) => ({ name, shape: [512, 1024] }));

describe('failures', () => {
  const fixture = fixtureDir();
  let basePath: string, ftPath: string, ftDir: string;
  before(() => {
    const base = makeModel(SPECS, { seed: 1 });
    basePath = writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    ftPath = writeSafetensors(join(fixture.dir, 'ft.safetensors'), perturbModel(base, { seed: 2, scale: 0.1 }));
    ftDir = join(fixture.dir, 'ft-sharded');
    writeShardedSafetensors(ftDir, perturbModel(base, { seed: 3, scale: 0.1 }), { shards: 3 });
  });
  after(() => fixture.cleanup());

  const program = async (outputs: readonly string[], overwrite = false, ft = ftPath): Promise<{ pb: ProgramBuilder; b: LoadNode; f: LoadNode }> => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const b = await pb.load(basePath, 2);
    const f = await pb.load(ft, 3);
    outputs.forEach((out, i) => pb.save(pb.combine([[1, b], [0.5 + i, pb.ties([pb.diff(f, b)], 0.5)]], 'model'), out, { overwrite, line: 5 + i }));
    return { pb, b, f };
  };

  // bf16 on js-workers: the file's bytes read into the chunk buffer and widened on a worker thread.
  for (const [backend, dtype] of [['js', 'F32'], ['js-workers', 'BF16']] as const) {
  test(`an input truncated mid-run (${dtype} on ${backend}): an error naming the tensor, the file and the load, and no output`, async () => {
    const model = perturbModel(makeModel(SPECS, { seed: 1 }), { seed: 5, scale: 0.1 });
    mkdirSync(join(fixture.dir, dtype));
    const victim = writeSafetensors(join(fixture.dir, dtype, 'victim.safetensors'), { tensors: model.tensors.map((t) => ({ ...t, dtype })) });
    const outDir = join(fixture.dir, `truncated-out-${dtype}`);
    mkdirSync(outDir);
    const { pb } = await program([join(outDir, 'a.safetensors'), join(outDir, 'b.safetensors')], false, victim);
    const events: RunEvent[] = [];
    const size = readFileSync(victim).length;
    await fails(runProgram(pb.program(), {
      backend,
      recipeText: 'x',
      // Once the first tensor is written, cut the file inside the last tensor (not read yet:
      // reads run at most one tensor ahead).
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'tensor' && e.tensor === 'first') truncateSync(victim, size - 100);
      },
    }), (e) => {
      assert.equal(e.code, 'input');
      assert.equal(e.tensor, 'fifth');
      assert.equal(e.file, victim);
      assert.equal(e.range?.start.line, 3, 'the load of the truncated file');
      assert.match(e.message, /fifth/);
      assert.match(e.message, /victim\.safetensors/);
    });
    const error = events.at(-1);
    assert.ok(error?.type === 'error' && error.tensor === 'fifth' && error.file === victim);
    assert.deepEqual(listTree(outDir), [], 'no output, no temporary');
  });
  }

  test('an input replaced by a named pipe after it was checked: an input error at once, not a wait for a writer', { timeout: 10_000 }, async (t) => {
    const victim = writeSafetensors(join(fixture.dir, 'piped.safetensors'), perturbModel(makeModel(SPECS, { seed: 1 }), { seed: 6, scale: 0.1 }));
    const outDir = join(fixture.dir, 'piped-out');
    mkdirSync(outDir);
    const { pb } = await program([join(outDir, 'a.safetensors')], false, victim);
    rmSync(victim);
    t.after(namedPipes([victim]).release);
    await fails(runProgram(pb.program(), { backend: 'js', recipeText: 'x' }), (e) => {
      assert.equal(e.code, 'input');
      assert.equal(e.file, victim);
      assert.equal(e.range?.start.line, 3, 'the load of the replaced file');
      assert.match(e.message, /piped\.safetensors.*is not a regular file \(a pipe, socket or device\)/);
    });
    assert.deepEqual(listTree(outDir), [], 'no output, no temporary');
  });

  test('an output directory that cannot be created: an output error, nothing left', async () => {
    const blocker = join(fixture.dir, 'not-a-directory');
    writeFileSync(blocker, 'a file where the output directory should be');
    const { pb } = await program([join(blocker, 'out.safetensors')]);
    await fails(runProgram(pb.program(), { backend: 'js', recipeText: 'x' }), (e) => {
      assert.equal(e.code, 'output');
      assert.match(e.message, /not-a-directory/);
      assert.equal(e.range?.start.line, 5);
    });
  });

  test('cancellation through an AbortSignal ends cleanly: no outputs, no temporaries', async () => {
    const outDir = join(fixture.dir, 'cancelled-out');
    mkdirSync(outDir);
    const { pb } = await program([join(outDir, 'a.safetensors'), join(outDir, 'sharded'), join(outDir, 'c.safetensors')]);
    pb.saves[1] = { ...pb.saves[1]!, shardBytes: 20_000 };
    const controller = new AbortController();
    const events: RunEvent[] = [];
    await fails(runProgram(pb.program(), {
      backend: 'js-workers',
      recipeText: 'x',
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        // Abort inside the third output, after two outputs were completely computed.
        if (e.type === 'tensor' && e.output.endsWith('c.safetensors')) controller.abort();
      },
    }), (e) => assert.equal(e.code, 'cancelled'));
    assert.ok(events.some((e) => e.type === 'tensor' && e.output.endsWith('sharded')), 'the run had written whole outputs before it was cancelled');
    assert.equal(events.at(-1)?.type, 'error');
    assert.deepEqual(listTree(outDir), []);
  });

  test('an output that is also an input is refused before anything runs', async () => {
    const before = readFileSync(basePath);
    const table: [string, string][] = [
      ['the same file', basePath],
      ['a sharded output into the directory of a sharded input', ftDir],
    ];
    for (const [name, out] of table) {
      const { pb } = await program([out], true, join(ftDir, 'model.safetensors.index.json'));
      if (out === ftDir) pb.saves[0] = { ...pb.saves[0]!, shardBytes: 10_000 };
      const events: RunEvent[] = [];
      await fails(runProgram(pb.program(), { backend: 'js', recipeText: 'x', onEvent: (e) => events.push(e) }), (e) => {
        assert.equal(e.code, 'output', name);
        assert.match(e.message, /an input of this recipe/, name);
      });
      assert.deepEqual(events.map((e) => e.type), ['error'], `${name}: no start event, nothing ran`);
    }
    assert.deepEqual(readFileSync(basePath), before, 'the input is untouched');
  });

  test('an existing output is refused without overwrite, and replaced with it', async () => {
    const out = join(fixture.dir, 'existing.safetensors');
    writeFileSync(out, 'precious');
    await fails(runProgram((await program([out])).pb.program(), { backend: 'js', recipeText: 'x' }), (e) => {
      assert.equal(e.code, 'output');
      assert.match(e.message, /already exists/);
      assert.equal(e.file, out);
    });
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    await runProgram((await program([out], true)).pb.program(), { backend: 'js', recipeText: 'x' });
    assert.notEqual(readFileSync(out, 'utf8'), 'precious');
  });

  test('two saves to one place, and unknown backends, are errors before anything runs', async () => {
    const out = join(fixture.dir, 'twice.safetensors');
    await fails(runProgram((await program([out, out])).pb.program(), { backend: 'js', recipeText: 'x' }), (e) => {
      assert.equal(e.code, 'output');
      assert.match(e.message, /collides/);
    });
    await fails(runProgram((await program([join(fixture.dir, 'never.safetensors')])).pb.program(), { backend: 'no-such' as 'js', recipeText: 'x' }), (e) => {
      assert.equal(e.code, 'backend');
      assert.match(e.message, /unknown backend "no-such"/);
    });
  });
});
