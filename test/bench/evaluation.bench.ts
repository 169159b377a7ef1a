// Evaluation benchmark (prints figures; not a test).
// 1. Throughput of the built-in evaluator, examples per second, on every tfjs backend
//    usable here, for an MLP shaped like the example models (784 -> hidden -> hidden/2
//    -> 10, the last layer the task head), on U8 images scaled by x_scale.
// 2. The sweep's cost relative to one evaluation: runs of `base + lam*(ta + tb)` over 3
//    and --points values on one task, cold; the marginal CPU time of an extra point
//    (computing the model at the point + evaluating it) against one evaluation of the
//    network alone. Inputs are read once per run, so the ratio should stay near 1.
// 3. GPT-2 small forward pass: tokens per second of a GPT-2-small-shaped model (12 layers,
//    12 heads, 768 wide, 1024 positions, vocabulary 50257: 124M parameters) with seeded
//    random weights, logits through the head for every position (as text evaluation
//    scores every token), a batch of --gpt2-batch x --gpt2-length tokens, on each tfjs
//    backend of --gpt2-backends; against the same forward pass in PyTorch on the CPU in the
//    same run (peers/gpt2_torch_peer.py, Debian's python3-torch, reading the same weights
//    from a temporary safetensors file), printed as a ratio of times per batch. Target:
//    within 2x of PyTorch on the fastest tvr CPU backend. The logits of both on a short
//    sequence are compared first, so the peer provably computes the same thing.
//
//   node test/bench/evaluation.bench.ts [--parts mlp,sweep,gpt2] [--examples 2000] [--hidden 256] [--points 11]
//     [--backends tfjs-node-gpu,webgpu,tfjs-node,tfjs-wasm,tfjs-cpu]
//     [--gpt2-backends tfjs-node-gpu,webgpu,tfjs-node,tfjs-wasm] [--gpt2-batch 2] [--gpt2-length 256] [--gpt2-runs 3]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCheckpointHeader } from '../../server/src/checkpoints/read-header.ts';
import { readSplit } from '../../server/src/engine/evaluation/data.ts';
import { TfjsNetwork } from '../../server/src/engine/evaluation/tfjs-network.ts';
import { activate, checkTensorsFit, tfRuntimeFor } from '../../server/src/engine/evaluation/tfjs-runtime.ts';
import { describeAdapter } from '../../server/src/engine/evaluation/webgpu.ts';
import type { TfjsBackendName } from '../../server/src/engine/evaluation/tfjs-runtime.ts';
import { Gpt2Weights, gpt2Config } from '../../server/src/engine/evaluation/transformers/gpt2.ts';
import type { Gpt2Config } from '../../server/src/engine/evaluation/transformers/gpt2.ts';
import type { MaterializedTensor } from '../../server/src/engine/materialize.ts';
import { runRecipe } from '../../server/src/run/run-recipe.ts';
import { makeModel, mlpSpecs, mlpTopology, perturbModel, safetensorsBytes, seededRandom, writeTfjsModel } from '../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../helpers/checkpoint-fixtures.ts';
import { relativeError } from '../helpers/reference-compare.ts';
import { gpt2Specs, hfConfig } from '../helpers/hf-fixtures.ts';
import type { HfSizes } from '../helpers/hf-fixtures.ts';

const { values: options } = parseArgs({
  options: {
    examples: { type: 'string', default: '2000' },
    hidden: { type: 'string', default: '256' },
    points: { type: 'string', default: '11' },
    backends: { type: 'string', default: 'tfjs-node-gpu,webgpu,tfjs-node,tfjs-wasm,tfjs-cpu' },
    parts: { type: 'string', default: 'mlp,sweep,gpt2' },
    // tfjs-cpu is left out by default: at about 0.9 GFLOP/s of matmul one batch of the
    // default size (about 130 GFLOP) takes minutes. The default batch (2 x 256 tokens)
    // keeps the whole benchmark under about 5 minutes on 2 cores.
    'gpt2-backends': { type: 'string', default: 'tfjs-node-gpu,webgpu,tfjs-node,tfjs-wasm' },
    'gpt2-batch': { type: 'string', default: '2' },
    'gpt2-length': { type: 'string', default: '256' },
    'gpt2-runs': { type: 'string', default: '3' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const parts = new Set(options.parts.split(','));
const examples = Number(options.examples);
const hidden = Number(options.hidden);
const points = Number(options.points);
const sizes = [784, hidden, Math.max(1, Math.floor(hidden / 2)), 10];
/** Backends that compute on a GPU: not CPU backends for the target, no thread count. */
const GPU_BACKENDS: ReadonlySet<string> = new Set(['tfjs-node-gpu', 'webgpu']);

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

/** Parts 1 and 2: the MLP evaluator's throughput, and the sweep's cost against one evaluation. */
async function mlpAndSweep(dir: string): Promise<void> {
  const topology = mlpTopology(sizes);
  const base = makeModel(mlpSpecs(sizes), { seed: 1, scale: 0.05 });
  const a = perturbModel(base, { seed: 2, scale: 0.01 });
  const b = perturbModel(base, { seed: 3, scale: 0.01 });
  for (const [name, model] of [['base', base], ['a', a], ['b', b]] as const) writeTfjsModel(join(dir, name), model, { topology });
  writeData(join(dir, 'data.safetensors'), examples);
  const parameters = base.tensors.reduce((sum, t) => sum + t.values.length, 0);
  console.log(`MLP ${sizes.join(' -> ')} (${(parameters / 1e6).toFixed(2)}M parameters), ${examples} validation examples; load average ${loadavg()[0]!.toFixed(2)} on this machine`);

  // 1. Throughput per backend.
  if (!parts.has('mlp')) console.log('\nbuilt-in evaluator throughput: skipped (--parts)');
  const data = await readSplit(await readCheckpointHeader(join(dir, 'data.safetensors')), 'validation');
  const modelJson = (await readCheckpointHeader(join(dir, 'a/model.json'))).tfjsModel;
  const oneEvaluation = new Map<string, { wall: number; cpu: number }>();
  if (parts.has('mlp')) console.log('\nbuilt-in evaluator throughput');
  for (const name of (parts.has('mlp') ? options.backends.split(',') : []) as TfjsBackendName[]) {
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
  if (!parts.has('sweep')) return;
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
}

// 3. GPT-2 small forward pass against PyTorch.

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'gpt2_torch_peer.py');
const GPT2_SMALL: HfSizes = { layers: 12, heads: 12, hiddenSize: 768, contextLength: 1024, vocabSize: 50257 };
const GPT2_SCALE = 0.02;
/** The short sequence whose logits tvr and torch must agree on. */
const CHECK_LENGTH = 32;

interface Gpt2Figures {
  /** Median seconds per batch, wall clock and CPU (every thread). */
  readonly wall: number;
  readonly cpu: number;
  /** Threads of the computation (PyTorch: its set_num_threads setting). */
  readonly threads: number;
}

/** GPT-2 weights uniform in [-scale, scale) around 0 (layer-norm weights around 1), float32, seeded. */
function gpt2RandomWeights(sizes: HfSizes, seed: number): Map<string, MaterializedTensor> {
  const random = seededRandom(seed);
  const out = new Map<string, MaterializedTensor>();
  for (const spec of gpt2Specs(sizes, true)) {
    const values = new Float32Array(spec.shape.reduce((x, y) => x * y, 1));
    const centre = /ln_(1|2|f)\.weight$/.test(spec.name) ? 1 : 0;
    for (let i = 0; i < values.length; i++) values[i] = centre + (2 * random() - 1) * GPT2_SCALE;
    out.set(spec.name, { name: spec.name, shape: spec.shape, dtype: 'F32', values });
  }
  return out;
}

/** Writes float32 tensors as safetensors without one ~500 MB buffer (little-endian host). */
function writeF32Safetensors(path: string, tensors: ReadonlyMap<string, MaterializedTensor>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors.values()) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.values!.byteLength] };
    offset += t.values!.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, length);
    writeSync(fd, json);
    for (const t of tensors.values()) writeSync(fd, new Uint8Array(t.values!.buffer, t.values!.byteOffset, t.values!.byteLength));
  } finally {
    closeSync(fd);
  }
}

function seededIds(count: number, vocab: number, seed: number): Int32Array {
  const random = seededRandom(seed);
  return Int32Array.from({ length: count }, () => Math.floor(random() * vocab));
}

type PeerResult =
  | { readonly ok: true; readonly figures: Gpt2Figures; readonly settings: readonly Gpt2Figures[]; readonly torch: string; readonly logits: Float32Array }
  | { readonly ok: false; readonly reason: string };

/** Runs the PyTorch peer on the weights file; its check logits come back through a file. */
function runTorchPeer(dir: string, weightsPath: string, config: Gpt2Config, batch: number, length: number, runs: number, checkIds: Int32Array): PeerResult {
  const checkOut = join(dir, 'torch-check.f32');
  const child = spawnSync(options.python, [
    PEER, weightsPath, '--layers', String(config.layers), '--heads', String(config.heads), '--hidden', String(config.hidden),
    '--vocab', String(config.vocab), '--positions', String(config.positions), '--epsilon', String(config.epsilon),
    '--batch', String(batch), '--length', String(length), '--runs', String(runs), '--threads', `${availableParallelism()},1`,
    '--check-ids', checkIds.join(','), '--check-out', checkOut,
  ], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (child.error) return { ok: false, reason: `${options.python} did not start (${child.error.message})` };
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(last) as Record<string, unknown>;
  } catch {
    // reported below with stderr
  }
  if (child.status !== 0 || typeof parsed.median_s !== 'number') {
    const why = typeof parsed.error === 'string' ? parsed.error : `exit ${child.status}: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    return { ok: false, reason: why };
  }
  const bytes = readFileSync(checkOut);
  const logits = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const settings = (parsed.settings as { median_s: number; cpu_median_s: number; threads: number }[]).map((s) => ({ wall: s.median_s, cpu: s.cpu_median_s, threads: s.threads }));
  return {
    ok: true,
    torch: String(parsed.torch),
    logits,
    settings,
    figures: { wall: parsed.median_s, cpu: parsed.cpu_median_s as number, threads: parsed.threads as number },
  };
}

async function gpt2Part(dir: string): Promise<void> {
  const batch = Number(options['gpt2-batch']);
  const length = Number(options['gpt2-length']);
  const runs = Number(options['gpt2-runs']);
  const config = gpt2Config(hfConfig('gpt2', GPT2_SMALL), 'the benchmark GPT-2');
  if (length > config.positions) throw new RangeError(`--gpt2-length ${length} exceeds the ${config.positions} positions of GPT-2 small`);
  const tokens = batch * length;
  const generated = performance.now();
  const weights = gpt2RandomWeights(GPT2_SMALL, 11);
  const parameters = [...weights.values()].reduce((sum, t) => sum + t.values!.length, 0);
  // FLOPs (2 per multiply-add): every block's dense layers and the head for each token, and attention's
  // two [length x length x hidden] products per sequence (the masked half is computed too, by both).
  const h = config.hidden;
  const flops = 2 * tokens * config.layers * (4 * h * h + 2 * h * config.inner) + 2 * tokens * h * config.vocab + 2 * 2 * batch * config.layers * length * length * h;
  console.log(`\nGPT-2 small forward pass: ${config.layers} layers, ${config.heads} heads, ${h} wide, ${config.positions} positions, vocabulary ${config.vocab} (${(parameters / 1e6).toFixed(1)}M parameters, tied head)`);
  console.log(`  batch ${batch} x ${length} tokens, logits through the head for all ${tokens} positions (${(flops / 1e9).toFixed(0)} GFLOP a batch); one warm-up, then the median of ${runs} runs`);
  console.log(`  CPU: ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} cores; random weights (seeded, scale ${GPT2_SCALE}) made in ${((performance.now() - generated) / 1000).toFixed(1)} s`);
  const weightsPath = join(dir, 'gpt2.safetensors');
  writeF32Safetensors(weightsPath, weights);
  const ids = seededIds(tokens, config.vocab, 12);
  const rows = Int32Array.from({ length: tokens }, (_, i) => i);
  const checkIds = seededIds(CHECK_LENGTH, config.vocab, 13);

  // The peer first, alone on the machine; its weights file is deleted before tvr runs.
  const peer = runTorchPeer(dir, weightsPath, config, batch, length, runs, checkIds);
  rmSync(weightsPath, { force: true });
  if (peer.ok) {
    // Debian's torch multiplies in OpenBLAS, whose own threads use every core whatever
    // set_num_threads says: the peer times each setting and counts its fastest.
    for (const s of peer.settings) {
      console.log(`  PyTorch ${peer.torch} (${options.python}), set_num_threads(${s.threads}): ${Math.round(tokens / s.wall).toLocaleString('en')} tokens/s, ${s.wall.toFixed(2)} s a batch wall, ${s.cpu.toFixed(2)} s CPU${s === peer.settings.find((x) => x.wall === peer.figures.wall) ? '  <- the peer (fastest)' : ''}`);
    }
  } else {
    console.log(`\n  !!! PyTorch peer unavailable: ${peer.reason}`);
    console.log('  !!! install it with TVR_WITH_TORCH=1 bash scripts/setup-system.sh (Debian\'s python3-torch); tvr figures follow without a ratio\n');
  }

  const measured = new Map<string, Gpt2Figures>();
  const requested = options['gpt2-backends'].split(',').filter(Boolean) as TfjsBackendName[];
  if (!requested.includes('tfjs-cpu')) console.log('  tfjs-cpu       skipped: about 0.9 GFLOP/s of matmul, so one batch would take minutes (add it with --gpt2-backends ...,tfjs-cpu)');
  for (const name of requested) {
    let runtime;
    try {
      runtime = await tfRuntimeFor(name);
    } catch (error) {
      console.log(`  ${name.padEnd(14)} UNAVAILABLE: ${(error as Error).message}`);
      continue;
    }
    let model: Gpt2Weights | undefined;
    try {
      await activate(runtime);
      const { tf } = runtime;
      // On a GPU, tensors past its binding limit are refused and every pass runs guarded: an unguarded pass after a device error returns numbers the GPU never computed.
      checkTensorsFit(runtime, weights, 'the benchmark GPT-2');
      model = Gpt2Weights.upload(tf, config, weights, 'the benchmark GPT-2');
      const forward = (input: Int32Array, n: number, l: number, picked?: Int32Array): Promise<Float32Array> => runtime!.step(`a forward pass of ${n} x ${l} tokens`, async () => {
        const logits = model!.logits(input, n, l, picked);
        try {
          return (await logits.data()) as Float32Array;
        } finally {
          logits.dispose();
        }
      });
      const check = await forward(checkIds, 1, CHECK_LENGTH);
      const agreement = peer.ok ? `logits of ${CHECK_LENGTH} tokens vs PyTorch: max |tvr - torch| / max |torch| = ${relativeError(check, peer.logits).toExponential(2)}` : 'no PyTorch logits to compare';
      await forward(ids, batch, length, rows); // warm-up: kernels compiled, buffers allocated
      const walls: number[] = [];
      const cpuTimes: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const cpu = process.cpuUsage();
        await forward(ids, batch, length, rows);
        const used = process.cpuUsage(cpu);
        walls.push((performance.now() - started) / 1000);
        cpuTimes.push((used.user + used.system) / 1e6);
      }
      const figures: Gpt2Figures = { wall: median(walls), cpu: median(cpuTimes), threads: name === 'tfjs-wasm' || name === 'tfjs-cpu' ? 1 : availableParallelism() };
      measured.set(name, figures);
      if (runtime.adapter) console.log(`  ${name.padEnd(14)} adapter: ${describeAdapter(runtime.adapter)}`);
      console.log(`  ${name.padEnd(14)} ${Math.round(tokens / figures.wall).toLocaleString('en')} tokens/s, ${figures.wall.toFixed(2)} s a batch wall (runs ${walls.map((w) => w.toFixed(2)).join(', ')}), ${figures.cpu.toFixed(2)} s CPU; ${agreement}`);
    } catch (error) {
      console.log(`  ${name.padEnd(14)} FAILED: ${(error as Error).message}`);
    } finally {
      model?.dispose();
    }
  }

  console.log('\n  | backend | threads | tokens/s | s per batch (wall) | s per batch (CPU) | GFLOP/s (wall) | tvr time / torch time (wall) | (CPU) |');
  console.log('  |---|---:|---:|---:|---:|---:|---:|---:|');
  const row = (label: string, f: Gpt2Figures, threads = String(f.threads)) => {
    const ratios = peer.ok ? `${(f.wall / peer.figures.wall).toFixed(2)}x | ${(f.cpu / peer.figures.cpu).toFixed(2)}x` : 'no peer | no peer';
    console.log(`  | ${label} | ${threads} | ${Math.round(tokens / f.wall).toLocaleString('en')} | ${f.wall.toFixed(2)} | ${f.cpu.toFixed(2)} | ${(flops / f.wall / 1e9).toFixed(1)} | ${ratios} |`);
  };
  for (const [name, f] of measured) row(name, f, GPU_BACKENDS.has(name) ? 'GPU' : String(f.threads));
  if (peer.ok) row(`PyTorch ${peer.torch} (CPU)`, peer.figures, `${peer.figures.threads} (OpenBLAS: ${availableParallelism()})`);
  const cpuBackends = [...measured].filter(([name]) => !GPU_BACKENDS.has(name)).sort(([, x], [, y]) => x.wall - y.wall);
  const fastest = cpuBackends[0];
  if (!fastest) console.log('\n  target (within 2x of PyTorch on the fastest CPU backend): no tvr CPU backend measured');
  else if (!peer.ok) console.log(`\n  target (within 2x of PyTorch on the fastest CPU backend): not judged, no PyTorch peer (fastest tvr CPU backend: ${fastest[0]})`);
  else {
    const ratio = fastest[1].wall / peer.figures.wall;
    console.log(`\n  target: within 2x of PyTorch's CPU time on the fastest tvr CPU backend (${fastest[0]}, ${ratio.toFixed(2)}x wall): ${ratio <= 2 ? 'MET' : `MISSED by ${(ratio / 2).toFixed(2)}x`}`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tvr-bench-'));
try {
  if (parts.has('mlp') || parts.has('sweep')) await mlpAndSweep(dir);
  if (parts.has('gpt2')) await gpt2Part(dir);
  console.log(`\nload average now ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores: wall times on a busy machine are slower and noisier than CPU times`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
