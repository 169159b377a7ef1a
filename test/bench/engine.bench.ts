// Engine benchmark (prints figures; not a test). Workload: a base and 3 fine-tuned
// float32 checkpoints of --size-mb each (default 1000) -> one task-arithmetic output,
// and the same with TIES. Peers in the same run: numpy over memory-mapped safetensors
// and torch with whole state dicts, as the task-vectors reference code works. Prints
// wall time against the faster peer, peak RSS against the peers, and throughput
// against simply reading the input bytes.
//
//   node scripts/build.ts && node test/bench/engine.bench.ts [--size-mb 1000] [--backends js-workers,js,tfjs-wasm]
//     [--peers numpy,torch] [--repeat 3] [--cold] [--source]
//
// tvr runs as users get it, from the bundle (dist/engine.mjs; --source runs the
// TypeScript instead, whose worker threads start about 60 ms slower). Like the peers,
// tvr does not fsync its outputs by default; task arithmetic is also run with
// RunOptions.sync (`tvr run --sync`) against numpy with an fsync, like for like.
// `sync` runs before each measured run so none pays for another's dirty pages. Inputs
// are in the page cache for every run (read once before), or with --cold evicted from
// it before every run and before plain reading is timed (posix_fadvise DONTNEED), so
// both read from the disk. Figures are the median of --repeat runs (torch: one run).
//
// --bf16 runs the bf16 workload instead (issue 17): base + 3 fine-tuned Llama-shaped bf16
// checkpoints in 3 shards each (model.safetensors.index.json), generated here for each
// of --bf16-layers (default 2,6 decoder layers; hidden 1024, 2816 MLP, 32000 vocabulary),
// with task arithmetic and TIES (bf16 outputs) and the norm of ft1 - base (computeGram, as the
// hover does), against plain reading (`cat` of every input shard),
// plain writing of one output's bytes and numpy (with --peers numpy, the default:
// memory-mapped shards, decoded to float32 tensor by tensor) in the same run, as ratios;
// --cold evicts the shards before every run and before `cat`, so all read from the disk.
// tvr task arithmetic, TIES and the norm also run with TVR_JS_CONVERSION=1 (bf16 decoded and
// encoded in JavaScript, as before the WebAssembly loops did it), and the norm once more
// with its workers already running ("warm", as in the language server's hovers). --before DIR also
// runs DIR/dist/engine.mjs (a build of another tree, e.g. before a change) alternately
// with this one. --conversion runs the conversion micro-benchmark: encodeFromFloat32 and
// decodeToFloat32 on 64 Ki elements, --calls times, printing ns/element early and late
// (V8's tiering shows as a change between the two); --dtypes FILE measures another copy.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { readCheckpointHeader } from '../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../server/src/checkpoints/tensor-reader.ts';
import type { BackendName } from '../../server/src/engine/index.ts';
import { ProgramBuilder } from '../unit/engine/helpers.ts';

const LAMBDA = 0.4;
const DENSITY = 0.2;
/** The bf16 workload's Llama shape (TinyLlama's at half the width). */
const BF16_HIDDEN = 1024;
const BF16_MLP = 2816;
const BF16_KV = 256;
const BF16_VOCAB = 32000;
const PYTHON = '/usr/bin/python3';
/** The environment that makes tvr decode and encode bf16 in JavaScript, as before issue 17 (checkpoints/dtypes.ts). */
const JS_CONVERSION = { TVR_JS_CONVERSION: '1' };
const here = dirname(fileURLToPath(import.meta.url));

type Workload = 'ta' | 'ties';

interface Measure {
  readonly seconds: number;
  /** User + system CPU seconds of every thread: comparable even when the machine is busy. */
  readonly cpuSeconds: number;
  readonly maxRssBytes: number;
}

const { values: options } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1000' },
    backends: { type: 'string', default: 'js-workers' },
    peers: { type: 'string', default: 'numpy,torch' },
    /** Runs per measurement (the median is printed); torch runs once. */
    repeat: { type: 'string', default: '3' },
    'chunk-elements': { type: 'string' },
    cold: { type: 'boolean' },
    source: { type: 'boolean' },
    child: { type: 'string' },
    synced: { type: 'boolean' },
    dir: { type: 'string' },
    workload: { type: 'string' },
    bf16: { type: 'boolean' },
    'bf16-layers': { type: 'string', default: '2,6' },
    before: { type: 'string' },
    bundle: { type: 'string' },
    input: { type: 'string' },
    conversion: { type: 'boolean' },
    calls: { type: 'string', default: '4000' },
    dtypes: { type: 'string' },
  },
});

if (options.conversion) {
  await conversionBench();
} else if (options.child === 'bf16-ta' || options.child === 'bf16-ties' || options.child === 'bf16-norm' || options.child === 'bf16-norm-warm') {
  console.log(JSON.stringify(await runBf16Child(options.child)));
} else if (options.child === 'bf16-workload') {
  // Writes the bf16 workload into --dir and keeps it (for profiling one child: --child bf16-ties --dir DIR --bundle dist/engine.mjs).
  mkdirSync(options.dir!, { recursive: true });
  writeBf16Workload(options.dir!, Number(options['bf16-layers']));
} else if (options.bf16) {
  await bf16Main();
} else if (options.child) {
  // One measured run of the engine, in its own process so its peak RSS is its own.
  const measure = await runEngine(options.dir!, options.workload as Workload, options.child as BackendName, options.synced === true);
  console.log(JSON.stringify(measure));
} else {
  await main();
}

// ---- bf16 (issue 17) ------------------------------------------------------------------

/** Llama-shaped tensors: embeddings, per layer attention (grouped KV) + gated MLP + 2 norms, final norm, head. */
function llamaLayout(layers: number): { name: string; shape: number[] }[] {
  const h = BF16_HIDDEN;
  const tensors = [{ name: 'model.embed_tokens.weight', shape: [BF16_VOCAB, h] }];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [h, h] }, { name: `${p}.self_attn.k_proj.weight`, shape: [BF16_KV, h] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [BF16_KV, h] }, { name: `${p}.self_attn.o_proj.weight`, shape: [h, h] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [BF16_MLP, h] }, { name: `${p}.mlp.up_proj.weight`, shape: [BF16_MLP, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, BF16_MLP] },
      { name: `${p}.input_layernorm.weight`, shape: [h] }, { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [h] }, { name: 'lm_head.weight', shape: [BF16_VOCAB, h] });
  return tensors;
}

/**
 * Writes base, ft1..ft3 as folders of 3 bf16 shards plus model.safetensors.index.json
 * (fine-tuned = base + small noise, rounded to bf16 here). Returns the bytes of one checkpoint.
 */
function writeBf16Workload(dir: string, layers: number): number {
  const tensors = llamaLayout(layers);
  const elements = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
  const total = elements.reduce((a, b) => a + b, 0);
  // Three shards of about a third of the elements each, split between tensors.
  const shardOf: number[] = [];
  let seen = 0;
  for (const n of elements) { shardOf.push(Math.min(2, Math.floor((seen * 3) / total))); seen += n; }
  const names = ['base', 'ft1', 'ft2', 'ft3'];
  const shardName = (s: number) => `model-0000${s + 1}-of-00003.safetensors`;
  const weightMap: Record<string, string> = {};
  const fds = names.map((m) => { mkdirSync(join(dir, m), { recursive: true }); return [0, 1, 2].map((s) => openSync(join(dir, m, shardName(s)), 'w')); });
  for (let s = 0; s < 3; s++) {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    tensors.forEach((t, i) => {
      if (shardOf[i] !== s) return;
      header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + 2 * elements[i]!] };
      weightMap[t.name] = shardName(s);
      offset += 2 * elements[i]!;
    });
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const prefix = Buffer.alloc(8 + json.length);
    prefix.writeBigUInt64LE(BigInt(json.length), 0);
    prefix.write(json, 8);
    for (const m of fds) writeSync(m[s]!, prefix);
  }
  const chunk = new Float32Array(1 << 21);
  const bits = new Uint32Array(chunk.buffer);
  const out = new Uint16Array(chunk.length);
  let state = 12345;
  const next = (): number => {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  tensors.forEach((_, i) => {
    for (let done = 0; done < elements[i]!; done += chunk.length) {
      const n = Math.min(chunk.length, elements[i]! - done);
      for (let j = 0; j < n; j++) chunk[j] = next() * 0.04;
      const base = Float32Array.from(chunk.subarray(0, n));
      fds.forEach((m, k) => {
        if (k > 0) for (let j = 0; j < n; j++) chunk[j] = base[j]! + next() * 0.002;
        for (let j = 0; j < n; j++) out[j] = (bits[j]! + 0x7fff + ((bits[j]! >>> 16) & 1)) >>> 16; // nearest even, no nan here
        writeSync(m[shardOf[i]!]!, new Uint8Array(out.buffer, 0, 2 * n));
      });
    }
  });
  fds.flat().forEach(closeSync);
  const index = JSON.stringify({ metadata: { total_size: 2 * total }, weight_map: weightMap });
  for (const m of names) writeFileSync(join(dir, m, 'model.safetensors.index.json'), index);
  return 2 * total;
}

function bf16Inputs(dir: string): string[] {
  return ['base', 'ft1', 'ft2', 'ft3'].map((m) => join(dir, m, 'model.safetensors.index.json'));
}

function shardFiles(dir: string): string[] {
  return ['base', 'ft1', 'ft2', 'ft3'].flatMap((m) => readdirSync(join(dir, m)).filter((f) => f.endsWith('.safetensors')).map((f) => join(dir, m, f)));
}

/** `bf16-norm-warm`: the norm once before the clock starts, so the statistics workers are running (as in the language server). */
async function runBf16Child(what: 'bf16-ta' | 'bf16-ties' | 'bf16-norm' | 'bf16-norm-warm'): Promise<Measure> {
  const dir = options.dir!;
  const inputs = bf16Inputs(dir);
  // Modules load before the clock starts, as in runEngine.
  const engine = what === 'bf16-ta' || what === 'bf16-ties' ? (await import(pathToFileURL(options.bundle!).href)) as typeof import('../../server/src/engine/index.ts') : undefined;
  const { computeGram } = await import('../../server/src/checkpoints/statistics.ts');
  if (what === 'bf16-norm-warm') await computeGram([inputs[0]!, inputs[1]!]);
  const started = performance.now();
  const cpu = process.cpuUsage();
  if (engine) {
    const pb = new ProgramBuilder(join(dir, 'bench.tvr'));
    const [base, ...ft] = await Promise.all(inputs.map((p) => pb.load(p)));
    const vectors = ft.map((m) => pb.diff(m, base!));
    const edit = what === 'bf16-ta'
      ? pb.combine([[1, base!], ...vectors.map((v) => [LAMBDA, v] as const)], 'model')
      : pb.combine([[1, base!], [LAMBDA, pb.ties(vectors, DENSITY)]], 'model');
    pb.save(edit, join(dir, `out-tvr-${what}.safetensors`));
    await engine.runProgram(pb.program(), { backend: 'js-workers', recipeText: `bench ${what}` });
  } else {
    const result = await computeGram([inputs[0]!, inputs[1]!]);
    if (!(result.total[0]! > 0)) throw new Error('norm is zero');
  }
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** Seconds for `cat` to read `paths` to /dev/null (from the page cache, or with --cold from the disk). */
function catSeconds(paths: readonly string[]): number {
  if (options.cold) {
    execFileSync('sync');
    evict(paths);
  }
  const started = performance.now();
  execFileSync('cat', [...paths], { stdio: ['ignore', 'ignore', 'inherit'] });
  return (performance.now() - started) / 1000;
}

async function bf16Main(): Promise<void> {
  const repeat = Number(options.repeat);
  const peers = options.peers!.split(',');
  const builds: [string, string][] = [['tvr', join(here, '../../dist/engine.mjs')]];
  if (options.before) builds.unshift(['tvr before', join(options.before, 'dist/engine.mjs')]);
  for (const [, bundle] of builds) if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run node scripts/build.ts first`);
  for (const layers of options['bf16-layers']!.split(',').map(Number)) {
    const dir = mkdtempSync(join(tmpdir(), 'tvr-bench-bf16-'));
    try {
      const oneBytes = writeBf16Workload(dir, layers);
      const shards = shardFiles(dir);
      const inputBytes = shards.reduce((s, p) => s + statSync(p).size, 0);
      execFileSync('sync');
      catSeconds(shards); // warm the page cache
      console.log(`bf16 workload${options.cold ? ', from disk (inputs evicted from the page cache before every run)' : ', page cache warm'}: ${layers} Llama-shaped layers (hidden ${BF16_HIDDEN}), base + 3 fine-tuned, ${(oneBytes / 1e6).toFixed(0)} MB each in 3 shards (${(inputBytes / 1e9).toFixed(2)} GB in); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
      const rows = new Map<string, Measure[]>();
      const add = (who: string, m: Measure) => rows.set(who, [...(rows.get(who) ?? []), m]);
      const flat = (seconds: number): Measure => ({ seconds, cpuSeconds: NaN, maxRssBytes: NaN });
      // Alternate everything, run by run, so load from elsewhere falls on all alike.
      const tvr = (kind: string, env: Readonly<Record<string, string>> = {}, bundle = builds.at(-1)![1]) =>
        child(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, '--dir', dir, '--bundle', bundle], shards, env, dir);
      const numpy = (workload: Workload) =>
        child(PYTHON, [join(here, 'peers', 'engine_peers.py'), 'numpy-bf16', workload, join(dir, `out-numpy-${workload}.safetensors`), ...bf16Inputs(dir), '--lam', String(LAMBDA), '--density', String(DENSITY)], shards, {}, dir);
      // Alternate everything, run by run, so load from elsewhere falls on all alike.
      for (let r = 0; r < repeat; r++) {
        add('cat (all inputs)', flat(catSeconds(shards)));
        add('cat (ft1 + base)', flat(catSeconds(shards.filter((p) => /[/](base|ft1)[/]/.test(p)))));
        add('write one output', flat(writeOnce(dir, oneBytes).write));
        for (const [who, bundle] of builds) add(`${who} task arithmetic`, tvr('bf16-ta', {}, bundle));
        add('tvr, JS conversion task arithmetic', tvr('bf16-ta', JS_CONVERSION));
        if (peers.includes('numpy')) add('numpy task arithmetic', numpy('ta'));
        for (const [who, bundle] of builds) add(`${who} TIES`, tvr('bf16-ties', {}, bundle));
        add('tvr, JS conversion TIES', tvr('bf16-ties', JS_CONVERSION));
        if (peers.includes('numpy')) add('numpy TIES', numpy('ties'));
        // A warm norm reads its inputs before the clock starts: from the disk there is none.
        for (const [kind, when] of options.cold ? [['bf16-norm', '']] as const : [['bf16-norm', ''], ['bf16-norm-warm', ', warm']] as const) {
          add(`tvr norm${when}`, tvr(kind));
          add(`tvr, JS conversion norm${when}`, tvr(kind, JS_CONVERSION));
        }
      }
      const med = (who: string) => { const ms = [...rows.get(who)!].sort((a, b) => a.seconds - b.seconds); return ms[Math.floor(ms.length / 2)]!; };
      console.log(`  ${'who'.padEnd(36)} median s   GB/s in   CPU s   peak RSS MB   (runs)`);
      for (const [who, ms] of rows) {
        const m = med(who);
        const bytes = who.includes('norm') || who.includes('ft1 + base') ? (2 * inputBytes) / 4 : who.startsWith('write') ? oneBytes : inputBytes;
        console.log(`  ${who.padEnd(36)} ${m.seconds.toFixed(3).padStart(8)} ${(bytes / 1e9 / m.seconds).toFixed(2).padStart(9)} ${Number.isNaN(m.cpuSeconds) ? '      -' : m.cpuSeconds.toFixed(2).padStart(7)} ${Number.isNaN(m.maxRssBytes) ? '            -' : (m.maxRssBytes / 1e6).toFixed(0).padStart(13)}   (${ms.map((x) => x.seconds.toFixed(2)).join(' ')})`);
      }
      const floor = med('cat (all inputs)').seconds + med('write one output').seconds;
      for (const [who] of builds) {
        const ta = med(`${who} task arithmetic`).seconds;
        const ties = med(`${who} TIES`).seconds;
        console.log(`  ${who} task arithmetic: ${(ta / floor).toFixed(2)}x reading all inputs + writing the output (target <= 1.5), ${(ta / med('cat (all inputs)').seconds).toFixed(2)}x reading alone`);
        console.log(`  ${who} TIES: ${(ties / floor).toFixed(2)}x reading all inputs + writing the output (target <= 5)`);
      }
      for (const what of ['task arithmetic', 'TIES']) {
        if (rows.has(`numpy ${what}`)) console.log(`  ${what}: tvr ${(med(`tvr ${what}`).seconds / med(`numpy ${what}`).seconds).toFixed(2)}x numpy's time${what === 'TIES' ? ' (target <= 0.1)' : ''}, ${(med(`tvr ${what}`).maxRssBytes / med(`numpy ${what}`).maxRssBytes).toFixed(2)}x its peak RSS`);
      }
      const cpuMedian = (who: string) => [...rows.get(who)!].map((m) => m.cpuSeconds).sort((a, b) => a - b)[Math.floor(repeat / 2)]!;
      const ratio = (who: string, than: string) => `wall ${(med(who).seconds / med(than).seconds).toFixed(2)}, CPU seconds ${(cpuMedian(who) / cpuMedian(than)).toFixed(2)}`;
      if (options.before) console.log(`  task arithmetic, this build / before: ${ratio('tvr task arithmetic', 'tvr before task arithmetic')} (medians; CPU time varies far less with other load)`);
      console.log(`  bf16 converted in the WebAssembly loops / in JavaScript (TVR_JS_CONVERSION=1): task arithmetic ${ratio('tvr task arithmetic', 'tvr, JS conversion task arithmetic')}; TIES ${ratio('tvr TIES', 'tvr, JS conversion TIES')}; norm ${ratio('tvr norm', 'tvr, JS conversion norm')}${rows.has('tvr norm, warm') ? `; norm, warm ${ratio('tvr norm, warm', 'tvr, JS conversion norm, warm')}` : ''}`);
      for (const who of ['tvr norm', 'tvr norm, warm', 'tvr, JS conversion norm', 'tvr, JS conversion norm, warm'].filter((w) => rows.has(w))) {
        console.log(`  ${who}: ${(med('cat (ft1 + base)').seconds / med(who).seconds).toFixed(2)} of plain reading speed of its two inputs (target >= 0.5)`);
      }
      console.log('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** encodeFromFloat32 / decodeToFloat32 on 64 Ki elements, many calls: ns per element early and late. */
async function conversionBench(): Promise<void> {
  const dtypes = (await import(options.dtypes ? pathToFileURL(options.dtypes).href : '../../server/src/checkpoints/dtypes.ts')) as typeof import('../../server/src/checkpoints/dtypes.ts');
  const calls = Number(options.calls);
  const n = 1 << 16;
  const values = new Float32Array(n);
  let state = 99;
  for (let i = 0; i < n; i++) { state ^= state << 13; state ^= state >>> 17; state ^= state << 5; values[i] = ((state >>> 0) / 4294967296 - 0.5) * 0.1; }
  const bytes = new Uint8Array(2 * n);
  const back = new Float32Array(n);
  const windows = [[0, 100], [100, 500], [500, 1000], [1000, calls >> 1], [calls >> 1, calls]] as const;
  console.log(`conversion micro-benchmark: ${calls} calls of ${n} elements, ${options.dtypes ?? 'server/src/checkpoints/dtypes.ts'}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`  median ns/element over calls ${windows.map(([a, b]) => `${a}-${b}`).join(' | ')}`);
  for (const dtype of ['BF16', 'F16'] as const) {
    const encode: number[] = [];
    const decode: number[] = [];
    for (let c = 0; c < calls; c++) {
      const t0 = performance.now();
      dtypes.encodeFromFloat32(dtype, values, bytes);
      const t1 = performance.now();
      dtypes.decodeToFloat32(dtype, bytes, back);
      encode.push(((t1 - t0) * 1e6) / n);
      decode.push(((performance.now() - t1) * 1e6) / n);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    for (const [what, xs] of [['encode', encode], ['decode', decode]] as const) {
      console.log(`  ${dtype} ${what}: ${windows.map(([a, b]) => med(xs.slice(a, b)).toFixed(2)).join(' | ')}`);
    }
  }
}

async function runEngine(dir: string, workload: Workload, backend: BackendName, sync: boolean): Promise<Measure> {
  const pb = new ProgramBuilder(join(dir, 'bench.tvr'));
  const [base, ...ft] = await Promise.all(inputPaths(dir).map((p) => pb.load(p)));
  const vectors = ft.map((m) => pb.diff(m, base!));
  const edit = workload === 'ta'
    ? pb.combine([[1, base!], ...vectors.map((v) => [LAMBDA, v] as const)], 'model')
    : pb.combine([[1, base!], [LAMBDA, pb.ties(vectors, DENSITY)]], 'model');
  pb.save(edit, outputPath(dir, tvrName(backend, sync), workload));
  const bundle = join(here, '../../dist/engine.mjs');
  if (!options.source && !existsSync(bundle)) throw new Error(`${bundle} is missing: run node scripts/build.ts first (or pass --source)`);
  const engine = (await import(options.source ? '../../server/src/engine/index.ts' : pathToFileURL(bundle).href)) as typeof import('../../server/src/engine/index.ts');
  const started = performance.now();
  const cpu = process.cpuUsage();
  await engine.runProgram(pb.program(), {
    backend,
    recipeText: `bench ${workload}`,
    sync,
    ...(options['chunk-elements'] ? { chunkElements: Number(options['chunk-elements']) } : {}),
  });
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

function tvrName(backend: BackendName, sync: boolean): string {
  return `tvr-${backend}${sync ? '-synced' : ''}`;
}

function inputPaths(dir: string): string[] {
  return ['base', 'ft1', 'ft2', 'ft3'].map((n) => join(dir, `${n}.safetensors`));
}

function outputPath(dir: string, who: string, workload: Workload): string {
  return join(dir, `out-${who}-${workload}.safetensors`);
}

/** A transformer-like layout of float32 tensors totalling about `sizeMb` MB. */
function layout(sizeMb: number): { name: string; shape: number[] }[] {
  const hidden = sizeMb >= 400 ? 1024 : 256;
  const vocab = 32000;
  const perLayer = (4 * hidden * hidden + 8 * hidden * hidden + 9 * hidden) * 4;
  const layers = Math.max(1, Math.round((sizeMb * 1e6 - vocab * hidden * 4) / perLayer));
  const tensors = [{ name: 'embed.weight', shape: [vocab, hidden] }];
  for (let l = 0; l < layers; l++) {
    for (const p of ['q', 'k', 'v', 'o']) tensors.push({ name: `layers.${l}.attn.${p}.weight`, shape: [hidden, hidden] }, { name: `layers.${l}.attn.${p}.bias`, shape: [hidden] });
    tensors.push({ name: `layers.${l}.mlp.fc1.weight`, shape: [4 * hidden, hidden] }, { name: `layers.${l}.mlp.fc1.bias`, shape: [4 * hidden] });
    tensors.push({ name: `layers.${l}.mlp.fc2.weight`, shape: [hidden, 4 * hidden] }, { name: `layers.${l}.mlp.fc2.bias`, shape: [hidden] });
    tensors.push({ name: `layers.${l}.norm.weight`, shape: [hidden] });
  }
  return tensors;
}

/** Writes base and three fine-tuned checkpoints (base + small noise), streaming. */
function writeWorkload(dir: string, sizeMb: number): number {
  const tensors = layout(sizeMb);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8 + json.length);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  prefix.write(json, 8);
  const chunk = new Float32Array(1 << 22);
  const noise = new Float32Array(chunk.length);
  const files = inputPaths(dir).map((p) => openSync(p, 'w'));
  for (const fd of files) writeSync(fd, prefix);
  let state = 12345;
  const next = (): number => {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  for (let done = 0; done < offset / 4; done += chunk.length) {
    const n = Math.min(chunk.length, offset / 4 - done);
    for (let i = 0; i < n; i++) chunk[i] = next() * 0.2;
    writeSync(files[0]!, new Uint8Array(chunk.buffer, 0, n * 4));
    for (const fd of files.slice(1)) {
      for (let i = 0; i < n; i++) noise[i] = chunk[i]! + next() * 0.02;
      writeSync(fd, new Uint8Array(noise.buffer, 0, n * 4));
    }
  }
  files.forEach(closeSync);
  return offset;
}

/**
 * Seconds to write `bytes` to a new file beside the inputs, 16 MiB at a time, then to fsync
 * it: the fastest of three tries (the first write after the inputs can take several times
 * as long, while the virtual machine gets its memory back from the host; see `child`).
 */
function writeSeconds(dir: string, bytes: number): { write: number; fsync: number } {
  const tries = [0, 1, 2].map(() => writeOnce(dir, bytes));
  return tries.reduce((a, b) => (b.write + b.fsync < a.write + a.fsync ? b : a));
}

function writeOnce(dir: string, bytes: number): { write: number; fsync: number } {
  const path = join(dir, 'floor.bin');
  const buffer = Buffer.alloc(16 << 20, 1);
  const fd = openSync(path, 'w');
  const started = performance.now();
  for (let done = 0; done < bytes; done += buffer.length) writeSync(fd, buffer, 0, Math.min(buffer.length, bytes - done));
  const written = performance.now();
  fsyncSync(fd);
  const synced = performance.now();
  closeSync(fd);
  rmSync(path);
  return { write: (written - started) / 1000, fsync: (synced - written) / 1000 };
}

/** Seconds to read every input byte once, 16 MiB at a time (from the page cache after warm-up). */
function readSeconds(paths: readonly string[]): number {
  const buffer = Buffer.alloc(16 << 20);
  const started = performance.now();
  for (const path of paths) {
    const fd = openSync(path, 'r');
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
    closeSync(fd);
  }
  return (performance.now() - started) / 1000;
}

/** Drops the files' pages from the page cache (Node has no posix_fadvise; Python does). They must be clean: `sync` first. */
function evict(paths: readonly string[]): void {
  execFileSync(PYTHON, ['-c', 'import os, sys\nfor p in sys.argv[1:]:\n    fd = os.open(p, os.O_RDONLY)\n    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)', ...paths]);
}

/**
 * Runs one measured child. Every earlier output is deleted first: on a virtual machine
 * that hands free memory back to its host (virtio balloon free page reporting, as here),
 * a run that needs pages nobody freed recently pays for the host to fault them in again,
 * in system time, at random (measured: 0.6 s or 2.2 s for the same numpy run); just-freed
 * pages are reused before they are reported. Then `sync`, so no run pays for another's
 * dirty pages, and with --cold the inputs are evicted.
 */
function child(command: string, args: readonly string[], inputs: readonly string[], env: Readonly<Record<string, string>> = {}, dir = dirname(inputs[0]!)): Measure {
  for (const name of readdirSync(dir)) if (name.startsWith('out-')) rmSync(join(dir, name));
  execFileSync('sync');
  if (options.cold) evict(inputs);
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  const parsed = JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number; cpuSeconds?: number; cpu_seconds?: number; maxRssBytes?: number; max_rss_bytes?: number };
  return { seconds: parsed.seconds, cpuSeconds: parsed.cpuSeconds ?? parsed.cpu_seconds!, maxRssBytes: parsed.maxRssBytes ?? parsed.max_rss_bytes! };
}

/** The median run of `times` (by wall time): shared machines are noisy. */
function median(times: number, run: () => Measure): Measure {
  const runs = Array.from({ length: times }, run).sort((a, b) => a.seconds - b.seconds);
  return runs[Math.floor(runs.length / 2)]!;
}

/** Largest |a - b| between two outputs, read back tensor by tensor. */
async function maxDifference(a: string, b: string): Promise<number> {
  const [ha, hb] = await Promise.all([readCheckpointHeader(a), readCheckpointHeader(b)]);
  const reader = new TensorReader([ha, hb]);
  let worst = 0;
  try {
    for (const [name, entry] of ha.tensors) {
      const other = hb.tensors.get(name)!;
      const n = entry.byteLength / 4;
      for (let start = 0; start < n; start += 1 << 22) {
        const x = new Float32Array(Math.min(1 << 22, n - start));
        const y = new Float32Array(x.length);
        await Promise.all([reader.readFloat32(entry, start, x), reader.readFloat32(other, start, y)]);
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
      }
    }
  } finally {
    await reader.close();
  }
  return worst;
}

function torchAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<void> {
  const sizeMb = Number(options['size-mb']);
  const backends = options.backends!.split(',') as BackendName[];
  let peers = options.peers!.split(',').filter(Boolean);
  if (peers.includes('torch') && !torchAvailable()) {
    console.log(`torch peer skipped: ${PYTHON} cannot import torch (apt-get install -y python3-torch)`);
    peers = peers.filter((p) => p !== 'torch');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tvr-bench-'));
  try {
    const dataBytes = writeWorkload(dir, sizeMb);
    const inputs = inputPaths(dir);
    const inputBytes = inputs.reduce((s, p) => s + statSync(p).size, 0);
    execFileSync('sync');
    readSeconds(inputs); // warm the page cache: every run below reads from memory alike (unless --cold)
    const readOnce = () => {
      if (options.cold) evict(inputs);
      return readSeconds(inputs);
    };
    const read = Math.min(readOnce(), readOnce());
    console.log(`workload: base + 3 fine-tuned float32 checkpoints, ${(dataBytes / 1e6).toFixed(0)} MB each (${layout(sizeMb).length} tensors); ${execFileSync('nproc').toString().trim()} cores; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}; tvr from ${options.source ? 'the TypeScript source' : 'the bundle'}`);
    execFileSync('sync');
    const floor = writeSeconds(dir, dataBytes);
    console.log(`reading the ${(inputBytes / 1e9).toFixed(2)} GB of inputs once, ${options.cold ? 'from the disk (evicted from the page cache)' : 'from the page cache'}: ${read.toFixed(2)} s (${(inputBytes / 1e9 / read).toFixed(2)} GB/s)`);
    console.log(`writing one output's ${(dataBytes / 1e9).toFixed(2)} GB: ${floor.write.toFixed(2)} s, then fsync: ${floor.fsync.toFixed(2)} s\n`);

    for (const workload of ['ta', 'ties'] as const) {
      /** `out`: the output's name in outputPath; `synced`: the run fsyncs its output; `tvr`: a tvr run. */
      const rows: { who: string; out: string; synced: boolean; tvr: boolean; m: Measure }[] = [];
      const repeat = Number(options.repeat);
      // Task arithmetic is short enough for an fsync to matter: it also runs synced, tvr and numpy alike.
      const syncs = workload === 'ta' ? [false, true] : [false];
      for (const peer of peers) {
        for (const synced of peer === 'numpy' ? syncs : [false]) {
          const out = `${peer}${synced ? '-synced' : ''}`;
          // torch takes tens of seconds per run at full size: once is enough to place it.
          rows.push({ who: `${peer}${synced ? ' + fsync' : ''}`, out, synced, tvr: false, m: median(peer === 'torch' ? 1 : repeat, () => {
            return child(PYTHON, [join(here, 'peers', 'engine_peers.py'), peer, workload, outputPath(dir, out, workload), ...inputs, '--lam', String(LAMBDA), '--density', String(DENSITY), ...(synced ? ['--fsync'] : [])], inputs);
          }) });
        }
      }
      for (const backend of backends) {
        for (const synced of syncs) {
          const args = [fileURLToPath(import.meta.url), '--child', backend, '--dir', dir, '--workload', workload];
          if (options['chunk-elements']) args.push('--chunk-elements', options['chunk-elements']);
          if (options.source) args.push('--source');
          if (synced) args.push('--synced');
          const out = tvrName(backend, synced);
          rows.push({ who: `tvr ${backend}${synced ? ' --sync' : ''}`, out, synced, tvr: true, m: median(repeat, () => {
            return child(process.execPath, args, inputs);
          }) });
        }
      }
      console.log(workload === 'ta' ? 'task arithmetic: base + 0.4 * sum(ft_i - base)' : `TIES: base + 0.4 * ties(ft_i - base, density ${DENSITY})`);
      console.log('  who                     seconds   GB/s in   CPU seconds   peak RSS MB');
      for (const { who, m } of rows) console.log(`  ${who.padEnd(22)} ${m.seconds.toFixed(2).padStart(8)} ${(inputBytes / 1e9 / m.seconds).toFixed(2).padStart(9)} ${m.cpuSeconds.toFixed(2).padStart(13)} ${(m.maxRssBytes / 1e6).toFixed(0).padStart(13)}`);
      for (const { who, synced, m } of rows.filter((r) => r.tvr)) {
        // Like for like: a synced run against the synced peer, the default against the peers as they are.
        const peerRows = rows.filter((r) => !r.tvr && r.synced === synced);
        const fastest = peerRows.reduce((a, b) => (b.m.seconds < a.m.seconds ? b : a), peerRows[0]!);
        const leanest = peerRows.reduce((a, b) => (b.m.maxRssBytes < a.m.maxRssBytes ? b : a), peerRows[0]!);
        const alone = read + floor.write + (synced ? floor.fsync : 0);
        console.log(`  ${who}${synced ? '' : ' (the targets)'}: wall ${(m.seconds / fastest.m.seconds).toFixed(2)}x the faster peer (${fastest.who}; target <= 1.0; CPU ${(m.cpuSeconds / fastest.m.cpuSeconds).toFixed(2)}x), `
          + `peak RSS ${(m.maxRssBytes / leanest.m.maxRssBytes).toFixed(2)}x the leaner peer (${leanest.who}; target <= 0.25), `
          + `throughput ${(read / m.seconds).toFixed(2)} of plain reading (target >= 0.5; ${(fastest.m.seconds > 0 ? read / fastest.m.seconds : 0).toFixed(2)} for ${fastest.who}; ${(alone / m.seconds).toFixed(2)} of reading + writing${synced ? ' + fsync' : ''} alone)`);
      }
      // The measured runs deleted each other's outputs: each peer and tvr run once more, unmeasured, to compare outputs.
      const ours = outputPath(dir, tvrName(backends[0]!, false), workload);
      const peerRun = (peer: string) => [join(here, 'peers', 'engine_peers.py'), peer, workload, outputPath(dir, peer, workload), ...inputs, '--lam', String(LAMBDA), '--density', String(DENSITY)];
      for (const peer of peers) {
        if (!existsSync(ours)) child(process.execPath, [fileURLToPath(import.meta.url), '--child', backends[0]!, '--dir', dir, '--workload', workload, ...(options.source ? ['--source'] : [])], inputs);
        execFileSync(PYTHON, peerRun(peer));
        console.log(`  max |tvr - ${peer}| over every element: ${(await maxDifference(ours, outputPath(dir, peer, workload))).toExponential(2)}`);
        rmSync(outputPath(dir, peer, workload));
      }
      console.log('');
      rmSync(ours, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
