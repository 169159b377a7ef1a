// WebGPU errors are failures. tfjs-backend-webgpu does not look at Dawn's errors: after a
// validation error it returns wrong numbers without throwing. Here a tensor over the
// adapter's binding limit is refused before upload (with lavapipe's 128 MiB, a real run);
// a validation error inside an evaluation step, an error outside any step, and a lost
// device each fail the step with a message naming it, and never return its values.
// Its own file: it leaves the process's WebGPU device with a sticky error.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import { DeviceGuard } from '../../../server/src/engine/evaluation/webgpu.ts';
import { loadOwnPackage } from '../../../server/src/own-packages.ts';
import { parseResults } from '../../../server/src/results/validate.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir, mlpTopology, safetensorsBytes } from '../../helpers/checkpoint-fixtures.ts';
import { webGpuForTests } from '../../helpers/webgpu.ts';

const webgpu = await webGpuForTests('WebGPU error suite');

test('a WebGPU adapter is found (CI installs Mesa lavapipe with scripts/setup-vulkan.sh)', { skip: webgpu.skip }, () => {
  assert.ok(webgpu.adapter, `no adapter: ${webgpu.reason}`);
});

/** Binding limits up to this are tested with real tensors (lavapipe: 128 MiB); past it the tensors are too big for a unit test. */
const TESTABLE_LIMIT = 256 * 2 ** 20;

describe('a tensor over the adapter\'s binding limit is refused before upload', { skip: webgpu.skip }, () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);

  it('the run fails naming the tensor and the limit, and its results hold no metric', async (t) => {
    const limit = webgpu.adapter!.maxStorageBufferBindingSize;
    if (limit > TESTABLE_LIMIT) {
      t.skip(`this adapter's binding limit is ${limit} bytes: a tensor over it is too big for a unit test`);
      return;
    }
    // A head model whose first kernel is one column over the limit (zeros: it never computes).
    const inputs = 1024;
    const units = Math.floor(limit / 4 / inputs) + 1;
    const sizes = [inputs, units, 2];
    mkdirSync(join(dir, 'net'));
    const weights = [
      { name: 'dense1/kernel', shape: [inputs, units], dtype: 'float32' }, { name: 'dense1/bias', shape: [units], dtype: 'float32' },
      { name: 'dense2/kernel', shape: [units, 2], dtype: 'float32' }, { name: 'dense2/bias', shape: [2], dtype: 'float32' },
    ];
    const bytes = 4 * weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
    writeFileSync(join(dir, 'net', 'weights.bin'), Buffer.alloc(bytes));
    writeFileSync(join(dir, 'net', 'model.json'), JSON.stringify({ modelTopology: mlpTopology(sizes), format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights }] }));
    const rows = (n: number) => [Float64Array.from({ length: n * inputs }, (_, i) => (i % 7) / 7), Float64Array.from({ length: n }, (_, i) => i % 2)] as const;
    const [vx, vy] = rows(4);
    writeFileSync(join(dir, 'data.safetensors'), safetensorsBytes({
      tensors: [
        { name: 'validation/x', dtype: 'F32', shape: [4, inputs], values: vx }, { name: 'validation/y', dtype: 'I32', shape: [4], values: vy },
        { name: 'test/x', dtype: 'F32', shape: [4, inputs], values: vx }, { name: 'test/y', dtype: 'I32', shape: [4], values: vy },
      ],
    }));
    const recipe = join(dir, 'wide.tvr');
    writeFileSync(recipe, 'net = load("net/model.json")\nt = task("data.safetensors", head=net)\nevaluate(net, targets=[t], objective="max")\n');
    const mib = (limit / 2 ** 20).toFixed(1).replace('.', '\\.');
    await assert.rejects(runRecipe({ recipe, backend: 'webgpu', cache: false }), (e: unknown) => {
      assert.ok(e instanceof EvaluationError && e.code === 'device', String(e));
      assert.match(e.message, new RegExp(`task 't' .*: tensor dense1/kernel \\[${inputs}, ${units}\\] takes ${mib} MiB, more than the ${mib} MiB one tensor may take on webgpu \\(.*maxStorageBufferBindingSize\\); evaluate with --backend cpu`));
      return true;
    });
    const results = parseResults(readFileSync(join(dir, 'wide.results.json'), 'utf8'));
    assert.equal(results.status, 'failed');
    assert.match(results.error!, /dense1\/kernel/);
    assert.deepEqual(results.evaluations[0]!.references, []);
    assert.deepEqual(results.evaluations[0]!.points, []);
  });
});

describe('device errors fail the evaluation step that met them', { skip: webgpu.skip }, () => {
  it('a validation error inside a step rejects it, naming the step, instead of returning its wrong value; the next step computes normally', async (t) => {
    const limit = webgpu.adapter!.maxStorageBufferBindingSize;
    if (limit > TESTABLE_LIMIT) {
      t.skip(`this adapter's binding limit is ${limit} bytes: a tensor over it is too big for a unit test`);
      return;
    }
    const runtime = await tfRuntimeFor('webgpu');
    const { tf } = runtime;
    const oversized = limit / 4 + 1024;
    await assert.rejects(runtime.step('summing an oversized tensor', async () => {
      const sum = tf.tidy(() => tf.sum(tf.fill([oversized], 1)));
      try {
        return await sum.data();
      } finally {
        sum.dispose();
      }
    }), (e: unknown) => {
      assert.ok(e instanceof EvaluationError && e.code === 'device', String(e));
      assert.match(e.message, /^summing an oversized tensor: the WebGPU device \(.*\) reported a validation error: Binding size \(\d+\) .* is larger than the maximum storage buffer binding size/);
      assert.match(e.message, /the run stops rather than use numbers computed after the error/);
      return true;
    });
    const small = await runtime.step('summing 1000 ones', async () => (await tf.sum(tf.ones([1000])).data())[0]);
    assert.equal(small, 1000);
  });

  it('an error outside any step fails the next step, and every later one', async (t) => {
    const limit = webgpu.adapter!.maxStorageBufferBindingSize;
    if (limit > TESTABLE_LIMIT) {
      t.skip(`this adapter's binding limit is ${limit} bytes: a tensor over it is too big for a unit test`);
      return;
    }
    const runtime = await tfRuntimeFor('webgpu');
    const { tf } = runtime;
    // Unguarded, tfjs returns a value (a wrong one) for an oversized tensor: the error arrives only as an event.
    const unguarded = (await tf.sum(tf.fill([limit / 4 + 1024], 1)).data())[0];
    assert.notEqual(unguarded, limit / 4 + 1024, 'tfjs computed the oversized sum after all: this test no longer shows the problem');
    for (const step of ['the next step', 'a later step']) {
      await assert.rejects(runtime.step(step, async () => (await tf.sum(tf.ones([10])).data())[0]), (e: unknown) => {
        assert.ok(e instanceof EvaluationError && e.code === 'device', String(e));
        assert.match(e.message, new RegExp(`^${step}: the WebGPU device .* reported an error outside any evaluation step: .*maximum storage buffer binding size`));
        return true;
      });
    }
  });

  it('a lost device fails the step waiting on it, and every later one', async () => {
    // A device of its own: tfjs's stays for the other tests.
    const loaded = loadOwnPackage('webgpu');
    assert.ok(loaded.ok);
    const { create } = loaded.value as { create: (flags: string[]) => { requestAdapter(): Promise<{ requestDevice(): Promise<never> }> } };
    const device = await (await create([]).requestAdapter())!.requestDevice() as {
      destroy(): void;
      createBuffer(d: { size: number; usage: number }): { mapAsync(mode: number): Promise<void> };
    };
    const guard = new DeviceGuard(device as unknown as ConstructorParameters<typeof DeviceGuard>[0], 'a test adapter');
    const MAP_READ = 1; // GPUBufferUsage.MAP_READ and GPUMapMode.READ
    const COPY_DST = 8;
    await assert.rejects(guard.run('reading a buffer back', async () => {
      const buffer = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
      device.destroy();
      await buffer.mapAsync(MAP_READ);
      return 'read';
    }), /^EvaluationError: reading a buffer back: the WebGPU device \(a test adapter\) reported the device was lost \(destroyed\)/);
    await assert.rejects(guard.run('the next step', async () => 'ran'), /^EvaluationError: the next step: the WebGPU device \(a test adapter\) reported the device was lost \(destroyed\)/);
  });
});
