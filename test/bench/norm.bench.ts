// Benchmark (not a test): the norm of a task vector over two large float32
// safetensors files, against `cat a b > /dev/null` with a warm page cache.
//   node test/bench/norm.bench.ts [--size-mb 1024] [--workers N] [--chunk-mb 0.25] [--runs 5]
// Targets: computeGram >= 0.70 of cat's GB/s; peak RSS bounded by the chunk size (< 300 MB).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeGram } from '../../server/src/checkpoints/statistics.ts';
import { createSafetensorsWriter } from '../../server/src/checkpoints/write-safetensors.ts';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    workers: { type: 'string' },
    'chunk-mb': { type: 'string', default: '0.25' },
    runs: { type: 'string', default: '5' },
  },
});
const sizeBytes = Number(args['size-mb']) * 1024 * 1024;
const chunkElements = (Number(args['chunk-mb']) * 1024 * 1024) / 4;
const runs = Number(args.runs);
const TENSOR_ELEMENTS = 16 * 1024 * 1024; // 64 MiB tensors, like a large layer
const NOISE = 1e-3;

const gb = (bytes: number) => bytes / 1e9;
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

let peakRss = 0;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 20);

const dir = mkdtempSync(join(tmpdir(), 'tvr-bench-'));
// Two gigabytes must not outlive an interrupted run.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}
try {
  const { bavail, bsize } = statfsSync(dir);
  const need = 2 * sizeBytes + (256 << 20);
  if (bavail * bsize < need) throw new Error(`need ${mb(need)} MiB free in ${dir}, have ${mb(bavail * bsize)} MiB`);

  const elements = Math.floor(sizeBytes / 4);
  const tensors = [];
  for (let at = 0, i = 0; at < elements; at += TENSOR_ELEMENTS, i++) {
    tensors.push({ name: `layers.${i}.weight`, dtype: 'F32' as const, shape: [Math.min(TENSOR_ELEMENTS, elements - at)] });
  }
  const basePath = join(dir, 'base.safetensors');
  const tunedPath = join(dir, 'tuned.safetensors');
  let started = performance.now();
  const base = await createSafetensorsWriter(basePath, tensors);
  const tuned = await createSafetensorsWriter(tunedPath, tensors);
  // Deterministic values without a per-element Math.random call: xorshift32.
  let state = 2463534242;
  const block = new Float32Array(1 << 20);
  const noisy = new Float32Array(1 << 20);
  let expected = 0;
  for (let at = 0; at < elements; at += block.length) {
    const n = Math.min(block.length, elements - at);
    for (let i = 0; i < n; i++) {
      state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
      const u = (state >>> 0) / 4294967296;
      block[i] = (u - 0.5) * 0.1;
      noisy[i] = block[i]! + (((state >>> 8) & 0xff) / 255 - 0.5) * 2 * NOISE;
      const d = noisy[i]! - block[i]!;
      expected += d * d;
    }
    await base.writeFloat32(block.subarray(0, n));
    await tuned.writeFloat32(noisy.subarray(0, n));
  }
  await base.commit();
  await tuned.commit();
  const writeSeconds = (performance.now() - started) / 1000;
  console.log(`wrote 2 x ${mb(sizeBytes)} MiB float32 safetensors in ${writeSeconds.toFixed(2)} s (${gb((2 * sizeBytes) / writeSeconds).toFixed(2)} GB/s incl. generation and fsync)`);

  // The machine may be shared: interleave the two measurements and compare best with best
  // (and median with median), cat's first run only warming the page cache. CPU time
  // (user + system, all threads) is reported too: it varies far less with other load.
  const totalBytes = 2 * sizeBytes;
  const cat = () => {
    const run = spawnSync('/bin/bash', ['-c', `TIMEFORMAT='%3R %3U %3S'; time cat "${basePath}" "${tunedPath}" > /dev/null`], { encoding: 'utf8' });
    const [wall, user, system] = run.stderr.trim().split(/\s+/).map(Number) as [number, number, number];
    return { wall, cpu: user + system };
  };
  cat();
  const rssBefore = process.memoryUsage.rss();
  peakRss = rssBefore;
  const catRuns: { wall: number; cpu: number }[] = [];
  const gramRuns: { wall: number; cpu: number }[] = [];
  let norm = 0;
  for (let r = 0; r < runs; r++) {
    catRuns.push(cat());
    const cpuBefore = process.cpuUsage();
    started = performance.now();
    const result = await computeGram([basePath, tunedPath], {
      chunkElements,
      ...(args.workers ? { workers: Number(args.workers) } : {}),
    });
    const cpu = process.cpuUsage(cpuBefore);
    gramRuns.push({ wall: (performance.now() - started) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
    norm = Math.sqrt(result.total[0]!);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const best = (xs: number[]) => Math.min(...xs);
  const rate = (seconds: number) => (gb(totalBytes) / seconds).toFixed(2);
  const show = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
  const summary = (name: string, runs: { wall: number; cpu: number }[]) => {
    const wall = runs.map((r) => r.wall);
    const cpu = runs.map((r) => r.cpu);
    console.log(`${name} wall ${show(wall)} s -> best ${rate(best(wall))} GB/s, median ${rate(median(wall))} GB/s`);
    console.log(`${' '.repeat(name.length)} cpu  ${show(cpu)} s -> best ${rate(best(cpu))} GB per CPU-second, median ${rate(median(cpu))}`);
  };
  summary('cat a b > /dev/null:', catRuns);
  summary('computeGram:        ', gramRuns);
  console.log('(computeGram\'s first run includes starting its worker threads)');
  console.log(`||tuned - base|| = ${norm.toPrecision(10)} (independent sum while generating: ${Math.sqrt(expected).toPrecision(10)})`);
  const ratio = (pick: (r: { wall: number; cpu: number }) => number, of: (xs: number[]) => number) => (of(catRuns.map(pick)) / of(gramRuns.map(pick))).toFixed(2);
  console.log(`throughput ratio to cat (target >= 0.70): wall-clock best ${ratio((r) => r.wall, best)}, median ${ratio((r) => r.wall, median)}; per CPU-second best ${ratio((r) => r.cpu, best)}, median ${ratio((r) => r.cpu, median)}`);
  console.log(`RSS: ${mb(rssBefore)} MiB before the passes, peak ${mb(peakRss)} MiB sampled during them; process max RSS ${mb(process.resourceUsage().maxRSS * 1024)} MiB (target < 300 MiB; the files are ${mb(totalBytes)} MiB)`);
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores`);
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
