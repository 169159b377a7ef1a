// The built-in evaluators on WebGPU (tfjs-backend-webgpu on Dawn), on whatever adapter
// is here: in CI Mesa's lavapipe, a software Vulkan. A LayersModel recipe and a GPT-2
// text recipe run with --backend webgpu and with --backend cpu must give the same
// metrics (accuracy within 0.1 percentage point, loss within 1e-4 relative) and the same
// saves; the adapter is recorded next to the backend; a batch too wide for the adapter's
// binding limit is split; `auto` and `gpu` never take a software adapter; doctor lists it.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { doctorReport } from '../../../server/src/cli/doctor.ts';
import { EngineError } from '../../../server/src/engine/errors.ts';
import type { Metrics, RunResults } from '../../../server/src/results/schema.ts';
import { runRecipe } from '../../../server/src/run/run-recipe.ts';
import { fixtureDir, makeModel, mlpSpecs, mlpTopology, safetensorsBytes, seededRandom, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { webGpuForTests } from '../../helpers/webgpu.ts';
import { makeScenario, MULTI_RECIPE, writeRecipe } from '../run/scenario.ts';
import { writeGpt2Folder } from './gpt2-fixtures.ts';

const webgpu = await webGpuForTests('WebGPU evaluation suite');

test('a WebGPU adapter is found (CI installs Mesa lavapipe with scripts/setup-vulkan.sh)', { skip: webgpu.skip }, () => {
  assert.ok(webgpu.adapter, `no adapter: ${webgpu.reason}`);
});

/** Runs `recipe` with each backend into its own folder, without the results cache. */
async function runWith(recipe: string, dir: string, backend: 'webgpu' | 'cpu'): Promise<RunResults> {
  return (await runRecipe({ recipe, backend, cache: false, outDir: join(dir, `out-${backend}`) })).results;
}

/** Every metric of `actual` (webgpu) against `expected` (cpu): the same examples and chosen points, accuracy within 0.1 pp, loss within 1e-4 relative. */
function assertSameMetrics(actual: RunResults, expected: RunResults): number {
  let compared = 0;
  const same = (a: Metrics, e: Metrics, where: string): void => {
    assert.equal(a.examples, e.examples, `${where}: examples`);
    if (e.accuracy !== undefined) assert.ok(Math.abs(a.accuracy! - e.accuracy) <= 0.001, `${where}: accuracy ${a.accuracy} vs ${e.accuracy}`);
    if (e.loss !== undefined) assert.ok(Math.abs(a.loss! - e.loss) <= 1e-4 * Math.abs(e.loss), `${where}: loss ${a.loss} vs ${e.loss}`);
    compared++;
  };
  assert.equal(actual.evaluations.length, expected.evaluations.length);
  actual.evaluations.forEach((evaluation, i) => {
    const other = expected.evaluations[i]!;
    evaluation.references.forEach((r, j) => {
      for (const split of ['validation', 'test'] as const) same(r[split], other.references[j]![split], `evaluation ${i} reference ${r.model}/${r.task} ${split}`);
    });
    for (const p of evaluation.points) {
      const q = other.points.find((o) => o.model === p.model && JSON.stringify(o.point) === JSON.stringify(p.point))!;
      for (const task of Object.keys(p.metrics)) same(p.metrics[task]!, q.metrics[task]!, `evaluation ${i} ${p.model} at ${JSON.stringify(p.point)} ${task}`);
    }
    assert.deepEqual(evaluation.chosen.map((c) => c.point), other.chosen.map((c) => c.point), `evaluation ${i}: the chosen points`);
    evaluation.chosen.forEach((c, j) => {
      for (const task of Object.keys(c.test)) same(c.test[task]!, other.chosen[j]!.test[task]!, `evaluation ${i} chosen ${c.model} ${task} test`);
    });
  });
  return compared;
}

function assertRanOnWebGpu(results: RunResults, cpu: RunResults): void {
  assert.equal(results.status, 'done');
  assert.equal(results.evaluationBackend?.name, 'webgpu');
  assert.deepEqual(results.evaluationBackend.adapter, { vendor: webgpu.adapter!.vendor, architecture: webgpu.adapter!.architecture, description: webgpu.adapter!.description });
  assert.notEqual(cpu.evaluationBackend?.name, 'webgpu');
  // Merges stay on the CPU threads: the engine's backend is the one --backend cpu picks.
  assert.equal(results.backend.name, cpu.backend.name);
  assert.match(results.backend.reason, /networks are evaluated on webgpu .*merges stay on the CPU threads/);
}

describe('WebGPU evaluation gives the CPU backend\'s metrics', { skip: webgpu.skip }, () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);

  it('a LayersModel recipe (two tasks, a 5-point sweep, add and forget): every metric, the chosen points and the saves', async () => {
    const folder = join(dir, 'mlp');
    mkdirSync(folder);
    makeScenario(folder);
    const recipe = writeRecipe(folder, 'multi.tvr', MULTI_RECIPE);
    const gpu = await runWith(recipe, folder, 'webgpu');
    const cpu = await runWith(recipe, folder, 'cpu');
    assertRanOnWebGpu(gpu, cpu);
    assert.ok(assertSameMetrics(gpu, cpu) >= 30);
    assert.ok(gpu.notes.some((n) => n.startsWith('networks evaluated on webgpu (') && n.includes(webgpu.adapter!.description)));
    assert.deepEqual(gpu.outputs.map((o) => o.point), cpu.outputs.map((o) => o.point));
    for (const [i, output] of gpu.outputs.entries()) {
      const file = (o: { path: string }) => join(o.path, 'group1-shard1of1.bin');
      assert.ok(readFileSync(file(output)).equals(readFileSync(file(cpu.outputs[i]!))), `save ${output.path} is byte-identical`);
    }
  });

  it('a GPT-2 folder text task (perplexity over a sweep, sliding windows)', async () => {
    const folder = join(dir, 'text');
    mkdirSync(join(folder, 'data'), { recursive: true });
    writeGpt2Folder(join(folder, 'gpt2-base'), { seed: 21, contextLength: 8 });
    writeGpt2Folder(join(folder, 'gpt2-sci'), { seed: 22, contextLength: 8 });
    const documents = [
      { text: 'the cat sat on the mat', split: 'validation' },
      { text: 'in the winter she wrote forty letters to her brother in the city of rivers', split: 'validation' },
      { text: 'the sun rose over the hills', split: 'test' },
      { text: 'is this the answer or a question', split: 'test' },
    ];
    writeFileSync(join(folder, 'data', 'prose.jsonl'), `${documents.map((d) => JSON.stringify(d)).join('\n')}\n`);
    const recipe = writeRecipe(folder, 'text.tvr', `base   = load("gpt2-base")
sci    = load("gpt2-sci")
lam    = sweep(0, 1, 0.5)
edited = base + lam*(sci - base)
prose  = task("data/prose.jsonl", metric="perplexity")
evaluate(edited, targets=[prose], objective="max")
`);
    const gpu = await runWith(recipe, folder, 'webgpu');
    const cpu = await runWith(recipe, folder, 'cpu');
    assertRanOnWebGpu(gpu, cpu);
    assert.ok(assertSameMetrics(gpu, cpu) >= 5);
  });

  it('splits a batch whose widest layer output would exceed the adapter\'s binding limit, with the same metrics', async (t) => {
    const folder = join(dir, 'wide');
    mkdirSync(join(folder, 'data'), { recursive: true });
    const { adapter } = webgpu;
    // 512 examples (a default batch) of this layer take just over the binding limit.
    const hidden = Math.ceil(adapter!.maxStorageBufferBindingSize / 4 / 512) + 1;
    if (hidden > 300_000) {
      t.skip(`the adapter's binding limit (${adapter!.maxStorageBufferBindingSize} bytes) needs too wide a layer for a quick test`);
      return;
    }
    const sizes = [4, hidden, 3];
    const model = makeModel(mlpSpecs(sizes), { seed: 5, scale: 1 / Math.sqrt(hidden) });
    writeTfjsModel(join(folder, 'net'), model, { topology: mlpTopology(sizes) });
    writeFileSync(join(folder, 'data', 'd.safetensors'), safetensorsBytes({ tensors: [...clearRows(model, sizes, 600, 'validation'), ...clearRows(model, sizes, 40, 'test')] }));
    const recipe = writeRecipe(folder, 'wide.tvr', `net = load("net/model.json")
t = task("data/d.safetensors", head=net)
evaluate(net, targets=[t], objective="max")
`);
    const gpu = await runWith(recipe, folder, 'webgpu');
    const cpu = await runWith(recipe, folder, 'cpu');
    assertRanOnWebGpu(gpu, cpu);
    assert.ok(assertSameMetrics(gpu, cpu) >= 2);
  });
});

/**
 * Rows of a split for the MLP `model` whose two best logits (float64 here) differ by more
 * than float32 can blur over a wide layer, labelled by that arg-max (every fifth moved on).
 */
function clearRows(model: FixtureModel, sizes: readonly number[], count: number, split: string): FixtureModel['tensors'] {
  const [inputs, hidden, classes] = sizes as [number, number, number];
  const w = new Map(model.tensors.map((t) => [t.name, t.values]));
  const [w1, b1, w2, b2] = ['dense1/kernel', 'dense1/bias', 'dense2/kernel', 'dense2/bias'].map((n) => w.get(n)!) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const random = seededRandom(17);
  const x: number[] = [];
  const y: number[] = [];
  while (y.length < count) {
    const row = Array.from({ length: inputs }, () => Math.fround(2 * random() - 1));
    const logits = Float64Array.from(b2);
    for (let h = 0; h < hidden; h++) {
      let a = b1[h]!;
      for (let i = 0; i < inputs; i++) a += row[i]! * w1[i * hidden + h]!;
      if (a > 0) for (let c = 0; c < classes; c++) logits[c]! += a * w2[h * classes + c]!;
    }
    const sorted = [...logits].sort((p, q) => q - p);
    if (sorted[0]! - sorted[1]! < 1e-3) continue;
    x.push(...row);
    const label = logits.indexOf(sorted[0]!);
    y.push(y.length % 5 === 0 ? (label + 1) % classes : label);
  }
  return [
    { name: `${split}/x`, dtype: 'F32', shape: [count, inputs], values: Float64Array.from(x) },
    { name: `${split}/y`, dtype: 'I32', shape: [count], values: Float64Array.from(y) },
  ];
}

describe('auto, gpu and doctor with the adapter found here', { skip: webgpu.skip }, () => {
  const { dir, cleanup } = fixtureDir();
  let recipe: string;
  before(() => {
    makeScenario(dir);
    recipe = writeRecipe(dir, 'multi.tvr', MULTI_RECIPE);
  });
  after(cleanup);

  it(`auto ${webgpu.adapter?.hardware ? 'evaluates on the hardware adapter' : 'passes over the software adapter, saying why'}`, async () => {
    const { results } = await runRecipe({ recipe, cache: false, outDir: join(dir, 'auto') });
    if (webgpu.adapter!.hardware && results.backend.name !== 'tfjs-node-gpu') {
      assert.equal(results.evaluationBackend?.name, 'webgpu');
    } else if (!webgpu.adapter!.hardware) {
      assert.notEqual(results.evaluationBackend?.name, 'webgpu');
      assert.match(results.evaluationBackend!.reason, /skipped webgpu: only a software adapter was found \(.*a software adapter\)/);
    }
  });

  it('gpu takes a hardware adapter or fails naming why neither GPU backend is usable', async () => {
    const run = runRecipe({ recipe, backend: 'gpu', cache: false, outDir: join(dir, 'gpu') });
    if (webgpu.adapter!.hardware) {
      assert.equal((await run).results.status, 'done');
      return;
    }
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof EngineError && e.code === 'backend', String(e));
      // Both paths, each with its reason; tfjs-node-gpu is not installed or finds no CUDA wherever a software adapter is all there is.
      assert.match(e.message, /no GPU backend is usable: tfjs-node-gpu: .+; webgpu: only a software adapter was found/);
      return true;
    });
  });

  it('doctor lists the adapter, hardware or software, its limits, and what auto and gpu do with it', async () => {
    const report = await doctorReport();
    assert.equal(report.webgpu.usable, true);
    assert.deepEqual(report.webgpu.adapter, webgpu.adapter);
    assert.ok(report.webgpu.adapter!.maxStorageBufferBindingSize > 0 && report.webgpu.adapter!.maxBufferSize >= report.webgpu.adapter!.maxStorageBufferBindingSize);
    if (!webgpu.adapter!.hardware) {
      assert.match(report.webgpu.reason, /only a software adapter was found/);
      assert.match(report.evaluation.reason, /skipped webgpu: only a software adapter/);
      assert.equal(report.gpu.usable, report.backends.find((b) => b.name === 'tfjs-node-gpu')!.usable);
    }
  });
});
