// Non-finite values (issue 10, item 4): a run that computes NaN or an infinity from
// finite inputs fails naming the save, the tensor and the element, and writes nothing;
// NaN or infinite values already in an input pass through with a notice. Every writer
// path: the chunk pipeline (js, js-workers), the I/O threads that write linear outputs in
// place, and materialisation into memory (what evaluations run on).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { RunEvent } from '../../../server/src/engine/index.ts';
import { materialize } from '../../../server/src/engine/materialize.ts';
import { countNonFinite, firstNonFinite, overflowLimit } from '../../../server/src/engine/finite.ts';
import type { Dtype } from '../../../server/src/checkpoints/types.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';
import { fails, listTree, ProgramBuilder, readSafetensorsOutput } from './helpers.ts';

const SPECS = [{ name: 'w', shape: [64, 32] }, { name: 'b', shape: [32] }];

/** Writer paths: the pipeline on one thread, on workers, and the I/O threads' in-place writes (placedMinBytes 0). */
const PATHS = [
  { name: 'js pipeline', backend: 'js', placedMinBytes: undefined },
  { name: 'js-workers pipeline', backend: 'js-workers', placedMinBytes: undefined },
  { name: 'js-workers in place', backend: 'js-workers', placedMinBytes: 0 },
] as const;

/** Overflowing recipes over finite inputs, with what the message must say. */
type Build = (pb: ProgramBuilder, base: WeightNode, ft: WeightNode) => WeightNode;
const OVERFLOWS: readonly { name: string; build: Build; dtype?: Dtype; message: RegExp }[] = [
  { name: 'a huge coefficient (1e300 * vector)', build: (pb, b, f) => pb.combine([[1, b], [1e300, pb.diff(f, b)]], 'model'), message: /tensor [wb]: element \d+ is -?Infinity, computed from finite inputs/ },
  { name: 'a division by a tiny number (t / 1e-320)', build: (pb, b) => pb.combine([[1 / 1e-320, b]], 'vector'), message: /is -?Infinity, computed from finite inputs/ },
  { name: 'inf - inf (NaN)', build: (pb, b, f) => pb.combine([[1e300, b], [-1e300, f]], 'vector'), message: /is (NaN|-?Infinity), computed from finite inputs/ },
  { name: 'a finite float32 too large for F16', build: (pb, b) => pb.combine([[1e6, b]], 'vector'), dtype: 'F16', message: /too large for F16 .*save with dtype="F32"/ },
];

function withSpecial(model: FixtureModel, index: number, value: number): FixtureModel {
  return { tensors: model.tensors.map((t) => (t.name === 'w' ? { ...t, values: t.values.map((v, i) => (i === index ? value : v)) } : t)) };
}

describe('non-finite values', () => {
  const fixture = fixtureDir();
  let basePath: string, ftPath: string, nanPath: string;
  before(() => {
    const base = makeModel(SPECS, { seed: 1 });
    basePath = writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    ftPath = writeSafetensors(join(fixture.dir, 'ft.safetensors'), perturbModel(base, { seed: 2, scale: 0.1 }));
    nanPath = writeSafetensors(join(fixture.dir, 'nan.safetensors'), withSpecial(withSpecial(perturbModel(base, { seed: 3, scale: 0.1 }), 5, Number.NaN), 9, Infinity));
  });
  after(() => fixture.cleanup());

  for (const path of PATHS) {
    for (const overflow of OVERFLOWS) {
      test(`${path.name}: ${overflow.name} fails naming the save, the tensor and the element; nothing is written`, async () => {
        const outDir = join(fixture.dir, `out-${path.name}-${overflow.name}`.replace(/[^\w-]+/g, '_'));
        mkdirSync(outDir);
        const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
        const b = await pb.load(basePath, 1);
        const f = await pb.load(ftPath, 2);
        const out = join(outDir, 'merged.safetensors');
        pb.save(overflow.build(pb, b, f), out, { line: 6, ...(overflow.dtype ? { dtype: overflow.dtype } : {}) });
        const events: RunEvent[] = [];
        await fails(runProgram(pb.program(), { backend: path.backend, recipeText: 'x', onEvent: (e) => events.push(e), ...(path.placedMinBytes !== undefined ? { placedMinBytes: path.placedMinBytes } : {}) }), (e) => {
          assert.equal(e.code, 'non-finite');
          // The I/O threads take chunks in any order: the first tensor found may be either.
          assert.ok(e.tensor === 'w' || e.tensor === 'b', String(e.tensor));
          assert.equal(e.range?.start.line, 6, 'the save');
          assert.match(e.message, /^line 7: saving .*merged\.safetensors: /);
          assert.match(e.message, overflow.message);
        });
        assert.equal(events.at(-1)?.type, 'error');
        assert.deepEqual(listTree(outDir), [], 'no output, no temporary');
      });
    }

    test(`${path.name}: NaN and infinity already in an input pass through, with a notice counting them`, async () => {
      const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
      const b = await pb.load(basePath, 1);
      const n = await pb.load(nanPath, 2);
      const out = join(fixture.dir, `passed-${path.name.replace(/\W+/g, '_')}.safetensors`);
      pb.save(pb.combine([[0.5, b], [0.5, n]], 'model'), out);
      const events: RunEvent[] = [];
      await runProgram(pb.program(), { backend: path.backend, recipeText: 'x', onEvent: (e) => events.push(e), ...(path.placedMinBytes !== undefined ? { placedMinBytes: path.placedMinBytes } : {}) });
      const w = readSafetensorsOutput(out).tensors.get('w')!.values;
      assert.ok(Number.isNaN(w[5]) && w[9] === Infinity, 'passed through');
      const notice = events.find((e) => e.type === 'notice' && e.kind === 'non-finite-inputs');
      assert.ok(notice?.type === 'notice', 'a notice');
      assert.deepEqual(notice.tensors, ['w']);
      assert.match(notice.message, /2 values written as NaN or infinity because the inputs already hold NaN or infinite values .*: w \(2\)/);
    });
  }

  test('materialising a value for an evaluation fails the same way, naming the recipe line of the value', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const b = await pb.load(basePath, 1);
    const f = await pb.load(ftPath, 2);
    const node = pb.combine([[1, b], [1e300, pb.diff(f, b)]], 'model', 4);
    await fails(materialize(pb.program(), node, { backend: 'js' }), (e) => {
      assert.equal(e.code, 'non-finite');
      assert.equal(e.range?.start.line, 4);
      assert.match(e.message, /^line 5: tensor w: element \d+ is -?Infinity, computed from finite inputs/);
    });
  });

  test('a finite result is written unchanged (the check reads, never alters)', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const b = await pb.load(basePath, 1);
    const f = await pb.load(ftPath, 2);
    const out = join(fixture.dir, 'finite.safetensors');
    pb.save(pb.combine([[1, b], [3e37, pb.diff(f, b)]], 'model'), out);
    await runProgram(pb.program(), { backend: 'js', recipeText: 'x' });
    assert.ok(existsSync(out));
    assert.ok(readSafetensorsOutput(out).tensors.get('w')!.values.every(Number.isFinite));
  });
});

describe('finiteness scan', () => {
  const cases: readonly { values: number[]; dtype: Dtype; first: number; count: number }[] = [
    { values: [1, 2, 3], dtype: 'F32', first: -1, count: 0 },
    { values: [1, Number.NaN, -Infinity], dtype: 'F32', first: 1, count: 2 },
    { values: [3.4e38, -3.4e38], dtype: 'F32', first: -1, count: 0 },
    { values: [65504, 65519, 65520], dtype: 'F16', first: 2, count: 1 },
    { values: [-65520, 1], dtype: 'F16', first: 0, count: 1 },
    { values: [3.3e38, 3.39e38, 3.4e38], dtype: 'BF16', first: 2, count: 1 },
    { values: [3.4e38], dtype: 'F64', first: -1, count: 0 },
  ];
  for (const c of cases) {
    test(`[${c.values.join(", ")}] as ${c.dtype}: first ${c.first}, ${c.count} non-finite`, () => {
      const values = Float32Array.from(c.values);
      assert.equal(firstNonFinite(values, overflowLimit(c.dtype)), c.first);
      assert.equal(countNonFinite(values, overflowLimit(c.dtype)), c.count);
    });
  }
});
