import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, rmSync, truncateSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointHeader } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, seededRandom, tensorBytes, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const model = makeModel([
  { name: 'f32', shape: [37, 5] },
  { name: 'f16', shape: [101], dtype: 'F16' },
  { name: 'bf16', shape: [3, 33], dtype: 'BF16' },
  { name: 'f64', shape: [50], dtype: 'F64' },
  { name: 'i64', shape: [9], dtype: 'I64' },
], { seed: 21, scale: 3 });

async function withReader<T>(headers: CheckpointHeader[], run: (reader: TensorReader) => Promise<T>, options = {}): Promise<T> {
  const reader = new TensorReader(headers, options);
  try {
    return await run(reader);
  } finally {
    await reader.close();
  }
}

describe('TensorReader', () => {
  for (const mode of ['async', 'sync'] as const) {
    it(`reads random element ranges of every float dtype, decoded to float32 (${mode})`, async () => {
      const header = await readCheckpointHeader(writeSafetensors(join(dir, `ranges-${mode}.safetensors`), model));
      const random = seededRandom(5);
      await withReader([header], async (reader) => {
        for (const t of model.tensors.filter((x) => x.dtype !== 'I64')) {
          for (let k = 0; k < 25; k++) {
            const start = Math.floor(random() * t.values.length);
            const count = Math.floor(random() * (t.values.length - start)) + 1;
            const out = new Float32Array(count);
            const entry = header.tensors.get(t.name)!;
            if (mode === 'sync') reader.readFloat32Sync(entry, start, out);
            else await reader.readFloat32(entry, start, out);
            const expected = Array.from(t.values.subarray(start, start + count), Math.fround);
            assert.deepEqual([...out], expected, `${t.name} [${start}, ${start + count})`);
          }
        }
      });
    });
  }

  it('copies integer tensors byte for byte', async () => {
    const header = await readCheckpointHeader(writeSafetensors(join(dir, 'ints.safetensors'), model));
    const i64 = model.tensors.find((t) => t.name === 'i64')!;
    await withReader([header], async (reader) => {
      const out = new Uint8Array(24);
      await reader.readBytes(header.tensors.get('i64')!, 16, out);
      assert.deepEqual([...out], [...tensorBytes(i64).subarray(16, 40)]);
      const same = new Uint8Array(24);
      reader.readBytesSync(header.tensors.get('i64')!, 16, same);
      assert.deepEqual(same, out);
      await assert.rejects(reader.readFloat32(header.tensors.get('i64')!, 0, new Float32Array(1)), TypeError);
    });
  });

  it('reads across shards with few handles open', async () => {
    const index = writeShardedSafetensors(join(dir, 'many'), model, { shards: 5 });
    const header = await readCheckpointHeader(index);
    await withReader([header], async (reader) => {
      for (let round = 0; round < 3; round++) {
        await Promise.all(model.tensors.filter((t) => t.dtype !== 'I64').map(async (t) => {
          const out = new Float32Array(t.values.length);
          await reader.readFloat32(header.tensors.get(t.name)!, 0, out);
          assert.deepEqual([...out], Array.from(t.values, Math.fround));
        }));
      }
    }, { maxOpenFiles: 2 });
  });

  it('rejects element and byte ranges outside the tensor', async () => {
    const header = await readCheckpointHeader(writeSafetensors(join(dir, 'bounds.safetensors'), model));
    await withReader([header], async (reader) => {
      const f32 = header.tensors.get('f32')!;
      await assert.rejects(reader.readFloat32(f32, 180, new Float32Array(6)), RangeError);
      await assert.rejects(reader.readFloat32(f32, -1, new Float32Array(1)), RangeError);
      await assert.rejects(reader.readBytes(f32, 700, new Uint8Array(41)), RangeError);
    });
  });

  const changes: [string, (path: string) => void, string, string][] = [
    ['grown', (p) => appendFileSync(p, new Uint8Array(8)), 'changed-on-disk', 'size'],
    ['touched', (p) => utimesSync(p, new Date(), new Date(Date.now() + 10_000)), 'changed-on-disk', 'modified at'],
    ['truncated', (p) => truncateSync(p, 200), 'changed-on-disk', 'size'],
  ];
  for (const [name, change, code, fragment] of changes) {
    it(`refuses a file ${name} since its header was read (${code})`, async () => {
      const path = writeSafetensors(join(dir, `changed-${name}.safetensors`), model);
      const header = await readCheckpointHeader(path);
      change(path);
      await withReader([header], async (reader) => {
        const error = await reader.readFloat32(header.tensors.get('f64')!, 0, new Float32Array(4)).then(() => undefined, (e: unknown) => e);
        assert.ok(error instanceof CheckpointError, String(error));
        assert.equal(error.code, code);
        assert.ok(error.message.includes('tensor "f64"') && error.message.includes(fragment) && error.message.includes(path), error.message);
      });
    });
  }

  it('reports a short read as truncated, naming the tensor', async () => {
    const path = writeSafetensors(join(dir, 'short.safetensors'), model);
    const header = await readCheckpointHeader(path);
    truncateSync(path, header.tensors.get('f64')!.offset + 10);
    // No recorded identities: only the short read itself can reveal the truncation.
    await withReader([], async (reader) => {
      for (const read of [
        () => reader.readFloat32(header.tensors.get('f64')!, 0, new Float32Array(50)),
        async () => reader.readFloat32Sync(header.tensors.get('f64')!, 0, new Float32Array(50)),
      ]) {
        const error = await read().then(() => undefined, (e: unknown) => e);
        assert.ok(error instanceof CheckpointError && error.code === 'truncated', String(error));
        assert.ok(error.message.includes('tensor "f64"'), error.message);
      }
    });
  });

  it('reports a file removed after its header was read as not-found', async () => {
    const path = writeSafetensors(join(dir, 'gone.safetensors'), model);
    const header = await readCheckpointHeader(path);
    rmSync(path);
    await withReader([header], async (reader) => {
      await assert.rejects(reader.readFloat32(header.tensors.get('f32')!, 0, new Float32Array(2)),
        (e: unknown) => e instanceof CheckpointError && e.code === 'not-found' && e.message.includes('tensor "f32"'));
    });
  });
});
