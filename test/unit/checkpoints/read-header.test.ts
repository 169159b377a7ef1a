import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeaderCache, readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointFormat } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, mlpSpecs, mlpTopology, writeSafetensors, writeShardedSafetensors, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => {
  ({ dir, cleanup } = fixtureDir());
  const model = makeModel([{ name: 'w', shape: [2, 2] }, { name: 'b', shape: [2] }], { seed: 1 });
  writeSafetensors(join(dir, 'single.safetensors'), model);
  mkdirSync(join(dir, 'hf'));
  writeSafetensors(join(dir, 'hf', 'model.safetensors'), model);
  writeShardedSafetensors(join(dir, 'sharded'), model, { shards: 2 });
  writeTfjsModel(join(dir, 'web'), makeModel(mlpSpecs([2, 2]), { seed: 2 }), { topology: mlpTopology([2, 2]) });
  mkdirSync(join(dir, 'nothing'));
  writeFileSync(join(dir, 'nothing', 'notes.txt'), 'hi');
  writeFileSync(join(dir, 'weights.bin'), 'pickle');
  writeFileSync(join(dir, 'weights.npz'), 'zip');
});
after(() => cleanup());

describe('readCheckpointHeader', () => {
  const formats: [string, CheckpointFormat, string][] = [
    ['single.safetensors', 'safetensors', 'single.safetensors'],
    ['hf', 'safetensors', 'hf/model.safetensors'],
    ['sharded/model.safetensors.index.json', 'safetensors-sharded', 'sharded/model.safetensors.index.json'],
    ['sharded', 'safetensors-sharded', 'sharded/model.safetensors.index.json'],
    ['web/model.json', 'tfjs-layers', 'web/model.json'],
    ['web', 'tfjs-layers', 'web/model.json'],
  ];
  for (const [input, format, resolved] of formats) {
    it(`${input} -> ${format}`, async () => {
      const header = await readCheckpointHeader(join(dir, input));
      assert.equal(header.format, format);
      assert.equal(header.path, join(dir, resolved));
    });
  }

  const failures: [string, string, readonly string[]][] = [
    ['absent.safetensors', 'not-found', ['absent.safetensors', 'no such file']],
    ['nothing', 'unknown-format', ['model.safetensors, model.safetensors.index.json, model.json']],
    ['weights.bin', 'unknown-format', ['pickles', 'convert them to safetensors']],
    ['weights.npz', 'unknown-format', ['cannot tell the checkpoint format']],
  ];
  for (const [input, code, fragments] of failures) {
    it(`${input} -> ${code}`, async () => {
      const error = await readCheckpointHeader(join(dir, input)).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof CheckpointError);
      assert.equal(error.code, code);
      for (const f of fragments) assert.ok(error.message.includes(f), `"${error.message}" lacks "${f}"`);
    });
  }
});

describe('HeaderCache', () => {
  it('reuses a header while its files are unchanged and re-reads after a change', async () => {
    const path = join(dir, 'cached.safetensors');
    writeSafetensors(path, makeModel([{ name: 'w', shape: [3] }], { seed: 4 }));
    const cache = new HeaderCache();
    const first = await cache.get(path);
    assert.equal(await cache.get(path), first, 'an unchanged file gives the same header object');
    writeSafetensors(path, makeModel([{ name: 'w', shape: [3] }, { name: 'v', shape: [1] }], { seed: 4 }));
    const second = await cache.get(path);
    assert.notEqual(second, first);
    assert.deepEqual([...second.tensors.keys()], ['w', 'v']);
  });

  it('notices a shard that changed behind an unchanged index', async () => {
    const model = makeModel([{ name: 'a', shape: [2] }, { name: 'b', shape: [2] }], { seed: 6 });
    const index = writeShardedSafetensors(join(dir, 'shards-cache'), model, { shards: 2 });
    const cache = new HeaderCache();
    const first = await cache.get(index);
    const shard = join(dir, 'shards-cache', 'model-00002-of-00002.safetensors');
    utimesSync(shard, new Date(), new Date(Date.now() + 5000));
    assert.notEqual(await cache.get(index), first);
  });

  it('caches an error until the broken file changes', async () => {
    const path = join(dir, 'broken.safetensors');
    writeFileSync(path, new Uint8Array(3));
    const cache = new HeaderCache();
    const first = await cache.get(path).then(() => undefined, (e: unknown) => e);
    assert.ok(first instanceof CheckpointError && first.code === 'header-length');
    assert.equal(await cache.get(path).then(() => undefined, (e: unknown) => e), first);
    appendFileSync(path, new Uint8Array(2));
    const second = await cache.get(path).then(() => undefined, (e: unknown) => e);
    assert.ok(second instanceof CheckpointError && second !== first);
  });

  it('shares one read between concurrent requests and keeps at most maxEntries', async () => {
    const cache = new HeaderCache({ maxEntries: 1 });
    const a = join(dir, 'single.safetensors');
    const [x, y] = await Promise.all([cache.get(a), cache.get(a)]);
    assert.equal(x, y);
    await cache.get(join(dir, 'hf'));
    assert.notEqual(await cache.get(a), x, 'the older entry was evicted');
  });
});
