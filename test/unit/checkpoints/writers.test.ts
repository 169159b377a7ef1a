import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointHeader } from '../../../server/src/checkpoints/types.ts';
import { createSafetensorsWriter, INDEX_FILE } from '../../../server/src/checkpoints/write-safetensors.ts';
import { createTfjsWriter } from '../../../server/src/checkpoints/write-tfjs.ts';
import type { CheckpointWriter, OutputTensor } from '../../../server/src/checkpoints/write-stream.ts';
import { fixtureDir, makeModel, mlpSpecs, mlpTopology, seededRandom, tensorBytes } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const PYTHON = '/usr/bin/python3';

/** Source float32 values, with some specials and F16/BF16 ties among them. */
function sourceValues(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = Float32Array.from({ length: n }, () => (random() - 0.5) * 2 ** Math.floor(random() * 20 - 10));
  const specials = [0, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, Infinity, -Infinity, NaN, 1 + 2 ** -8, 1 + 3 * 2 ** -8];
  specials.forEach((v, i) => { if (i < n) values[i] = v; });
  return values;
}

const SPECS: OutputTensor[] = [
  { name: 'w32', dtype: 'F32', shape: [5, 7] },
  { name: 'w16', dtype: 'F16', shape: [23] },
  { name: 'wbf', dtype: 'BF16', shape: [4, 6] },
  { name: 'w64', dtype: 'F64', shape: [13] },
  { name: 'steps', dtype: 'I64', shape: [3] },
  { name: 'nothing', dtype: 'F32', shape: [0] },
  { name: 'last', dtype: 'F16', shape: [2] },
];
const count = (t: OutputTensor) => t.shape.reduce((a, b) => a * b, 1);
const FLOATS = SPECS.filter((t) => t.dtype !== 'I64');
const SOURCE = new Map(FLOATS.map((t, i) => [t.name, sourceValues(count(t), 100 + i)]));
const INT_BYTES = tensorBytes({ name: 'steps', dtype: 'I64', shape: [3], values: Float64Array.of(-5, 7, 2 ** 40) });

/** Feeds SPECS in storage order: floats in 7-element chunks that cross tensor boundaries, integers as bytes. */
async function feed(writer: CheckpointWriter, specs: readonly OutputTensor[] = SPECS): Promise<void> {
  let pending: number[] = [];
  const flush = async () => {
    for (let i = 0; i < pending.length; i += 7) await writer.writeFloat32(Float32Array.from(pending.slice(i, i + 7)));
    pending = [];
  };
  for (const t of specs) {
    if (t.dtype === 'I64') {
      await flush();
      await writer.writeBytes(INT_BYTES);
    } else {
      pending.push(...SOURCE.get(t.name)!);
    }
  }
  await flush();
}

const bits = new DataView(new ArrayBuffer(4));
const sameValue = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
/** What a dtype stores for a float32 value (independent of the writer's code). */
function expectedStored(dtype: string, v: number): number {
  if (dtype === 'F16') return Math.f16round(v);
  if (dtype !== 'BF16' || !Number.isFinite(v)) return v;
  bits.setFloat32(0, v);
  const u = bits.getUint32(0);
  const down = u & 0xffff0000;
  bits.setUint32(0, down); const a = bits.getFloat32(0);
  bits.setUint32(0, down + 0x10000); const b = bits.getFloat32(0);
  const da = Math.abs(v - a);
  const db = Number.isFinite(b) ? Math.abs(b - v) : Math.abs(Math.sign(v) * 2 ** 128 - v);
  return da < db || (da === db && ((down >>> 16) & 1) === 0) ? a : b;
}

async function checkValues(header: CheckpointHeader): Promise<void> {
  const reader = new TensorReader([header]);
  try {
    for (const t of FLOATS) {
      const out = new Float32Array(count(t));
      await reader.readFloat32(header.tensors.get(t.name)!, 0, out);
      SOURCE.get(t.name)!.forEach((v, i) => assert.ok(sameValue(out[i]!, expectedStored(t.dtype, v)), `${t.name}[${i}]: ${v} -> ${out[i]}`));
    }
    const ints = new Uint8Array(24);
    await reader.readBytes(header.tensors.get('steps')!, 0, ints);
    assert.deepEqual(ints, INT_BYTES);
  } finally {
    await reader.close();
  }
}

function requireNumpy(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  assert.equal(probe.status, 0, `numpy is missing: ${PYTHON} -c 'import numpy' failed (${probe.stderr || probe.error}); install python3-numpy`);
}

/** An independent reader: Python with numpy only, returning every tensor as float64 (or int) lists. */
const NUMPY_READER = `
import json, struct, sys
import numpy as np
path = sys.argv[1]
raw = open(path, 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
out = {'__metadata__': header.pop('__metadata__', None), 'header_len': n}
kinds = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8', 'I64': '<i8'}
for name, info in header.items():
    b, e = info['data_offsets']
    chunk = data[b:e]
    if info['dtype'] == 'BF16':
        values = (np.frombuffer(chunk, dtype='<u2').astype(np.uint32) << 16).view(np.float32)
    else:
        values = np.frombuffer(chunk, dtype=kinds[info['dtype']])
    values = values.reshape(info['shape'])
    out[name] = {'dtype': info['dtype'], 'shape': list(values.shape),
                 'values': [None if np.isnan(v) else (repr(float(v)) if np.isinf(v) else float(v)) for v in values.astype(np.float64).ravel()] if info['dtype'] != 'I64' else values.ravel().tolist()}
    if info['dtype'] == 'F16':
        src = np.array(json.loads(sys.argv[2])[name], dtype=np.float32)
        out[name]['numpy_rounding_agrees'] = bool((np.frombuffer(chunk, dtype='<u2') == src.astype(np.float16).view(np.uint16)).all())
print(json.dumps(out))
`;

/** The F16 tensors' float32 sources as Python's json reads them (NaN, Infinity and -0.0 included). */
function sourceJson(): string {
  const literal = (v: number) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0.0' : String(v));
  const entries = FLOATS.filter((t) => t.dtype === 'F16').map((t) => `${JSON.stringify(t.name)}: [${Array.from(SOURCE.get(t.name)!, literal).join(', ')}]`);
  return `{${entries.join(', ')}}`;
}

describe('safetensors writer', () => {
  it('round-trips every dtype through chunks that cross tensor boundaries', async () => {
    const path = join(dir, 'round.safetensors');
    const writer = await createSafetensorsWriter(path, SPECS, { metadata: { step: '100' } });
    await feed(writer);
    assert.equal(existsSync(path), false, 'nothing at the destination before commit');
    await writer.commit();
    const header = await readCheckpointHeader(path);
    assert.deepEqual(header.metadata, { format: 'pt', step: '100' });
    assert.deepEqual([...header.tensors.values()].map((t) => [t.name, t.dtype, t.shape]), SPECS.map((t) => [t.name, t.dtype, t.shape]));
    assert.equal(header.tensors.get('w32')!.offset % 8, 0, 'header padded to a multiple of 8');
    await checkValues(header);
  });

  it('writes files numpy reads back, with numpy\'s own float16 rounding', () => {
    requireNumpy();
    const path = join(dir, 'round.safetensors');
    const parsed = JSON.parse(execFileSync(PYTHON, ['-W', 'ignore::RuntimeWarning', '-c', NUMPY_READER, path, sourceJson()], { encoding: 'utf8' })) as Record<string, { dtype: string; shape: number[]; values: (number | string | null)[]; numpy_rounding_agrees?: boolean }> & { header_len: number; __metadata__: unknown };
    assert.equal(parsed.header_len % 8, 0);
    assert.deepEqual(parsed.__metadata__, { format: 'pt', step: '100' });
    for (const t of FLOATS) {
      const got = parsed[t.name]!;
      assert.deepEqual([got.dtype, got.shape], [t.dtype, [...t.shape]]);
      SOURCE.get(t.name)!.forEach((v, i) => {
        const raw = got.values[i];
        const value = raw === null ? NaN : typeof raw === 'string' ? Number(raw.replace('inf', 'Infinity')) : raw;
        assert.ok(sameValue(value, expectedStored(t.dtype, v)), `${t.name}[${i}]: ${v} -> ${String(raw)}`);
      });
      if (t.dtype === 'F16') assert.equal(got.numpy_rounding_agrees, true, `${t.name}: float16 bytes differ from numpy's astype(float16)`);
    }
    assert.deepEqual(parsed.steps!.values, [-5, 7, 2 ** 40]);
  });

  it('writes shards and an index that numpy and the reader agree on', async () => {
    const out = join(dir, 'sharded-out');
    const writer = await createSafetensorsWriter(out, SPECS, { maxShardBytes: 100 });
    await feed(writer);
    await writer.commit();
    const files = readdirSync(out).sort();
    // 100-byte shards: [w32 (140)], [w16 (46), wbf (48)], [w64 (104)], [steps, nothing, last]
    const shards = [1, 2, 3, 4].map((k) => `model-0000${k}-of-00004.safetensors`);
    assert.deepEqual(files, [...shards, INDEX_FILE]);
    const index = JSON.parse(readFileSync(join(out, INDEX_FILE), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    assert.equal(index.metadata.total_size, 140 + 46 + 48 + 104 + 24 + 0 + 4);
    const weightMap: Record<string, string> = index.weight_map;
    assert.deepEqual({ ...weightMap }, { w32: shards[0], w16: shards[1], wbf: shards[1], w64: shards[2], steps: shards[3], nothing: shards[3], last: shards[3] });
    const header = await readCheckpointHeader(out);
    assert.equal(header.format, 'safetensors-sharded');
    await checkValues(header);
    requireNumpy();
    for (const shard of shards) {
      const parsed = JSON.parse(execFileSync(PYTHON, ['-W', 'ignore::RuntimeWarning', '-c', NUMPY_READER, join(out, shard), sourceJson()], { encoding: 'utf8' })) as Record<string, unknown>;
      for (const name of Object.keys(parsed).filter((k) => k !== '__metadata__' && k !== 'header_len')) assert.equal(weightMap[name], shard);
    }
  });

  it('refuses more data than the tensors hold, and integer data as floats', async () => {
    const writer = await createSafetensorsWriter(join(dir, 'toomuch.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2] }]);
    await assert.rejects(writer.writeFloat32(new Float32Array(3)), RangeError);
    const ints = await createSafetensorsWriter(join(dir, 'ints.safetensors'), [{ name: 'i', dtype: 'I32', shape: [2] }]);
    await assert.rejects(ints.writeFloat32(new Float32Array(2)), TypeError);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('toomuch') || f.includes('ints')), []);
  });
});

describe('atomic output', () => {
  const small: OutputTensor[] = [{ name: 'a', dtype: 'F32', shape: [3] }];
  const leftovers = (where: string) => readdirSync(where).filter((f) => f.includes('.tvr-tmp-'));

  it('abort leaves nothing behind', async () => {
    const where = join(dir, 'abort');
    const writer = await createSafetensorsWriter(join(where, 'x.safetensors'), small);
    await writer.writeFloat32(Float32Array.of(1, 2));
    assert.equal(leftovers(where).length, 1, 'data goes to a temporary beside the destination');
    await writer.abort();
    assert.deepEqual(readdirSync(where), []);
    await assert.rejects(writer.writeFloat32(Float32Array.of(3)));
  });

  it('an error mid-write removes the temporary and poisons the writer', async () => {
    const where = join(dir, 'midway');
    const writer = await createSafetensorsWriter(join(where, 'x'), [...small, { name: 'i', dtype: 'I64', shape: [1] }], { maxShardBytes: 8 });
    await writer.writeFloat32(Float32Array.of(1, 2, 3));
    await assert.rejects(writer.writeFloat32(Float32Array.of(4)), TypeError);
    assert.deepEqual(readdirSync(where), []);
    await assert.rejects(writer.writeBytes(new Uint8Array(8)), TypeError);
  });

  it('commit with an incomplete tensor fails and leaves nothing', async () => {
    const where = join(dir, 'incomplete');
    const writer = await createSafetensorsWriter(join(where, 'x.safetensors'), small);
    await writer.writeFloat32(Float32Array.of(1));
    await assert.rejects(writer.commit(), /tensor "a" has 4 of 12 bytes/);
    assert.deepEqual(readdirSync(where), []);
  });

  it('never replaces an existing output without overwrite', async () => {
    const where = join(dir, 'existing');
    mkdirSync(where);
    const path = join(where, 'x.safetensors');
    writeFileSync(path, 'precious');
    await assert.rejects(createSafetensorsWriter(path, small), (e: unknown) => e instanceof CheckpointError && e.code === 'output-exists' && e.message.includes(path));
    const writer = await createSafetensorsWriter(path, small, { overwrite: true });
    await writer.writeFloat32(Float32Array.of(1, 2, 3));
    await writer.commit();
    assert.equal((await readCheckpointHeader(path)).tensors.size, 1);
    assert.deepEqual(leftovers(where), []);
  });

  it('does not clobber an output that appeared during the write', async () => {
    const where = join(dir, 'race');
    const path = join(where, 'x.safetensors');
    const writer = await createSafetensorsWriter(path, small);
    await writer.writeFloat32(Float32Array.of(1, 2, 3));
    writeFileSync(path, 'someone else');
    await assert.rejects(writer.commit(), (e: unknown) => e instanceof CheckpointError && e.code === 'output-exists');
    assert.equal(readFileSync(path, 'utf8'), 'someone else');
    assert.deepEqual(leftovers(where), []);
  });

  it('replaces a previous directory output only with overwrite, and never a directory holding other files', async () => {
    const out = join(dir, 'dir-out');
    const write = async (overwrite: boolean) => {
      const writer = await createSafetensorsWriter(out, small, { maxShardBytes: 1 << 20, overwrite });
      await writer.writeFloat32(Float32Array.of(7, 8, 9));
      await writer.commit();
    };
    await write(false);
    await assert.rejects(write(false), (e: unknown) => e instanceof CheckpointError && e.code === 'output-exists');
    await write(true);
    assert.deepEqual(readdirSync(out).sort(), ['model-00001-of-00001.safetensors', INDEX_FILE]);
    writeFileSync(join(out, 'README.md'), 'mine');
    await assert.rejects(write(true), (e: unknown) => e instanceof CheckpointError && e.code === 'output-exists' && e.message.includes('README.md'));
    assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), 'mine');
    assert.deepEqual(leftovers(dir), []);
  });

  it('names the path when the destination cannot be created', async () => {
    writeFileSync(join(dir, 'plainfile'), 'x');
    const target = join(dir, 'plainfile', 'sub', 'x.safetensors');
    await assert.rejects(createSafetensorsWriter(target, small),
      (e: unknown) => e instanceof CheckpointError && e.code === 'write-failed' && e.message.includes(join(dir, 'plainfile')));
  });

  it('removes temporaries when the process exits before commit', () => {
    const where = join(dir, 'exit');
    mkdirSync(where);
    const script = `
      import { createSafetensorsWriter } from ${JSON.stringify(new URL('../../../server/src/checkpoints/write-safetensors.ts', import.meta.url).href)};
      const w = await createSafetensorsWriter(${JSON.stringify(join(where, 'x.safetensors'))}, [{ name: 'a', dtype: 'F32', shape: [1 << 20] }]);
      await w.writeFloat32(new Float32Array(1 << 19));
      process.exit(3);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 3, child.stderr);
    assert.deepEqual(readdirSync(where), []);
  });
});

/** A tfjs IOHandler over the files of a saved LayersModel. */
function fileHandler(modelDir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
      const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(modelDir, p))));
      const all = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
      let at = 0;
      for (const b of buffers) { all.set(b, at); at += b.length; }
      return { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: all.buffer };
    },
  };
}

describe('TensorFlow.js writer', () => {
  const sizes = [6, 5, 3];
  const model: FixtureModel = makeModel(mlpSpecs(sizes), { seed: 33 });

  it('writes a LayersModel that tf.loadLayersModel loads and that predicts with the written weights', async () => {
    await tf.setBackend('cpu');
    const out = join(dir, 'web-out');
    const template = { modelTopology: mlpTopology(sizes), format: 'layers-model', generatedBy: 'fixture', weightsManifest: 'replaced', userDefinedMetadata: { old: 'x' } };
    const writer = await createTfjsWriter(out, model.tensors.map((t) => ({ name: t.name, dtype: 'F16' as const, shape: t.shape })), {
      model: template, metadata: { recipe: 'edited = base', lambda: '0.5' }, maxShardBytes: 64,
    });
    assert.deepEqual(writer.tensors.map((t) => t.dtype), model.tensors.map(() => 'F32'), 'float tensors are stored as float32');
    for (const t of model.tensors) await writer.writeFloat32(Float32Array.from(t.values));
    await writer.commit();

    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(json.userDefinedMetadata, { recipe: 'edited = base', lambda: '0.5' });
    assert.equal(json.generatedBy, 'fixture');
    assert.deepEqual(readdirSync(out).sort(), ['group1-shard1of4.bin', 'group1-shard2of4.bin', 'group1-shard3of4.bin', 'group1-shard4of4.bin', 'model.json']);

    const loaded = await tfl.loadLayersModel(fileHandler(out));
    const input = Array.from({ length: sizes[0]! }, (_, i) => (i - 2) / 3);
    const prediction = Array.from((loaded.predict(tf.tensor2d([input])) as tf.Tensor).dataSync());
    // Independent forward pass over the fixture's float64 values.
    let activation = input;
    for (let layer = 0; layer < sizes.length - 1; layer++) {
      const kernel = model.tensors[2 * layer]!.values;
      const bias = model.tensors[2 * layer + 1]!.values;
      const units = sizes[layer + 1]!;
      activation = Array.from({ length: units }, (_, j) => {
        const z = activation.reduce((sum, a, i) => sum + a * kernel[i * units + j]!, bias[j]!);
        return layer < sizes.length - 2 ? Math.max(0, z) : z;
      });
    }
    prediction.forEach((p, j) => assert.ok(Math.abs(p - activation[j]!) < 1e-5, `output ${j}: ${p} vs ${activation[j]}`));

    const header = await readCheckpointHeader(out);
    assert.equal(header.format, 'tfjs-layers');
    assert.deepEqual(header.metadata, { recipe: 'edited = base', lambda: '0.5' });
    const reader = new TensorReader([header]);
    try {
      for (const t of model.tensors) {
        const values = new Float32Array(t.values.length);
        await reader.readFloat32(header.tensors.get(t.name)!, 0, values);
        assert.deepEqual([...values], [...t.values]);
      }
    } finally {
      await reader.close();
    }
  });

  it('refuses dtypes TensorFlow.js cannot hold and a missing topology', async () => {
    await assert.rejects(createTfjsWriter(join(dir, 'bad-web'), [{ name: 'x', dtype: 'I64', shape: [1] }], { model: { modelTopology: {} } }), /I64/);
    await assert.rejects(createTfjsWriter(join(dir, 'bad-web'), [], { model: {} }), /modelTopology/);
    assert.equal(existsSync(join(dir, 'bad-web')), false);
  });
});
