// The header hash in every output's provenance: the bytes that define a checkpoint's layout
// (length prefix and JSON header), read in full; a file whose header no longer fits is a
// CheckpointError, never a hash of whatever bytes a short read left.
import assert from 'node:assert/strict';
import { readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { headerHash, sha256 } from '../../../server/src/engine/provenance.ts';
import { fixtureDir, makeModel, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';

const model = makeModel([{ name: 'w', shape: [8, 4] }, { name: 'b', shape: [4] }], { seed: 3 });

function layoutOf(path: string): Buffer {
  const bytes = readFileSync(path);
  return bytes.subarray(0, 8 + Number(bytes.readBigUInt64LE(0)));
}

test('hashes a safetensors file\'s length prefix and JSON header, and a sharded index then each shard\'s', async (t) => {
  const { dir, cleanup } = fixtureDir();
  t.after(cleanup);
  const single = writeSafetensors(join(dir, 'one.safetensors'), model);
  assert.equal(await headerHash(await readCheckpointHeader(single)), sha256(layoutOf(single)));

  const index = writeShardedSafetensors(join(dir, 'sharded'), model, { shards: 2 });
  const header = await readCheckpointHeader(index);
  const shards = header.files.map((f) => f.path).filter((p) => p !== header.path);
  assert.equal(shards.length, 2);
  assert.equal(await headerHash(header), sha256(Buffer.concat([readFileSync(index), ...shards.map(layoutOf)])));
});

test('a file cut short inside its header since it was checked is a CheckpointError', async (t) => {
  const { dir, cleanup } = fixtureDir();
  t.after(cleanup);
  const path = writeSafetensors(join(dir, 'cut.safetensors'), model);
  const header = await readCheckpointHeader(path);
  truncateSync(path, 8 + Number(readFileSync(path).readBigUInt64LE(0)) - 5);
  await assert.rejects(headerHash(header), (error: unknown) => error instanceof CheckpointError && error.file === path && /header length \d+ is larger than/.test(error.message));
});
