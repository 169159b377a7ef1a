// What a run writes: formats (single, sharded, TensorFlow.js that tfjs-layers loads and
// evaluates), dtypes, integer tensors, provenance, events, relocation, and in-memory
// materialisation that matches the files.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  fixtureDir, makeModel, mlpSpecs, mlpTopology, perturbModel, writeSafetensors, writeShardedSafetensors, writeTfjsModel,
} from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { EngineError, materialize, PROVENANCE_KEYS, runProgram } from '../../../server/src/engine/index.ts';
import type { RunEvent } from '../../../server/src/engine/index.ts';
import { ProgramBuilder, linear, readSafetensorsOutput, readTfjsOutput } from './helpers.ts';

const SPECS = [
  { name: 'embed', shape: [50, 8] },
  { name: 'position_ids', shape: [1, 6], dtype: 'I64' as const },
  { name: 'proj', shape: [8, 8] },
  { name: 'mask', shape: [4], dtype: 'BOOL' as const },
];

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function headerBytes(path: string): Uint8Array {
  const file = readFileSync(path);
  return file.subarray(0, 8 + Number(file.readBigUInt64LE(0)));
}

describe('outputs', () => {
  const fixture = fixtureDir();
  let base: FixtureModel, ft: FixtureModel;
  let basePath: string, ftIndex: string;
  before(() => {
    base = makeModel(SPECS, { seed: 3 });
    ft = perturbModel(base, { seed: 4, scale: 0.2 });
    basePath = writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    ftIndex = writeShardedSafetensors(join(fixture.dir, 'ft'), ft, { shards: 2 });
  });
  after(() => fixture.cleanup());

  const expected = (name: string): Float64Array => {
    const b = base.tensors.find((t) => t.name === name)!.values;
    return linear([[1, b], [0.5, linear([[1, ft.tensors.find((t) => t.name === name)!.values], [-1, b]])]]);
  };

  test('single file: values, integer tensors copied, provenance, events', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, f] = [await pb.load(basePath), await pb.load(ftIndex)];
    const out = join(fixture.dir, 'single', 'edited.safetensors');
    pb.save(pb.combine([[1, b], [0.5, pb.dare(pb.diff(f, b), 0, 17)]], 'model'), out);
    const events: RunEvent[] = [];
    await runProgram(pb.program(), { backend: 'js', recipeText: 'edited = base + 0.5 * (ft - base)', onEvent: (e) => events.push(e) });

    const read = readSafetensorsOutput(out);
    assert.deepEqual(read.order, SPECS.map((s) => s.name));
    for (const name of ['embed', 'proj']) {
      const want = expected(name);
      read.tensors.get(name)!.values.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `${name}[${i}]`));
    }
    for (const name of ['position_ids', 'mask']) {
      assert.equal(read.tensors.get(name)!.dtype, SPECS.find((s) => s.name === name)!.dtype);
      assert.deepEqual(read.tensors.get(name)!.values, base.tensors.find((t) => t.name === name)!.values, `${name} copied from the anchor`);
    }

    const meta = read.metadata;
    assert.equal(meta.format, 'pt');
    assert.equal(meta[PROVENANCE_KEYS.version], JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')).version);
    assert.equal(meta[PROVENANCE_KEYS.recipeHash], sha256('edited = base + 0.5 * (ft - base)'));
    const shardHeaders = readdirSync(join(fixture.dir, 'ft')).filter((n) => n.endsWith('.safetensors')).sort().map((n) => headerBytes(join(fixture.dir, 'ft', n)));
    const ftHash = createHash('sha256').update(readFileSync(ftIndex));
    for (const h of shardHeaders) ftHash.update(h);
    assert.deepEqual(JSON.parse(meta[PROVENANCE_KEYS.inputs]!), [
      { path: basePath, header_sha256: sha256(headerBytes(basePath)) },
      { path: ftIndex, header_sha256: ftHash.digest('hex') },
    ]);
    assert.deepEqual(JSON.parse(meta[PROVENANCE_KEYS.seeds]!), [{ op: 'dare', seed: 17, line: 1 }]);
    assert.deepEqual(JSON.parse(meta[PROVENANCE_KEYS.point]!), {});

    const types = events.map((e) => e.type);
    assert.equal(types[0], 'start');
    assert.deepEqual(types.slice(-2), ['output', 'done']);
    assert.deepEqual(events.filter((e) => e.type === 'tensor').map((e) => e.type === 'tensor' && `${e.tensor}:${e.how}`), ['embed:computed', 'position_ids:copied', 'proj:computed', 'mask:copied']);
    const notice = events.find((e) => e.type === 'notice');
    assert.ok(notice?.type === 'notice' && notice.kind === 'integers-copied' && notice.tensors.join() === 'position_ids,mask');
    const start = events[0]!;
    const last = events.filter((e) => e.type === 'progress').pop();
    assert.ok(start.type === 'start' && last?.type === 'progress' && last.bytesDone === start.bytesTotal && start.bytesTotal > 0);
  });

  test('sharded output holds the same values as a single file; a dtype override rounds to nearest even', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, f] = [await pb.load(basePath), await pb.load(ftIndex)];
    const node = pb.combine([[0.5, b], [0.5, f]], 'model');
    pb.save(node, join(fixture.dir, 'sharded', 'model.safetensors'), { shardBytes: 900 });
    pb.save(node, join(fixture.dir, 'bf16.safetensors'), { dtype: 'BF16' });
    pb.save(node, join(fixture.dir, 'f32.safetensors'));
    await runProgram(pb.program(), { backend: 'js', recipeText: 'x' });
    const shardDir = join(fixture.dir, 'sharded', 'model');
    assert.deepEqual(readdirSync(shardDir).sort(), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'], 'embed (1600 bytes) alone, then the rest');
    const sharded = readSafetensorsOutput(shardDir);
    const single = readSafetensorsOutput(join(fixture.dir, 'f32.safetensors'));
    for (const s of SPECS) assert.deepEqual(sharded.tensors.get(s.name)!.bytes, single.tensors.get(s.name)!.bytes, s.name);

    const bf16 = readSafetensorsOutput(join(fixture.dir, 'bf16.safetensors'));
    const f32 = new Float32Array(single.tensors.get('embed')!.values);
    const bits = new Uint32Array(f32.buffer);
    const rounded = Array.from(bits, (x) => ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff);
    assert.equal(bf16.tensors.get('embed')!.dtype, 'BF16');
    assert.deepEqual(Array.from(new Uint16Array(bf16.tensors.get('embed')!.bytes.buffer)), rounded);
    assert.equal(bf16.tensors.get('position_ids')!.dtype, 'I64', 'integer tensors keep their dtype');
  });

  test('a Vector output leaves integer tensors out and says so', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, f] = [await pb.load(basePath), await pb.load(ftIndex)];
    pb.save(pb.diff(f, b), join(fixture.dir, 'vector.safetensors'));
    const events: RunEvent[] = [];
    await runProgram(pb.program(), { backend: 'js', recipeText: 'x', onEvent: (e) => events.push(e) });
    assert.deepEqual(readSafetensorsOutput(join(fixture.dir, 'vector.safetensors')).order, ['embed', 'proj']);
    const notice = events.find((e) => e.type === 'notice');
    assert.ok(notice?.type === 'notice' && notice.kind === 'integers-dropped' && notice.tensors.join() === 'position_ids,mask');
  });

  test('outDir moves outputs, keeping their path relative to the recipe', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, f] = [await pb.load(basePath), await pb.load(ftIndex)];
    pb.save(pb.combine([[0.5, b], [0.5, f]], 'model'), join(fixture.dir, 'nested', 'soup.safetensors'));
    const outDir = join(fixture.dir, 'elsewhere');
    const result = await runProgram(pb.program(), { backend: 'js', recipeText: 'x', outDir });
    assert.deepEqual(result.outputs.map((o) => o.path), [join(outDir, 'nested', 'soup.safetensors')]);
    assert.ok(readSafetensorsOutput(join(outDir, 'nested', 'soup.safetensors')).tensors.has('embed'));
  });

  test('materialize computes the same values in memory', async () => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, f] = [await pb.load(basePath), await pb.load(ftIndex)];
    const node = pb.combine([[1, b], [0.5, pb.ties([pb.diff(f, b)], 0.5)]], 'model');
    pb.save(node, join(fixture.dir, 'materialized.safetensors'));
    await runProgram(pb.program(), { backend: 'js', recipeText: 'x' });
    const file = readSafetensorsOutput(join(fixture.dir, 'materialized.safetensors'));
    const memory = await materialize(pb.program(), node, { backend: 'js-workers', chunkElements: 64 });
    assert.deepEqual([...memory.keys()], SPECS.map((s) => s.name));
    for (const s of SPECS) {
      const got = memory.get(s.name)!;
      if (got.values) assert.deepEqual(Array.from(got.values), Array.from(file.tensors.get(s.name)!.values), s.name);
      else assert.deepEqual(got.bytes, file.tensors.get(s.name)!.bytes, s.name);
    }
  });
});

describe('TensorFlow.js outputs', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());

  test('reuse the anchor topology and load with tfjs-layers, predicting what the merged weights predict', async () => {
    const sizes = [3, 5, 2];
    const base = makeModel(mlpSpecs(sizes), { seed: 8 });
    const ft = perturbModel(base, { seed: 9, scale: 0.3 });
    const options = { topology: mlpTopology(sizes), shardBytes: 40 };
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const b = await pb.load(writeTfjsModel(join(fixture.dir, 'base'), base, options));
    const f = await pb.load(writeTfjsModel(join(fixture.dir, 'ft'), ft, options));
    pb.save(pb.combine([[1, b], [-0.5, pb.diff(f, b)]], 'model'), join(fixture.dir, 'out', 'model.json'));
    await runProgram(pb.program(), { backend: 'js', recipeText: 'negate' });

    const dir = join(fixture.dir, 'out');
    const written = readTfjsOutput(dir);
    assert.deepEqual(written.modelJson.modelTopology, mlpTopology(sizes));
    const meta = written.modelJson.userDefinedMetadata as Record<string, string>;
    assert.equal(meta[PROVENANCE_KEYS.recipeHash], sha256('negate'));

    const manifest = written.modelJson.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    const weightData = Buffer.concat(manifest[0]!.paths.map((p) => readFileSync(join(dir, p))));
    tf.enableProdMode();
    await tf.setBackend('cpu');
    const model = await tfl.loadLayersModel({
      load: async () => ({
        modelTopology: written.modelJson.modelTopology as object,
        weightSpecs: manifest[0]!.weights,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      }),
    });
    const input = [[0.5, -1, 2], [1, 1, -0.25]];
    const predicted = (model.predict(tf.tensor2d(input)) as tf.Tensor).arraySync() as number[][];

    // The same network by hand, in float64, from the expected merged weights.
    const w = (name: string) => {
      const bv = base.tensors.find((t) => t.name === name)!.values;
      return linear([[1, bv], [-0.5, linear([[1, ft.tensors.find((t) => t.name === name)!.values], [-1, bv]])]]);
    };
    const dense = (x: number[], kernel: Float64Array, bias: Float64Array, units: number, relu: boolean) =>
      Array.from({ length: units }, (_, j) => {
        const z = x.reduce((s, xi, i) => s + xi * kernel[i * units + j]!, bias[j]!);
        return relu ? Math.max(0, z) : z;
      });
    input.forEach((x, r) => {
      const hidden = dense(x, w('dense1/kernel'), w('dense1/bias'), 5, true);
      const out = dense(hidden, w('dense2/kernel'), w('dense2/bias'), 2, false);
      out.forEach((v, j) => assert.ok(Math.abs(v - predicted[r]![j]!) < 1e-5, `row ${r} unit ${j}: ${predicted[r]![j]} vs ${v}`));
    });

    // tfjs models hold float32: a dtype override is refused before anything runs.
    pb.saves[0] = { ...pb.saves[0]!, path: join(fixture.dir, 'half', 'model.json'), dtype: 'F16' };
    await assert.rejects(runProgram(pb.program(), { backend: 'js', recipeText: 'negate' }), (e: unknown) => e instanceof EngineError && e.code === 'output' && /float32/.test(e.message));
  });
});
