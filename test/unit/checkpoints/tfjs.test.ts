import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTfjsHeader } from '../../../server/src/checkpoints/tfjs.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointErrorCode } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, mlpSpecs, mlpTopology, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const sizes = [4, 3, 2];
const model = makeModel([...mlpSpecs(sizes), { name: 'step', shape: [2], dtype: 'I32' }, { name: 'mask', shape: [3], dtype: 'BOOL' }], { seed: 9 });

describe('TensorFlow.js LayersModel headers', () => {
  it('locates each weight in the concatenated shards, splitting straddling ones into segments', async () => {
    // 48 + 12 + 24 + 8 + 8 + 3 = 103 bytes in shards of 20: most weights straddle a boundary.
    const path = writeTfjsModel(join(dir, 'mlp'), model, { shardBytes: 20, topology: mlpTopology(sizes), userDefinedMetadata: { task: 'digits', epochs: 3 } });
    const header = await readTfjsHeader(path);
    assert.equal(header.format, 'tfjs-layers');
    assert.deepEqual(header.metadata, { task: 'digits', epochs: '3' });
    assert.deepEqual([...header.tensors.keys()], model.tensors.map((t) => t.name));
    assert.equal(header.totalBytes, 103);
    const shard = (k: number) => join(dir, 'mlp', `group1-shard${k}of6.bin`);
    const kernel = header.tensors.get('dense1/kernel')!;
    assert.deepEqual(kernel.segments, [
      { file: shard(1), offset: 0, byteLength: 20 },
      { file: shard(2), offset: 0, byteLength: 20 },
      { file: shard(3), offset: 0, byteLength: 8 },
    ]);
    assert.equal(kernel.file, shard(1));
    const bias = header.tensors.get('dense1/bias')!;
    assert.equal(bias.segments, undefined);
    assert.deepEqual({ file: bias.file, offset: bias.offset, byteLength: bias.byteLength }, { file: shard(3), offset: 8, byteLength: 12 });
    assert.deepEqual(header.tensors.get('step')!.dtype, 'I32');
    assert.deepEqual(header.tensors.get('mask')!.dtype, 'BOOL');
    assert.deepEqual(header.files.map((f) => f.path), [path, ...[1, 2, 3, 4, 5, 6].map(shard)]);
    assert.equal((header.tfjsModel as { modelTopology: unknown }).modelTopology !== undefined, true);

    const reader = new TensorReader([header]);
    try {
      for (const t of model.tensors.filter((w) => w.dtype === 'F32')) {
        const out = new Float32Array(t.values.length);
        await reader.readFloat32(header.tensors.get(t.name)!, 0, out);
        assert.deepEqual([...out], [...t.values]);
      }
      // A range that starts inside one shard and ends in the next.
      const part = new Float32Array(6);
      await reader.readFloat32(kernel, 3, part);
      assert.deepEqual([...part], [...model.tensors[0]!.values.slice(3, 9)]);
    } finally {
      await reader.close();
    }
  });

  interface Row {
    readonly name: string;
    readonly corrupt: (where: string, json: Record<string, unknown>) => Record<string, unknown> | string;
    readonly code: CheckpointErrorCode;
    readonly message: readonly string[];
  }
  const group = (json: Record<string, unknown>) => (json.weightsManifest as { paths: string[]; weights: Record<string, unknown>[] }[])[0]!;
  const rows: Row[] = [
    { name: 'not JSON', corrupt: () => '{"modelTopology": ', code: 'bad-manifest', message: ['not valid JSON'] },
    { name: 'a graph model', corrupt: (_, j) => ({ ...j, format: 'graph-model' }), code: 'unknown-format', message: ['"graph-model"', 'LayersModels'] },
    { name: 'no topology', corrupt: (_, j) => ({ ...j, modelTopology: undefined }), code: 'bad-manifest', message: ['no "modelTopology"'] },
    { name: 'no manifest', corrupt: (_, j) => ({ ...j, weightsManifest: undefined }), code: 'bad-manifest', message: ['no "weightsManifest"'] },
    { name: 'group without paths', corrupt: (_, j) => ({ ...j, weightsManifest: [{ weights: [] }] }), code: 'bad-manifest', message: ['group 1', 'expected {paths'] },
    {
      name: 'quantized weight',
      corrupt: (_, j) => { group(j).weights[0]!.quantization = { dtype: 'uint8', scale: 0.1, min: 0 }; return j; },
      code: 'unsupported-dtype', message: ['weight "dense1/kernel" is quantized (uint8)', 'not supported'],
    },
    { name: 'string weight', corrupt: (_, j) => { group(j).weights[0]!.dtype = 'string'; return j; }, code: 'unsupported-dtype', message: ['"string" is not supported'] },
    { name: 'bad shape', corrupt: (_, j) => { group(j).weights[0]!.shape = [4, -3]; return j; }, code: 'bad-shape', message: ['weight "dense1/kernel"', '[4,-3]'] },
    { name: 'weight listed twice', corrupt: (_, j) => { group(j).weights[1]!.name = 'dense1/kernel'; group(j).weights[1]!.shape = [3]; return j; }, code: 'bad-manifest', message: ['"dense1/kernel" is listed twice'] },
    { name: 'shard path escaping the directory', corrupt: (_, j) => { group(j).paths[0] = '../x.bin'; return j; }, code: 'bad-manifest', message: ['"../x.bin"', 'inside the model\'s directory'] },
    { name: 'missing shard', corrupt: (_, j) => { group(j).paths[1] = 'nowhere.bin'; return j; }, code: 'not-found', message: ['nowhere.bin'] },
    {
      name: 'shards shorter than the weights',
      corrupt: (where, j) => { writeFileSync(join(where, group(j).paths[2]!), new Uint8Array(5)); return j; },
      code: 'truncated', message: ['group 1', 'need 103 bytes', 'hold 88'],
    },
    {
      name: 'shards longer than the weights',
      corrupt: (where, j) => { writeFileSync(join(where, group(j).paths[5]!), new Uint8Array(10)); return j; },
      code: 'trailing-bytes', message: ['need 103 bytes', 'hold 110'],
    },
  ];
  rows.forEach((row, n) => {
    it(`${row.name} -> ${row.code}`, async () => {
      const where = join(dir, `case-${n}`);
      mkdirSync(where);
      const path = writeTfjsModel(where, model, { shardBytes: 20, topology: mlpTopology(sizes) });
      const edited = row.corrupt(where, JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>);
      writeFileSync(path, typeof edited === 'string' ? edited : JSON.stringify(edited));
      const error = await readTfjsHeader(path).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
      assert.equal(error.code, row.code, error.message);
      for (const fragment of row.message) assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    });
  });

  it('records shard identities for change detection', async () => {
    const path = writeTfjsModel(join(dir, 'ids'), model, { topology: mlpTopology(sizes) });
    const header = await readTfjsHeader(path);
    const shard = join(dir, 'ids', 'group1-shard1of1.bin');
    assert.deepEqual(header.files[1], { path: shard, size: 103, mtimeMs: statSync(shard).mtimeMs });
  });
});
