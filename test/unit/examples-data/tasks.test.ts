// The examples' tasks: rotations, split hygiene (no evaluated image is ever trained
// on, by any task or by the base), sizes, labels and determinism.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGE_SIZE } from '../../../scripts/examples/sources.ts';
import type { ImageSet } from '../../../scripts/examples/sources.ts';
import {
  buildTasks, disjoint, loadSources, rotateImage, rotationTask, rowKey, SPLIT_SIZES, TASK_NAMES,
} from '../../../scripts/examples/tasks.ts';

function imageWith(pixels: Record<number, number>): Uint8Array {
  const image = new Uint8Array(IMAGE_SIZE);
  for (const [index, value] of Object.entries(pixels)) image[Number(index)] = value;
  return image;
}

const at = (r: number, c: number) => r * 28 + c;

/** A set whose images are filled with one byte value each. */
function setOf(values: number[], labels = values.map(() => 0)): ImageSet {
  const images = new Uint8Array(values.length * IMAGE_SIZE);
  values.forEach((v, i) => images.fill(v, i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE));
  return { count: values.length, images, labels: Int32Array.from(labels) };
}

const firstBytes = (set: ImageSet) => Array.from({ length: set.count }, (_, i) => set.images[i * IMAGE_SIZE]);

describe('rotateImage (counter-clockwise quarter turns)', () => {
  const cases: { from: [number, number]; turns: number; to: [number, number] }[] = [
    { from: [0, 27], turns: 1, to: [0, 0] }, // top-right to top-left
    { from: [0, 0], turns: 1, to: [27, 0] }, // top-left to bottom-left
    { from: [27, 27], turns: 1, to: [0, 27] },
    { from: [3, 5], turns: 2, to: [24, 22] },
    { from: [3, 5], turns: 4, to: [3, 5] },
    { from: [3, 5], turns: -1, to: [5, 24] }, // a clockwise quarter turn
  ];
  for (const c of cases) {
    it(`moves (${c.from}) by ${c.turns} to (${c.to})`, () => {
      const rotated = rotateImage(imageWith({ [at(...c.from)]: 200 }), c.turns);
      assert.equal(rotated[at(...c.to)], 200);
      assert.equal(rotated.reduce((a, b) => a + b, 0), 200);
    });
  }
});

describe('rotationTask', () => {
  const source = setOf([10, 20, 30]);
  it('labels every rotation of every training image', () => {
    const task = rotationTask(source, true);
    assert.equal(task.count, 12);
    assert.deepEqual([...task.labels], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
  });
  it('gives evaluation images one rotation each, cycling the classes', () => {
    const task = rotationTask(source, false);
    assert.equal(task.count, 3);
    assert.deepEqual([...task.labels], [0, 1, 2]);
  });
  it('stores the rotated pixels', () => {
    const task = rotationTask({ count: 1, images: imageWith({ [at(0, 27)]: 9 }), labels: Int32Array.of(0) }, true);
    const expected = [at(0, 27), at(0, 0), at(27, 0), at(27, 27)];
    expected.forEach((pixel, turn) => assert.equal(task.images[turn * IMAGE_SIZE + pixel], 9, `turn ${turn}`));
  });
});

describe('disjoint', () => {
  const cases: { name: string; train: number[]; validation: number[]; test: number[]; expect: { train: number[]; validation: number[] } }[] = [
    { name: 'nothing shared', train: [1, 2], validation: [3], test: [4], expect: { train: [1, 2], validation: [3] } },
    { name: 'a test image in train', train: [1, 4, 2], validation: [3], test: [4], expect: { train: [1, 2], validation: [3] } },
    { name: 'a test image in validation', train: [1], validation: [4, 3], test: [4], expect: { train: [1], validation: [3] } },
    { name: 'a validation image twice in train', train: [3, 1, 3], validation: [3], test: [4], expect: { train: [1], validation: [3] } },
  ];
  for (const c of cases) {
    it(`drops repeated images from earlier splits: ${c.name}`, () => {
      const result = disjoint({ train: setOf(c.train), validation: setOf(c.validation), test: setOf(c.test) });
      assert.deepEqual(firstBytes(result.train), c.expect.train);
      assert.deepEqual(firstBytes(result.validation), c.expect.validation);
      assert.deepEqual(firstBytes(result.test), c.test);
    });
  }
});

describe('buildTasks on the real sources', () => {
  const sources = loadSources();
  const tasks = buildTasks(sources);
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const keys = (set: ImageSet) => new Set(Array.from({ length: set.count }, (_, i) => rowKey(set, i)));

  it('builds the documented tasks', () => {
    assert.deepEqual(tasks.map((t) => t.name), [...TASK_NAMES]);
  });

  const sizes: { task: string; train: number; validation: number; test: number; classes: number }[] = [
    { task: 'mnist', ...SPLIT_SIZES.mnist, classes: 10 },
    { task: 'fashion', train: SPLIT_SIZES.fashionTrain.train, validation: SPLIT_SIZES.fashionTrain.validation, test: SPLIT_SIZES.fashionTest, classes: 10 },
    { task: 'skdigits', ...SPLIT_SIZES.sklearnDigits, classes: 10 },
    { task: 'mnist_parity', ...SPLIT_SIZES.mnist, classes: 2 },
    { task: 'fashion_group', train: SPLIT_SIZES.fashionTrain.train, validation: SPLIT_SIZES.fashionTrain.validation, test: SPLIT_SIZES.fashionTest, classes: 4 },
    { task: 'rot_mnist', train: 4 * SPLIT_SIZES.mnist.train, validation: SPLIT_SIZES.mnist.validation, test: SPLIT_SIZES.mnist.test, classes: 4 },
    { task: 'rot_sk', train: 4 * SPLIT_SIZES.sklearnDigits.train, validation: SPLIT_SIZES.sklearnDigits.validation, test: SPLIT_SIZES.sklearnDigits.test, classes: 4 },
  ];
  for (const s of sizes) {
    it(`${s.task}: split sizes and labels in range`, () => {
      const task = byName.get(s.task)!;
      assert.deepEqual([task.train.count, task.validation.count, task.test.count], [s.train, s.validation, s.test]);
      assert.equal(task.classes.length, s.classes);
      for (const split of [task.train, task.validation, task.test]) {
        assert.equal(split.images.length, split.count * IMAGE_SIZE);
        assert.ok(split.labels.every((l) => l >= 0 && l < s.classes));
        // Every class occurs: a split cut from one corner of a source would not.
        assert.equal(new Set(split.labels).size, s.classes);
      }
    });
  }

  it('never shares an image between splits of a task', () => {
    for (const task of tasks) {
      const [train, validation, test] = [keys(task.train), keys(task.validation), keys(task.test)];
      for (const key of test) assert.ok(!validation.has(key) && !train.has(key), `${task.name}: a test image is also in another split`);
      for (const key of validation) assert.ok(!train.has(key), `${task.name}: a validation image is also in train`);
    }
  });

  it('never trains, in any task, on an image any task evaluates (the base pre-trains on train splits too)', () => {
    const trained = new Set<string>();
    for (const task of tasks) for (const key of keys(task.train)) trained.add(key);
    for (const task of tasks) {
      for (const split of [task.validation, task.test]) {
        for (const key of keys(split)) assert.ok(!trained.has(key), `${task.name}: an evaluation image is in some training split`);
      }
    }
  });

  it('derives labels from the source task: parity, coarse groups, rotations of the same images', () => {
    const mnist = byName.get('mnist')!;
    const parity = byName.get('mnist_parity')!;
    assert.deepEqual(parity.test.images, mnist.test.images);
    assert.deepEqual([...parity.test.labels], [...mnist.test.labels].map((d) => d % 2));
    const fashion = byName.get('fashion')!;
    const group = byName.get('fashion_group')!;
    const groupOf = new Map<number, number>();
    fashion.test.labels.forEach((fine, i) => {
      const coarse = group.test.labels[i]!;
      assert.equal(groupOf.get(fine) ?? coarse, coarse, `fine class ${fine} maps to one group`);
      groupOf.set(fine, coarse);
    });
    const rot = byName.get('rot_mnist')!;
    const turns = rot.test.labels[1]!;
    assert.deepEqual(rot.test.images.subarray(IMAGE_SIZE, 2 * IMAGE_SIZE), rotateImage(mnist.test.images.subarray(IMAGE_SIZE, 2 * IMAGE_SIZE), turns));
  });

  it('is deterministic: the same sources give the same bytes', () => {
    const again = buildTasks(sources);
    tasks.forEach((task, i) => {
      for (const split of ['train', 'validation', 'test'] as const) {
        assert.deepEqual(again[i]![split].images, task[split].images, `${task.name} ${split} images`);
        assert.deepEqual(again[i]![split].labels, task[split].labels, `${task.name} ${split} labels`);
      }
    });
  });
});
