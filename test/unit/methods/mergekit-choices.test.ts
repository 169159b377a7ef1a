// The arguments that reproduce mergekit's choices where tvr's defaults differ: ties() with
// weights, zero_sum="plus", normalize=false and rounding="float", and slerp(..., zero="angle"),
// from recipe text to the saved file, on tensors built so that each choice changes the result.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fixtureDir, writeSafetensors, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { runToTensors } from './method-fixtures.ts';

const model = (values: readonly number[]): FixtureModel => ({ tensors: [{ name: 'w', dtype: 'F32', shape: [values.length], values: Float64Array.from(values) }] });

describe('ties with mergekit\'s choices', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());
  // Elements 0 and 1 sum to exactly 0; element 2 agrees; element 3 disagrees (+3 against -1).
  writeSafetensors(join(fixture.dir, 'base.safetensors'), model([0, 0, 0, 0]));
  writeSafetensors(join(fixture.dir, 'a.safetensors'), model([1, -2, 0.5, 3]));
  writeSafetensors(join(fixture.dir, 'b.safetensors'), model([-1, 2, 0.5, -1]));
  const run = (args: string, backend: 'js' | 'tfjs-cpu') => runToTensors(fixture.dir, `base = load("base.safetensors")\nsave(ties(load("a.safetensors") - base, load("b.safetensors") - base, density=1${args}), "out.safetensors")\n`, undefined, backend);

  const rows: readonly [args: string, want: readonly number[], why: string][] = [
    ['', [0, 0, 0.5, 3], 'tvr: no sign where the sum is 0, the mean of the agreeing values'],
    [', zero_sum="plus"', [1, 2, 0.5, 3], '+ elected where the sum is 0: the positive value kept'],
    [', zero_sum="plus", normalize=false', [1, 2, 1, 3], 'the agreeing values summed'],
    // Weighted: sign of 0.5 a + 2 b; element 3: 1.5 - 2 < 0 elects -, keeping b's -1 (weighted -2, divided by its weight 2).
    [', weights=[0.5, 2], zero_sum="plus"', [-1, 2, 0.5, -1], 'weights enter the sign election and divide the agreeing sum'],
    [', weights=[0.5, 2], zero_sum="plus", normalize=false', [-2, 4, 1.25, -2], 'weighted sum of the agreeing values'],
    [', weights=[0.5, 2]', [-1, 2, 0.5, -1], 'weights with tvr\'s strict election (no sum is 0 once weighted)'],
  ];
  for (const backend of ['js', 'tfjs-cpu'] as const) {
    for (const [args, want, why] of rows) {
      test(`ties(a, b${args}) on ${backend}: ${why}`, async () => {
        assert.deepEqual([...(await run(args, backend)).get('w')!], want);
      });
    }
  }

  test('breadcrumbs_ties takes the same choices (one definition in consensus-choices.ts)', async () => {
    const got = await runToTensors(fixture.dir, 'base = load("base.safetensors")\nsave(breadcrumbs_ties(load("a.safetensors") - base, load("b.safetensors") - base, density=1, gamma=0, weights=[0.5, 2], zero_sum="plus", normalize=false), "out.safetensors")\n');
    assert.deepEqual([...got.get('w')!], [-2, 4, 1.25, -2]);
  });

  test('rounding="float" keeps int(density * n) as mergekit: 0.29 of 100 elements is 28, not 29', async () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    writeSafetensors(join(fixture.dir, 'zero.safetensors'), model(values.map(() => 0)));
    writeSafetensors(join(fixture.dir, 'ramp.safetensors'), model(values));
    for (const [rounding, kept] of [['', 29], [', rounding="float"', 28]] as const) {
      const got = await runToTensors(fixture.dir, `base = load("zero.safetensors")\nsave(ties(load("ramp.safetensors") - base, density=0.29${rounding}, zero_sum="plus"), "out.safetensors")\n`);
      assert.equal(got.get('w')!.filter((x) => x !== 0).length, kept, rounding || 'decimal');
    }
  });

  test('slerp zero="angle": a zero tensor, and one of norm <= 1e-8, sit at mergekit\'s angle; "linear" interpolates', async () => {
    const b = [0.6, -0.8, 0.5, 0.1];
    writeSafetensors(join(fixture.dir, 'zeros.safetensors'), model([0, 0, 0, 0]));
    writeSafetensors(join(fixture.dir, 'tiny.safetensors'), model([1e-9, 2e-9, 0, 0]));
    writeSafetensors(join(fixture.dir, 'other.safetensors'), model(b));
    const t = 0.3;
    const slerpOf = async (a: string, zero: string) => [...(await runToTensors(fixture.dir, `save(slerp(load("${a}.safetensors"), load("other.safetensors"), t=${t}${zero}), "out.safetensors")\n`)).get('w')!];
    const close = (got: number[], want: number[], what: string) => assert.ok(got.every((x, i) => Math.abs(x - want[i]!) < 1e-6), `${what}: ${got} vs ${want}`);
    close(await slerpOf('zeros', ''), b.map((x) => t * x), 'linear');
    close(await slerpOf('zeros', ', zero="angle"'), b.map((x) => Math.sin((t * Math.PI) / 2) * x), 'angle');
    // mergekit: the tiny tensor is not normalised, so its dot with b's direction is about 1e-9 and the angle about 90 degrees.
    const a = [1e-9, 2e-9, 0, 0];
    const nb = Math.hypot(...b);
    const theta = Math.acos(a.reduce((s, x, i) => s + x * b[i]!, 0) / nb);
    const want = a.map((x, i) => (Math.sin((1 - t) * theta) * x + Math.sin(t * theta) * b[i]!) / Math.sin(theta));
    close(await slerpOf('tiny', ', zero="angle"'), want, 'tiny, angle');
  });

  test('dare rescale="l1" and "none": the survivors of the default draws, scaled to the tensor\'s L1 norm or left as they are', async () => {
    const values = Array.from({ length: 64 }, (_, i) => Math.sin(i + 1) * (i % 7 + 1));
    writeSafetensors(join(fixture.dir, 'zero64.safetensors'), model(values.map(() => 0)));
    writeSafetensors(join(fixture.dir, 'wave.safetensors'), model(values));
    const dare = async (rescale: string, chunk?: number) => [...(await runToTensors(fixture.dir, `base = load("zero64.safetensors")\nsave(dare(load("wave.safetensors") - base, p=0.6, seed=4${rescale}), "out.safetensors")\n`, chunk)).get('w')!];
    const inverse = await dare('');
    const kept = inverse.map((x) => x !== 0);
    assert.ok(kept.some(Boolean) && !kept.every(Boolean), 'some survive, some are dropped');
    const x = values.map((v) => Math.fround(v));
    const l1 = x.reduce((s, v) => s + Math.abs(v), 0) / x.reduce((s, v, i) => s + (kept[i] ? Math.abs(v) : 0), 0);
    for (const chunk of [undefined, 8]) {
      const none = await dare(', rescale="none"', chunk);
      assert.deepEqual(none, x.map((v, i) => (kept[i] ? v : 0)), 'none: the survivors as they are');
      const scaled = await dare(', rescale="l1"', chunk);
      assert.ok(scaled.every((v, i) => Math.abs(v - (kept[i] ? x[i]! * l1 : 0)) <= 1e-6 * Math.abs(x[i]! * l1)), `l1: ${scaled} vs the survivors times ${l1}`);
      assert.ok(Math.abs(scaled.reduce((s, v) => s + Math.abs(v), 0) / x.reduce((s, v) => s + Math.abs(v), 0) - 1) < 1e-6, 'the L1 norm is kept');
    }
  });
});
