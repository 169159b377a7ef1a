// Benchmark (not a test): the language core on a realistic generated 2,000-line recipe
// with every checkpoint header known, and completion/hover latency with norms cached,
// in process and end to end over the protocol against the built server.
//   node test/bench/language.bench.ts [--lines 2000] [--runs 60] [--requests 40]
// Targets: parse + check median < 20 ms; completion and hover median < 10 ms.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CompletionRequest, HoverRequest } from 'vscode-languageserver-protocol/node';
import { readCheckpointHeader } from '../../server/src/checkpoints/read-header.ts';
import { computeGram } from '../../server/src/checkpoints/statistics.ts';
import type { GramResult } from '../../server/src/checkpoints/statistics.ts';
import { analyze, type Analysis } from '../../server/src/language/analysis.ts';
import type { CheckEnvironment, CheckpointLookup } from '../../server/src/language/check.ts';
import { complete } from '../../server/src/language/ide/completion.ts';
import { hover } from '../../server/src/language/ide/hover.ts';
import { statsGroups, type StatsSource } from '../../server/src/language/ide/vector-stats.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../helpers/checkpoint-fixtures.ts';
import { LspTestClient } from '../helpers/lsp-client.ts';
import { encoderSpecs } from '../helpers/recipe-fixtures.ts';
import { positionAt } from '../helpers/text-markers.ts';

const { values: args } = parseArgs({
  options: {
    lines: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '60' },
    requests: { type: 'string', default: '40' },
  },
});
const targetLines = Number(args.lines);
const runs = Number(args.runs);
const requests = Number(args.requests);
const FINETUNED = 6;

/** A recipe of `lines` lines in blocks like a real one grows: vectors, merges, sweeps chosen by evaluation, saves. */
function generateRecipe(lines: number): string {
  const out = [
    '# Generated benchmark recipe: task vectors from six fine-tuned models of one base.',
    'base = load("base.safetensors")',
    ...Array.from({ length: FINETUNED }, (_, i) => `m${i} = load("ft${i}.safetensors")`),
    'digits = task("data/digits.safetensors", head=base)',
    '',
  ];
  for (let k = 0; out.length < lines; k++) {
    const a = `m${k % FINETUNED}`;
    const b = `m${(k + 1) % FINETUNED}`;
    out.push(
      `# block ${k}: ${a} and ${b}`,
      `t${k} = ${a} - base`,
      `s${k} = 0.5*t${k} + 0.25*(${b} - base)`,
      `r${k} = ties(t${k}, s${k}, density=0.2)`,
      `d${k} = dare(t${k}, p=0.5, seed=${k})`,
      `avg${k} = mean(${a}, ${b})`,
      `e${k} = base + 0.3*r${k} - 0.1*d${k} + (avg${k} - base)`,
      `save(e${k}, "out/e${k}.safetensors")`,
    );
    if (k % 5 === 0) {
      out.push(`lam${k} = sweep(0, 1, 0.25)`, `sw${k} = base + lam${k}*t${k}`, `evaluate(sw${k}, targets=[digits], objective="add")`);
    }
    out.push('');
  }
  return `${out.slice(0, lines).join('\n')}\n`;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Sample {
  readonly wall: number;
  /** CPU time of the process (all threads), less sensitive than wall time to a busy shared machine. */
  readonly cpu?: number;
}

function summary(name: string, samples: readonly Sample[], target?: number): string {
  const wall = samples.map((s) => s.wall).sort((a, b) => a - b);
  const median = percentile(wall, 0.5);
  const cpu = samples.every((s) => s.cpu !== undefined) ? samples.map((s) => s.cpu!).sort((a, b) => a - b) : undefined;
  const cpuText = cpu ? `   cpu median ${percentile(cpu, 0.5).toFixed(2).padStart(7)} ms` : '';
  const verdict = target === undefined ? '' : median < target ? `  (target < ${target} ms: met)` : `  (target < ${target} ms: MISSED)`;
  return `${name.padEnd(54)} median ${median.toFixed(2).padStart(7)} ms   p95 ${percentile(wall, 0.95).toFixed(2).padStart(7)} ms${cpuText}   n=${samples.length}${verdict}`;
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time a process has used so far (Linux /proc), in ms: the server's own cost, whatever else runs. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

function time(run: () => unknown): Sample {
  const cpu = process.cpuUsage();
  const started = performance.now();
  run();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

const { dir, cleanup } = fixtureDir();
let client: LspTestClient | undefined;
try {
  const specs = [...encoderSpecs, { name: 'decoder/kernel', shape: [64, 64] }, { name: 'decoder/bias', shape: [64] }];
  const base = makeModel(specs, { seed: 1 });
  writeSafetensors(join(dir, 'base.safetensors'), base);
  for (let i = 0; i < FINETUNED; i++) writeSafetensors(join(dir, `ft${i}.safetensors`), perturbModel(base, { seed: 10 + i, scale: 0.01 }));
  mkdirSync(join(dir, 'data'));
  writeSafetensors(join(dir, 'data/digits.safetensors'), makeModel([
    { name: 'validation/x', shape: [16, 12] }, { name: 'validation/y', shape: [16], dtype: 'I64' },
    { name: 'test/x', shape: [16, 12] }, { name: 'test/y', shape: [16], dtype: 'I64' },
  ], { seed: 2 }));
  const text = generateRecipe(targetLines);
  const file = join(dir, 'bench.tvr');
  writeFileSync(file, text);

  const known = new Map<string, CheckpointLookup>();
  for (const name of ['base.safetensors', ...Array.from({ length: FINETUNED }, (_, i) => `ft${i}.safetensors`), 'data/digits.safetensors']) {
    known.set(join(dir, name), { status: 'ok', header: await readCheckpointHeader(join(dir, name)) });
  }
  const env: CheckEnvironment = { file, checkpoint: (path) => known.get(path) ?? { status: 'pending' } };

  let analysis: Analysis = analyze(text, env);
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  console.log(`recipe: ${text.split('\n').length - 1} lines, ${analysis.resolution.bindings.length} bindings, ${analysis.diagnostics.length} diagnostics (${errors.length} errors)`);
  if (errors.length > 0) throw new Error(`the benchmark recipe should check clean: ${errors[0]!.message}`);

  for (let i = 0; i < 10; i++) analyze(text, env); // warm up the JIT
  const check = Array.from({ length: runs }, () => time(() => { analysis = analyze(text, env); }));
  // Statements whose text and offset are unchanged reuse their parse; an edit on the first
  // line shifts every offset, so every statement is parsed again (the worst case).
  const edited = Array.from({ length: runs }, (_, i) => {
    const shifted = `${'#'.repeat(1 + i)}\n${text}`;
    return time(() => analyze(shifted, env));
  });

  // Norms cached: the Gram matrices of every group, computed once as the server's worker would.
  const grams = new Map<string, GramResult>();
  for (const group of statsGroups(analysis)) grams.set(group.paths.join('\n'), await computeGram(group.paths, { includeReference: true }));
  const stats: StatsSource = { lookup: (paths) => { const gram = grams.get(paths.join('\n')); return gram ? { status: 'ready', gram } : undefined; } };
  const describeEnv = { stats, statsGroups: statsGroups(analysis) };
  const completionEnv = { ...describeEnv, readDirectory: () => [] };

  const lastVector = [...text.matchAll(/^(t\d+) = /gm)].at(-1)!;
  const positions: readonly { name: string; offset: number; kind: 'completion' | 'hover' }[] = [
    { name: 'completion: new statement at the end', offset: text.length, kind: 'completion' },
    { name: 'completion: argument of ties(...) mid-file', offset: text.indexOf('ties(t100, ') + 'ties('.length, kind: 'completion' },
    { name: 'completion: keyword after dare(t50, ', offset: text.indexOf('p=0.5, seed=50'), kind: 'completion' },
    { name: 'hover: vector t0 (norm, tensors, similarities)', offset: text.indexOf('t0 = ') + 1, kind: 'hover' },
    { name: `hover: vector ${lastVector[1]} at the end`, offset: lastVector.index + 1, kind: 'hover' },
    { name: 'hover: model m3', offset: text.indexOf('m3 = ') + 1, kind: 'hover' },
    { name: 'hover: built-in ties', offset: text.indexOf('ties(') + 1, kind: 'hover' },
  ];
  console.log(`\nin process (Node ${process.version}, ${runs} runs each):`);
  console.log(summary('parse + check (analyze, headers known)', check, 20));
  console.log(summary('parse + check after an edit on line 1', edited, 20));
  for (const p of positions) {
    const run = p.kind === 'completion' ? () => complete(analysis, p.offset, completionEnv) : () => hover(analysis, p.offset, describeEnv);
    for (let i = 0; i < 3; i++) run();
    console.log(summary(p.name, Array.from({ length: runs }, () => time(run)), 10));
  }

  // End to end: the built server, norms computed by its worker, requests over stdio.
  client = LspTestClient.start({ cwd: dir });
  await client.initialize({ rootUri: pathToFileURL(dir).href });
  const uri = pathToFileURL(file).href;
  await client.openAndDiagnose(uri, text);
  const t0 = positionAt(text, positions[3]!.offset);
  await client.poll('norms in the server', () => client!.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: t0 }),
    (h) => /\*\*L2 norm/.test((h?.contents as { value: string } | undefined)?.value ?? ''), 60_000, 50);
  console.log(`\nover the protocol (built server, ${requests} requests each, document unchanged):`);
  for (const p of positions) {
    const position = positionAt(text, p.offset);
    const send = () => (p.kind === 'completion'
      ? client!.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position })
      : client!.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position }));
    for (let i = 0; i < 3; i++) await send();
    const samples: Sample[] = [];
    const cpuBefore = processCpuMs(client.child.pid!);
    for (let i = 0; i < requests; i++) {
      const started = performance.now();
      await send();
      samples.push({ wall: performance.now() - started });
    }
    console.log(`${summary(p.name, samples, 10)}   server cpu ${((processCpuMs(client.child.pid!) - cpuBefore) / requests).toFixed(1)} ms/request`);
  }
  // Typing: each request follows an edit, so it waits for the re-analysis of the new version.
  const afterEdit: Sample[] = [];
  let version = 1;
  const cpuBeforeEdits = processCpuMs(client.child.pid!);
  for (let i = 0; i < requests; i++) {
    const end = positionAt(text, text.length);
    const typed = { line: end.line, character: 1 };
    // Types `x` on the last line, then deletes it again.
    await client.change(uri, ++version, [i % 2 === 0 ? { range: { start: end, end }, text: 'x' } : { range: { start: end, end: typed }, text: '' }]);
    const started = performance.now();
    await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: i % 2 === 0 ? typed : end });
    afterEdit.push({ wall: performance.now() - started });
  }
  console.log(`${summary('completion right after an edit (re-analysis included)', afterEdit)}   server cpu ${((processCpuMs(client.child.pid!) - cpuBeforeEdits) / requests).toFixed(1)} ms/request`);
  const code = await client.shutdown();
  if (code !== 0) throw new Error(`server exited with ${code}`);
  client = undefined;
} finally {
  client?.kill();
  cleanup();
}
