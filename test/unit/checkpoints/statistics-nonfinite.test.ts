// Norms of a checkpoint holding NaN or infinity (issue 10, item 4): tensorNorms names the
// tensors whose norm is not finite, so `tvr inspect --norms` can say so rather than print NaN alone.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fixtureDir, makeModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { combinationNormSquared, tensorNorms } from '../../../server/src/checkpoints/statistics.ts';

describe('non-finite norms', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());

  test('tensors holding NaN or infinity are named; finite ones are not', async () => {
    const model = makeModel([{ name: 'fine', shape: [4] }, { name: 'nan', shape: [4] }, { name: 'inf', shape: [4] }], { seed: 1 });
    const special = { nan: Number.NaN, inf: -Infinity } as Record<string, number>;
    const path = writeSafetensors(join(fixture.dir, 'm.safetensors'), { tensors: model.tensors.map((t) => (t.name in special ? { ...t, values: t.values.map((v, i) => (i === 1 ? special[t.name]! : v)) } : t)) });
    const result = await tensorNorms(path);
    assert.deepEqual([...result.nonFinite].sort(), ['inf', 'nan']);
    assert.ok(Number.isFinite(result.tensors.find((t) => t.name === 'fine')!.norm));
  });

  test('a combination that leaves out an infinite vector has a finite norm (0 * Infinity is not summed)', () => {
    // Gram of [finite, infinite]: the combination 1 * finite + 0 * infinite.
    const gram = Float64Array.from([4, Infinity, Infinity, Infinity]);
    assert.equal(combinationNormSquared(gram, 2, [1, 0]), 4);
  });
});
