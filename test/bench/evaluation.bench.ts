// Evaluation benchmark (prints figures; not a test).
// 1. Throughput of the built-in evaluator, examples per second, on every tfjs backend
//    usable here, for an MLP shaped like the example models (784 -> hidden -> hidden/2
//    -> 10, the last layer the task head), on U8 images scaled by x_scale.
// 2. The sweep's cost relative to one evaluation: runs of `base + lam*(ta + tb)` over 3
//    and --points values on one task, cold; the marginal CPU time of an extra point
//    (computing the model at the point + evaluating it) against one evaluation of the
//    network alone. Inputs are read once per run, so the ratio should stay near 1.
//
//   node test/bench/evaluation.bench.ts [--examples 2000] [--hidden 256] [--points 11] [--backends tfjs-wasm,tfjs-cpu]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCheckpointHeader } from '../../server/src/checkpoints/read-header.ts';
import { readSplit } from '../../server/src/engine/evaluation/data.ts';
import { TfjsNetwork } from '../../server/src/engine/evaluation/tfjs-network.ts';
import { tfRuntimeFor } from '../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { TfjsBackendName } from '../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { MaterializedTensor } from '../../server/src/engine/materialize.ts';
import { runRecipe } from '../../server/src/run/run-recipe.ts';
import { makeModel, mlpSpecs, mlpTopology, perturbModel, safetensorsBytes, seededRandom, writeTfjsModel } from '../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../helpers/checkpoint-fixtures.ts';

const { values: options } = parseArgs({
  options: {
    examples: { type: 'string', default: '2000' },
    hidden: { type: 'string', default: '256' },
    points: { type: 'string', default: '11' },
    backends: { type: 'string', default: 'tfjs-node-gpu,tfjs-node,tfjs-wasm,tfjs-cpu' },
  },
});
const examples = Number(options.examples);
const hidden = Number(options.hidden);
const points = Number(options.points);
const sizes = [784, hidden, Math.max(1, Math.floor(hidden / 2)), 10];

function writeData(path: string, rows: number): void {
  const r = seededRandom(7);
  const split = (n: number) => [
    { dtype: 'U8' as const, shape: [n, 784], values: Float64Array.from({ length: n * 784 }, () => Math.floor(r() * 256)) },
    { dtype: 'I32' as const, shape: [n], values: Float64Array.from({ length: n }, () => Math.floor(r() * 10)) },
  ];
  const [vx, vy] = split(rows);
  const [tx, ty] = split(Math.max(1, Math.floor(rows / 4)));
  writeFileSync(path, safetensorsBytes({
    tensors: [
      { name: 'validation/x', ...vx! }, { name: 'validation/y', ...vy! },
      { name: 'test/x', ...tx! }, { name: 'test/y', ...ty! },
    ],
  }, { metadata: { x_scale: String(1 / 255) } }));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function asTensors(model: FixtureModel): Map<string, MaterializedTensor> {
  return new Map(model.tensors.map((t) => [t.name, { name: t.name, shape: t.shape, dtype: 'F32' as const, values: Float32Array.from(t.values) }]));
}

const dir = mkdtempSync(join(tmpdir(), 'tvr-bench-'));
try {
  const topology = mlpTopology(sizes);
  const base = makeModel(mlpSpecs(sizes), { seed: 1, scale: 0.05 });
  const a = perturbModel(base, { seed: 2, scale: 0.01 });
  const b = perturbModel(base, { seed: 3, scale: 0.01 });
  for (const [name, model] of [['base', base], ['a', a], ['b', b]] as const) writeTfjsModel(join(dir, name), model, { topology });
  writeData(join(dir, 'data.safetensors'), examples);
  const parameters = base.tensors.reduce((sum, t) => sum + t.values.length, 0);
  console.log(`MLP ${sizes.join(' -> ')} (${(parameters / 1e6).toFixed(2)}M parameters), ${examples} validation examples; load average ${loadavg()[0]!.toFixed(2)} on this machine`);

  // 1. Throughput per backend.
  const data = await readSplit(await readCheckpointHeader(join(dir, 'data.safetensors')), 'validation');
  const modelJson = (await readCheckpointHeader(join(dir, 'a/model.json'))).tfjsModel;
  const oneEvaluation = new Map<string, { wall: number; cpu: number }>();
  console.log('\nbuilt-in evaluator throughput');
  for (const name of options.backends.split(',') as TfjsBackendName[]) {
    let runtime;
    try {
      runtime = await tfRuntimeFor(name);
    } catch (error) {
      console.log(`  ${name.padEnd(14)} not usable: ${(error as Error).message}`);
      continue;
    }
    const network = await TfjsNetwork.load(runtime, modelJson, asTensors(a), 'bench');
    await network.evaluate(new Map(), data); // warm-up: kernels compiled, buffers allocated
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      await network.evaluate(new Map(), data);
      const used = process.cpuUsage(cpu);
      times.push((performance.now() - started) / 1000);
      cpuTimes.push((used.user + used.system) / 1e6);
    }
    network.dispose();
    const typical = { wall: median(times), cpu: median(cpuTimes) };
    oneEvaluation.set(name, typical);
    console.log(`  ${name.padEnd(14)} ${Math.round(examples / typical.wall).toLocaleString('en').padStart(9)} examples/s wall, ${Math.round(examples / typical.cpu).toLocaleString('en').padStart(9)} per CPU second  (medians of 5: ${(typical.wall * 1000).toFixed(0)} ms wall, ${(typical.cpu * 1000).toFixed(0)} ms CPU per evaluation)`);
  }

  // 2. The sweep's cost relative to one evaluation: the marginal cost of a sweep point,
  // from two cold runs with different numbers of points, in CPU time (wall time on a
  // shared machine mostly measures the other processes).
  const sweepRun = async (count: number, cache: boolean) => {
    writeFileSync(join(dir, 'sweep.tvr'), `base = load("base/model.json", exclude="dense3/*")
a = load("a/model.json")
b = load("b/model.json")
lam = sweep(0, 1, ${1 / (count - 1)})
edited = base + lam*((exclude(a, "dense3/*") - base) + (exclude(b, "dense3/*") - base))
t = task("data.safetensors", head=a)
evaluate(edited, targets=[t], objective="add")
`);
    const wall = performance.now();
    const cpu = process.cpuUsage();
    const { results } = await runRecipe({ recipe: join(dir, 'sweep.tvr'), cache });
    const used = process.cpuUsage(cpu);
    return { results, wall: (performance.now() - wall) / 1000, cpu: (used.user + used.system) / 1e6 };
  };
  const few = await sweepRun(3, false);
  const many = await sweepRun(points, false);
  const evaluator = many.results.evaluationBackend?.name ?? '?';
  const single = oneEvaluation.get(evaluator);
  const extra = points - 3;
  console.log(`\nsweeps (engine ${many.results.backend.name}, networks on ${evaluator}), cold cache, every evaluation computed`);
  console.log(`  3 points: ${few.wall.toFixed(2)} s wall, ${few.cpu.toFixed(2)} s CPU; ${points} points: ${many.wall.toFixed(2)} s wall, ${many.cpu.toFixed(2)} s CPU (${many.results.counts!.evaluated} evaluations)`);
  const marginalCpu = (many.cpu - few.cpu) / extra;
  console.log(`  each extra point: ${(marginalCpu * 1000).toFixed(0)} ms CPU, ${(((many.wall - few.wall) / extra) * 1000).toFixed(0)} ms wall`);
  if (single) {
    console.log(`  one evaluation of the network alone: ${(single.cpu * 1000).toFixed(0)} ms CPU, ${(single.wall * 1000).toFixed(0)} ms wall`);
    console.log(`  cost of an extra sweep point / one evaluation (CPU): ${(marginalCpu / single.cpu).toFixed(2)}x`);
  }
  await sweepRun(points, true); // fills the results cache
  const cached = await sweepRun(points, true);
  console.log(`  re-run with the results cache: ${cached.wall.toFixed(2)} s, ${cached.results.counts!.evaluated} evaluations run, ${cached.results.counts!.cached} from the cache`);
  console.log(`\nload average now ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores: wall times on a busy machine are slower and noisier than CPU times`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
