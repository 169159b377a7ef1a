// The pieces `--jobs` is built from: ModelSlots holds at most N models (reusing a held
// one, dropping unused ones oldest first, not keeping a failed one), and runAll starts
// nothing after the first failure and reports that failure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pLimit from 'p-limit';
import { runAll } from '../../../server/src/run/concurrent.ts';
import { ModelSlots } from '../../../server/src/run/model-slots.ts';

const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ModelSlots', () => {
  it('computes a model once while it is held, and again after it was dropped', async () => {
    const slots = new ModelSlots<string>(1);
    const computed: string[] = [];
    const use = (key: string): Promise<string> => slots.with(key, async () => { computed.push(key); return key.toUpperCase(); }, async (m) => m);
    assert.deepEqual([await use('a'), await use('a'), await use('b'), await use('a')], ['A', 'A', 'B', 'A']);
    assert.deepEqual(computed, ['a', 'b', 'a']);
    assert.equal(slots.peak, 1);
  });

  for (const { capacity, users } of [{ capacity: 1, users: 6 }, { capacity: 2, users: 6 }, { capacity: 4, users: 12 }]) {
    it(`holds at most ${capacity} models with ${users} users at once, each seeing its own`, async () => {
      const slots = new ModelSlots<number>(capacity);
      let held = 0;
      let most = 0;
      const seen = await Promise.all(Array.from({ length: users }, (_, i) => slots.with(`m${i}`, async () => {
        held++;
        most = Math.max(most, held);
        await tick();
        return i;
      }, async (model) => {
        await tick();
        held--;
        return model;
      })));
      assert.deepEqual(seen, Array.from({ length: users }, (_, i) => i));
      assert.ok(most <= capacity, `${most} computed at once`);
      assert.equal(slots.peak, capacity);
    });
  }

  it('does not keep a model whose computation failed', async () => {
    const slots = new ModelSlots<number>(2);
    let calls = 0;
    const compute = async (): Promise<number> => {
      calls++;
      if (calls === 1) throw new Error('disk full');
      return 7;
    };
    await assert.rejects(slots.with('m', compute, async (m) => m), /disk full/);
    assert.equal(await slots.with('m', compute, async (m) => m), 7);
    assert.equal(calls, 2);
  });
});

describe('runAll', () => {
  it('runs at most the limit at once and returns results in task order', async () => {
    let running = 0;
    let most = 0;
    const results = await runAll(pLimit(3), Array.from({ length: 10 }, (_, i) => async () => {
      running++;
      most = Math.max(most, running);
      await tick(10 - i);
      running--;
      return i * i;
    }));
    assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => i * i));
    assert.equal(most, 3);
  });

  it('after the first failure starts nothing more, lets the running ones finish, and throws that failure', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const tasks = Array.from({ length: 8 }, (_, i) => async () => {
      started.push(i);
      await tick(i === 1 ? 1 : 20);
      if (i === 1) throw new Error('evaluator 1 failed');
      finished.push(i);
    });
    await assert.rejects(runAll(pLimit(2), tasks), /evaluator 1 failed/);
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(finished, [0], 'the evaluation running when 1 failed finished');
  });
});
