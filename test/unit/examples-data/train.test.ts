// The training pipeline on shrunken real tasks with a few steps: what it writes,
// that it skips what is up to date, retrains exactly what a change affects, and
// writes the same bytes every time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { baseKey, pretrainPool, taskKey, TRAINING, trainModels } from '../../../scripts/examples/train.ts';
import type { TrainingConfig } from '../../../scripts/examples/train.ts';
import { buildTasks, loadSources, selectRows } from '../../../scripts/examples/tasks.ts';
import type { Task } from '../../../scripts/examples/tasks.ts';

const TINY: TrainingConfig = {
  ...TRAINING,
  pretrain: { ...TRAINING.pretrain, steps: 3, batchSize: 32 },
  finetune: { ...TRAINING.finetune, steps: 4, batchSize: 32 },
};

function shrink(task: Task): Task {
  const first = (n: number) => Array.from({ length: n }, (_, i) => i);
  return { ...task, train: selectRows(task.train, first(200)), validation: selectRows(task.validation, first(50)), test: selectRows(task.test, first(50)) };
}

const allTasks = buildTasks(loadSources());
const tasks = allTasks.filter((t) => ['mnist', 'fashion', 'skdigits', 'rot_sk'].includes(t.name)).map(shrink);

function snapshot(dir: string): Map<string, { mtimeMs: number; bytes: Buffer }> {
  const files = new Map<string, { mtimeMs: number; bytes: Buffer }>();
  for (const sub of readdirSync(dir)) {
    for (const name of readdirSync(join(dir, sub))) {
      const path = join(dir, sub, name);
      files.set(`${sub}/${name}`, { mtimeMs: statSync(path).mtimeMs, bytes: readFileSync(path) });
    }
  }
  return files;
}

describe('trainModels', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
    dirs.push(dir);
    return dir;
  };
  after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

  let dir: string;
  before(async () => {
    dir = freshDir();
    await trainModels(tasks, dir, { config: TINY, progress: false });
  });

  it('writes an encoder-only base and one fine-tuned classifier per task', async () => {
    assert.deepEqual(readdirSync(dir).sort(), ['base', 'fashion', 'mnist', 'rot_sk', 'skdigits']);
    const base = await readCheckpointHeader(join(dir, 'base', 'model.json'));
    assert.deepEqual([...base.tensors.keys()], ['encoder_1/kernel', 'encoder_1/bias', 'encoder_2/kernel', 'encoder_2/bias']);
    assert.equal(base.metadata.role, 'base');
    for (const task of tasks) {
      const header = await readCheckpointHeader(join(dir, task.name, 'model.json'));
      assert.deepEqual(header.tensors.get('head/kernel')!.shape, [256, task.classes.length]);
      assert.deepEqual({ role: header.metadata.role, task: header.metadata.task, classes: header.metadata.classes }, {
        role: 'fine-tuned', task: task.name, classes: JSON.stringify(task.classes),
      });
      assert.equal(header.metadata.trainKey, taskKey(baseKey(pretrainPool(tasks, TINY), TINY), task, TINY));
    }
  });

  it('skips everything that is up to date', async () => {
    const before = snapshot(dir);
    const result = await trainModels(tasks, dir, { config: TINY, progress: false });
    assert.equal(result.baseTrained, false);
    assert.deepEqual(result.tasks.map((t) => t.trained), tasks.map(() => false));
    assert.deepEqual(snapshot(dir), before);
  });

  it('retrains the fine-tuned models, not the base, when fine-tuning changes', async () => {
    const changed: TrainingConfig = { ...TINY, finetune: { ...TINY.finetune, learningRate: 0.05 } };
    const before = snapshot(dir);
    const result = await trainModels(tasks, dir, { config: changed, progress: false });
    assert.equal(result.baseTrained, false);
    assert.deepEqual(result.tasks.map((t) => t.trained), tasks.map(() => true));
    assert.deepEqual(snapshot(dir).get('base/model.json'), before.get('base/model.json'));
    assert.notDeepEqual(snapshot(dir).get('mnist/group1-shard1of1.bin')!.bytes, before.get('mnist/group1-shard1of1.bin')!.bytes);
  });

  it('retrains only the task whose training data changed', async () => {
    await trainModels(tasks, dir, { config: TINY, progress: false });
    const edited = tasks.map((t) => (t.name === 'rot_sk' ? { ...t, train: selectRows(t.train, Array.from({ length: 150 }, (_, i) => i)) } : t));
    const result = await trainModels(edited, dir, { config: TINY, progress: false });
    assert.equal(result.baseTrained, false);
    assert.deepEqual(result.tasks.filter((t) => t.trained).map((t) => t.task.name), ['rot_sk']);
  });

  it('retrains everything with force, to the same bytes, and a fresh directory gets the same bytes too', async () => {
    await trainModels(tasks, dir, { config: TINY, progress: false, force: true });
    const forced = snapshot(dir);
    const other = freshDir();
    await trainModels(tasks, other, { config: TINY, progress: false });
    const fresh = snapshot(other);
    assert.deepEqual([...fresh.keys()].sort(), [...forced.keys()].sort());
    for (const [name, file] of fresh) assert.deepEqual(file.bytes, forced.get(name)!.bytes, name);
  });

  const keyCases: { name: string; config: TrainingConfig; changesBase: boolean }[] = [
    { name: 'same configuration', config: { ...TINY }, changesBase: false },
    { name: 'another pre-training seed', config: { ...TINY, pretrain: { ...TINY.pretrain, seed: 1 } }, changesBase: true },
    { name: 'another version', config: { ...TINY, version: TINY.version + 1 }, changesBase: true },
    { name: 'another fine-tuning step count', config: { ...TINY, finetune: { ...TINY.finetune, steps: 5 } }, changesBase: false },
  ];
  for (const c of keyCases) {
    it(`keys: ${c.name}`, () => {
      const pool = pretrainPool(tasks, TINY);
      assert.equal(baseKey(pool, c.config) !== baseKey(pool, TINY), c.changesBase);
      const base = baseKey(pool, TINY);
      const sameTask = taskKey(base, tasks[0]!, c.config) === taskKey(base, tasks[0]!, TINY);
      assert.equal(sameTask, JSON.stringify(c.config.finetune) === JSON.stringify(TINY.finetune) && c.config.version === TINY.version);
    });
  }
});
