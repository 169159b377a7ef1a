import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsHeader } from '../../../server/src/checkpoints/safetensors.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointErrorCode } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, rawSafetensors, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

let fileCount = 0;
function fileWith(bytes: Uint8Array): string {
  const path = join(dir, `case-${fileCount++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const header = (entries: Record<string, unknown>) => JSON.stringify(entries);
/** A well-formed file: "h.0.w" F32 [4, 5] then "h.0.b" F16 [5]. */
const GOOD = { 'h.0.w': entry('F32', [4, 5], [0, 80]), 'h.0.b': entry('F16', [5], [80, 90]) };

interface Row {
  readonly name: string;
  readonly bytes: () => Uint8Array;
  readonly code: CheckpointErrorCode;
  /** Fragments the message must contain (besides the file name). */
  readonly message: readonly string[];
}

const rows: Row[] = [
  { name: 'file shorter than the length prefix', bytes: () => new Uint8Array(5), code: 'header-length', message: ['5 bytes', 'too short'] },
  { name: 'header length 0', bytes: () => rawSafetensors('', 8), code: 'header-length', message: ['header length is 0'] },
  { name: 'header length over the 100 MB limit', bytes: () => rawSafetensors('{}', 0, { lengthField: 100_000_001n }), code: 'header-length', message: ['100000001', '100,000,000'] },
  { name: 'header length 2^64 - 1', bytes: () => rawSafetensors('{}', 0, { lengthField: 2n ** 64n - 1n }), code: 'header-length', message: ['18446744073709551615'] },
  { name: 'header length past the end of the file', bytes: () => rawSafetensors('{}', 0, { lengthField: 50n }), code: 'header-length', message: ['50', 'larger than the 2 bytes'] },
  {
    name: 'header not UTF-8',
    bytes: () => { const b = rawSafetensors('{"\u00e9":1}'); b[10] = 0xff; return b; },
    code: 'header-json', message: ['UTF-8'],
  },
  { name: 'header not starting with {', bytes: () => rawSafetensors(' {}'), code: 'header-json', message: ["start with '{'"] },
  { name: 'header is an array', bytes: () => rawSafetensors('[]'), code: 'header-json', message: ["start with '{'"] },
  { name: 'JSON syntax error', bytes: () => rawSafetensors('{"a":}'), code: 'header-json', message: ['not valid JSON', "unexpected '}'", 'offset 5'] },
  { name: 'text after the JSON object', bytes: () => rawSafetensors('{} x'), code: 'header-json', message: ["unexpected 'x' after the value"] },
  { name: 'trailing comma', bytes: () => rawSafetensors('{"a":1,}'), code: 'header-json', message: ['expected a string key'] },
  { name: 'NaN literal in a shape', bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}'), code: 'header-json', message: ["unexpected 'N'"] },
  { name: 'nesting past the depth limit', bytes: () => rawSafetensors(`{"a":{"extra":${'['.repeat(100)}${']'.repeat(100)}}}`), code: 'header-json', message: ['deeper than 64'] },
  {
    name: 'duplicate tensor name',
    bytes: () => rawSafetensors(`{"a":${JSON.stringify(entry('F32', [1], [0, 4]))},"a":${JSON.stringify(entry('F32', [1], [4, 8]))}}`, 8),
    code: 'duplicate-key', message: ['"a" twice'],
  },
  { name: 'duplicate field inside an entry', bytes: () => rawSafetensors('{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}', 4), code: 'duplicate-key', message: ['"dtype" twice'] },
  { name: 'entry is not an object', bytes: () => rawSafetensors(header({ a: 5 })), code: 'header-schema', message: ['tensor "a"', 'expected an object', 'found 5'] },
  { name: 'missing shape', bytes: () => rawSafetensors(header({ a: { dtype: 'F32', data_offsets: [0, 4] } }), 4), code: 'header-schema', message: ['tensor "a"', 'missing "shape"'] },
  { name: 'missing dtype', bytes: () => rawSafetensors(header({ a: { shape: [1], data_offsets: [0, 4] } }), 4), code: 'header-schema', message: ['missing "dtype"'] },
  { name: 'missing data_offsets', bytes: () => rawSafetensors(header({ a: { dtype: 'F32', shape: [1] } }), 4), code: 'header-schema', message: ['missing "data_offsets"'] },
  { name: 'dtype not a string', bytes: () => rawSafetensors(header({ a: entry(7 as unknown as string, [1], [0, 4]) }), 4), code: 'header-schema', message: ['dtype must be a string', 'found 7'] },
  { name: 'unknown dtype', bytes: () => rawSafetensors(header({ a: entry('F4', [1], [0, 1]) }), 1), code: 'unsupported-dtype', message: ['tensor "a"', 'unknown dtype "F4"', 'BF16'] },
  { name: 'shape not an array', bytes: () => rawSafetensors(header({ a: entry('F32', 4, [0, 16]) }), 16), code: 'bad-shape', message: ['tensor "a"', 'shape must be an array', 'found 4'] },
  { name: 'negative dimension', bytes: () => rawSafetensors(header({ a: entry('F32', [-1], [0, 4]) }), 4), code: 'bad-shape', message: ['non-negative integers', 'found -1'] },
  { name: 'fractional dimension', bytes: () => rawSafetensors(header({ a: entry('F32', [2.5], [0, 4]) }), 4), code: 'bad-shape', message: ['found 2.5'] },
  { name: 'dimension written 2.0', bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', 8), code: 'bad-shape', message: ['found 2.0'] },
  { name: 'dimension written 1e2', bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[1e2],"data_offsets":[0,400]}}', 400), code: 'bad-shape', message: ['found 1e2'] },
  { name: 'dimension "NaN" as a string', bytes: () => rawSafetensors(header({ a: entry('F32', ['NaN'], [0, 4]) }), 4), code: 'bad-shape', message: ['found "NaN"'] },
  { name: 'dimension beyond 2^53', bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}}', 4), code: 'bad-shape', message: ['found 18446744073709551615'] },
  { name: 'shape product beyond 2^53', bytes: () => rawSafetensors(header({ a: entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4]) }), 4), code: 'bad-shape', message: ['more than 2^53 elements'] },
  { name: 'byte size beyond 2^53', bytes: () => rawSafetensors(header({ a: entry('F64', [2 ** 26, 2 ** 26], [0, 4]) }), 4), code: 'bad-shape', message: ['more than 2^53 bytes'] },
  { name: 'data_offsets with one number', bytes: () => rawSafetensors(header({ a: entry('F32', [1], [4]) }), 4), code: 'bad-offsets', message: ['tensor "a"', 'found [4]'] },
  { name: 'negative offset', bytes: () => rawSafetensors(header({ a: entry('F32', [1], [-4, 0]) }), 4), code: 'bad-offsets', message: ['found [-4, 0]'] },
  { name: 'offset beyond 2^53', bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,9007199254740993]}}', 4), code: 'bad-offsets', message: ['9007199254740993'] },
  { name: 'offsets ending before they begin', bytes: () => rawSafetensors(header({ a: entry('F32', [0], [8, 4]) }), 8), code: 'bad-offsets', message: ['[8, 4] end before they begin'] },
  {
    name: 'span not matching shape x dtype',
    bytes: () => rawSafetensors(header({ 'h.0.w': entry('F32', [4, 5], [0, 96]) }), 96),
    code: 'span-mismatch', message: ['tensor "h.0.w": data_offsets [0, 96] span 96 bytes but shape [4, 5] x F32 needs 80'],
  },
  { name: 'first tensor not at 0', bytes: () => rawSafetensors(header({ a: entry('F32', [1], [4, 8]) }), 8), code: 'bad-offsets', message: ['tensor "a"', 'first tensor must start at 0', '4 bytes'] },
  {
    name: 'gap between tensors',
    bytes: () => rawSafetensors(header({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }), 12),
    code: 'bad-offsets', message: ['tensor "b"', 'gap of 4 bytes after tensor "a" at [0, 4]'],
  },
  {
    name: 'overlapping tensors',
    bytes: () => rawSafetensors(header({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }), 12),
    code: 'bad-offsets', message: ['tensor "b"', '[4, 12] overlap tensor "a" at [0, 8]'],
  },
  { name: 'bytes after the data buffer', bytes: () => rawSafetensors(header(GOOD), 93), code: 'trailing-bytes', message: ['3 trailing bytes'] },
  { name: 'data buffer cut short', bytes: () => rawSafetensors(header(GOOD), 85), code: 'truncated', message: ['truncated', '5 missing'] },
  { name: '__metadata__ not an object', bytes: () => rawSafetensors(header({ __metadata__: 'pt' })), code: 'header-schema', message: ['__metadata__', 'found "pt"'] },
  { name: '__metadata__ value not a string', bytes: () => rawSafetensors(header({ __metadata__: { step: 5 } })), code: 'header-schema', message: ['__metadata__ "step"', 'found 5'] },
];

describe('safetensors header validation', () => {
  for (const row of rows) {
    it(`${row.name} -> ${row.code}`, async () => {
      const path = fileWith(row.bytes());
      const error = await readSafetensorsHeader(path).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
      assert.equal(error.code, row.code, error.message);
      assert.equal(error.file, path);
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      for (const fragment of row.message) assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    });
  }

  it('reports a missing file as not-found with its path', async () => {
    const path = join(dir, 'absent.safetensors');
    await assert.rejects(readSafetensorsHeader(path), (e: unknown) => e instanceof CheckpointError && e.code === 'not-found' && e.message.includes(path));
  });
});

describe('safetensors header reading', () => {
  const model = makeModel([
    { name: 'embed.weight', shape: [6, 4], dtype: 'F32' },
    { name: 'half', shape: [3, 3], dtype: 'F16' },
    { name: 'brain', shape: [5], dtype: 'BF16' },
    { name: 'double', shape: [2, 2], dtype: 'F64' },
    { name: 'steps', shape: [3], dtype: 'I64' },
    { name: 'empty', shape: [0, 4], dtype: 'F32' },
    { name: 'scalar', shape: [], dtype: 'F32' },
    { name: 'ünïcode/名前', shape: [2], dtype: 'F32' },
  ], { seed: 3 });
  const sizes = [96, 18, 10, 32, 24, 0, 4, 8];

  for (const jsonOrder of ['model', 'reversed'] as const) {
    it(`lists every tensor in storage order with absolute offsets (JSON in ${jsonOrder} order)`, async () => {
      const path = writeSafetensors(join(dir, `model-${jsonOrder}.safetensors`), model, { metadata: { format: 'pt', note: 'x' }, jsonOrder });
      const parsed = await readSafetensorsHeader(path);
      const size = statSync(path).size;
      const dataStart = size - sizes.reduce((a, b) => a + b, 0);
      assert.equal(parsed.format, 'safetensors');
      assert.equal(parsed.path, path);
      assert.deepEqual(parsed.metadata, { format: 'pt', note: 'x' });
      assert.deepEqual([...parsed.tensors.keys()], model.tensors.map((t) => t.name));
      let offset = dataStart;
      model.tensors.forEach((t, i) => {
        const e = parsed.tensors.get(t.name)!;
        assert.deepEqual({ dtype: e.dtype, shape: e.shape, file: e.file, offset: e.offset, byteLength: e.byteLength },
          { dtype: t.dtype, shape: t.shape, file: path, offset, byteLength: sizes[i] });
        offset += sizes[i]!;
      });
      assert.equal(parsed.totalBytes, sizes.reduce((a, b) => a + b, 0));
      assert.deepEqual(parsed.files, [{ path, size, mtimeMs: statSync(path).mtimeMs }]);
    });
  }

  const accepted: [string, () => Uint8Array, number][] = [
    ['an empty header {}', () => rawSafetensors('{}'), 0],
    ['a header padded with spaces', () => rawSafetensors(`${header({ a: entry('F32', [1], [0, 4]) })}      `, 4), 1],
    ['__metadata__ null', () => rawSafetensors(header({ __metadata__: null, a: entry('U8', [3], [0, 3]) }), 3), 1],
    ['unknown extra fields in an entry (ignored, as the reference does)', () => rawSafetensors(header({ a: { ...entry('F32', [1], [0, 4]), quant: { bits: [4] } } }), 4), 1],
    ['several zero-size tensors at one offset', () => rawSafetensors(header({ a: entry('F32', [0], [0, 0]), b: entry('I8', [0, 3], [0, 0]), c: entry('F32', [1], [0, 4]) }), 4), 3],
  ];
  for (const [name, bytes, count] of accepted) {
    it(`accepts ${name}`, async () => {
      const parsed = await readSafetensorsHeader(fileWith(bytes()));
      assert.equal(parsed.tensors.size, count);
    });
  }

  it('keeps a tensor named __proto__ as plain data', async () => {
    const bytes = rawSafetensors('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4);
    const parsed = await readSafetensorsHeader(fileWith(bytes));
    assert.deepEqual([...parsed.tensors.keys()], ['__proto__']);
  });

  it('decodes escaped names', async () => {
    const parsed = await readSafetensorsHeader(fileWith(rawSafetensors('{"a\\"b\\u00e9":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)));
    assert.deepEqual([...parsed.tensors.keys()], ['a"bé']);
  });
});
