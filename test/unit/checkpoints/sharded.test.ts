import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readShardedSafetensorsHeader } from '../../../server/src/checkpoints/sharded.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointErrorCode } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const model = makeModel([
  { name: 'a', shape: [4, 3] },
  { name: 'b', shape: [3], dtype: 'F16' },
  { name: 'c', shape: [2, 2], dtype: 'BF16' },
  { name: 'd', shape: [5], dtype: 'I64' },
  { name: 'e', shape: [7] },
], { seed: 5 });

describe('sharded safetensors', () => {
  it('reads every shard and points each tensor at its shard', async () => {
    const index = writeShardedSafetensors(join(dir, 'ok'), model, { shards: 3, metadata: { format: 'pt' } });
    const header = await readShardedSafetensorsHeader(index);
    assert.equal(header.format, 'safetensors-sharded');
    assert.equal(header.path, index);
    assert.deepEqual([...header.tensors.keys()], ['a', 'b', 'c', 'd', 'e']);
    const weightMap = JSON.parse(readFileSync(index, 'utf8')).weight_map as Record<string, string>;
    for (const [name, entry] of header.tensors) assert.equal(entry.file, join(dir, 'ok', weightMap[name]!));
    assert.deepEqual(header.files.map((f) => f.path), [index, ...['00001', '00002', '00003'].map((n) => join(dir, 'ok', `model-${n}-of-00003.safetensors`))]);
    assert.equal(header.files[1]!.size, statSync(header.files[1]!.path).size);
    assert.equal(header.totalBytes, 48 + 6 + 8 + 40 + 28);
    assert.equal(header.metadata.total_size, String(header.totalBytes));
    assert.equal(header.metadata.format, 'pt');
  });

  interface Row {
    readonly name: string;
    /** Edits the valid 2-shard checkpoint in `where`; returns the index path to read. */
    readonly corrupt: (where: string, index: Record<string, unknown>) => Record<string, unknown> | string;
    readonly code: CheckpointErrorCode;
    readonly message: readonly string[];
  }
  const shard1 = 'model-00001-of-00002.safetensors';
  const shard2 = 'model-00002-of-00002.safetensors';
  const weightMapOf = (index: Record<string, unknown>) => index.weight_map as Record<string, string>;
  const rows: Row[] = [
    { name: 'index not JSON', corrupt: () => '{"weight_map": ', code: 'bad-index', message: ['not valid JSON'] },
    { name: 'no weight_map', corrupt: () => ({ metadata: {} }), code: 'bad-index', message: ['"weight_map" must be an object'] },
    { name: 'weight_map value not a string', corrupt: (_, i) => ({ ...i, weight_map: { ...weightMapOf(i), a: 3 } }), code: 'bad-index', message: ['weight_map "a"', 'found 3'] },
    { name: 'total_size not an integer', corrupt: (_, i) => ({ ...i, metadata: { total_size: 'big' } }), code: 'bad-index', message: ['total_size', '"big"'] },
    { name: 'tensor listed twice', corrupt: () => `{"weight_map":{"a":"${shard1}","a":"${shard2}"}}`, code: 'duplicate-key', message: ['"a" twice'] },
    { name: 'shard outside the directory', corrupt: (_, i) => ({ ...i, weight_map: { ...weightMapOf(i), a: '../elsewhere.safetensors' } }), code: 'bad-index', message: ['weight_map "a"', '"../elsewhere.safetensors" is outside'] },
    { name: 'absolute shard path', corrupt: (_, i) => ({ ...i, weight_map: { ...weightMapOf(i), a: '/etc/passwd' } }), code: 'bad-index', message: ['"/etc/passwd" is outside'] },
    { name: 'index maps a tensor to a shard without it', corrupt: (_, i) => ({ ...i, weight_map: { ...weightMapOf(i), a: shard2 } }), code: 'bad-index', message: ['tensor "a"', `"${shard2}"`, `stored in "${shard1}"`] },
    {
      name: 'index lists a tensor no shard holds',
      corrupt: (_, i) => ({ ...i, weight_map: { ...weightMapOf(i), ghost: shard2 } }),
      code: 'bad-index', message: ['tensor "ghost"', `"${shard2}", which does not contain it`],
    },
    {
      name: 'shard holds a tensor the index does not list',
      corrupt: (_, i) => { const map = { ...weightMapOf(i) }; delete map.e; return { ...i, weight_map: map }; },
      code: 'bad-index', message: ['holds tensor "e", which the index does not list'],
    },
    {
      name: 'tensor stored in two shards',
      corrupt: (where, i) => {
        writeSafetensors(join(where, shard2), { tensors: [...model.tensors.slice(2), model.tensors[0]!] });
        return i;
      },
      code: 'bad-index', message: ['tensor "a" is stored in two shards', `"${shard1}" and "${shard2}"`],
    },
    {
      name: 'missing shard file',
      corrupt: (where, i) => { rmSync(join(where, shard2)); return i; },
      code: 'not-found', message: [shard2],
    },
    {
      name: 'corrupt shard',
      corrupt: (where, i) => { writeFileSync(join(where, shard1), new Uint8Array(4)); return i; },
      code: 'header-length', message: [shard1, 'too short'],
    },
  ];
  rows.forEach((row, n) => {
    it(`${row.name} -> ${row.code}`, async () => {
      const where = join(dir, `case-${n}`);
      mkdirSync(where);
      const index = writeShardedSafetensors(where, model, { shards: 2 });
      const edited = row.corrupt(where, JSON.parse(readFileSync(index, 'utf8')) as Record<string, unknown>);
      writeFileSync(index, typeof edited === 'string' ? edited : JSON.stringify(edited));
      const error = await readShardedSafetensorsHeader(index).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
      assert.equal(error.code, row.code, error.message);
      for (const fragment of row.message) assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    });
  });
});
