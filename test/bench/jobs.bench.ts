// Benchmark (prints figures; not a test): evaluation wall time of `tvr run --jobs N` for
// N = 1, 2, 4 (--jobs-list), each against N = 1 in the same run, on
//   1. the example recipes (built-in evaluators; `npm run examples:train` first), and
//   2. a sweep whose task is an external evaluator command of fixed CPU cost (--work-ms,
//      busy work in a separate process, as a PyTorch evaluator would be),
// and, with --slurm (a cluster up: scripts/setup-slurm.sh), the same external sweep with
// every evaluation a Slurm job. Every run is cold (--no-cache); results are checked equal
// to the serial run's. The speed-up an evaluation can get is bounded by the cores: built-in
// evaluations take turns on one tfjs backend (only computing the next model overlaps), so
// on the CPU more jobs than cores cost memory and buy nothing.
//
//   node test/bench/jobs.bench.ts [--jobs-list 1,2,4] [--recipes negation,addition] [--work-ms 400] [--points 9] [--slurm]
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runRecipe } from '../../server/src/run/run-recipe.ts';
import type { RecipeRunOptions } from '../../server/src/run/run-recipe.ts';
import type { Metrics, RunResults } from '../../server/src/results/schema.ts';
import { makeScenario, writeRecipe, writeSafetensorsModels } from '../unit/run/scenario.ts';

const { values: options } = parseArgs({
  options: {
    'jobs-list': { type: 'string', default: '1,2,4' },
    recipes: { type: 'string', default: 'negation,addition' },
    'work-ms': { type: 'string', default: '400' },
    points: { type: 'string', default: '9' },
    slurm: { type: 'boolean', default: false },
  },
});
const jobsList = options['jobs-list'].split(',').map(Number);
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** What a serial and a parallel run must agree on: the points, chosen points and metrics (not their timings). */
function outcome(results: RunResults): string {
  const values = (metrics: Readonly<Record<string, Metrics>>) => Object.entries(metrics).map(([task, m]) => [task, m.accuracy, m.loss, m.perplexity, m.examples]);
  return JSON.stringify(results.evaluations.map((e) => ({ points: e.points.map((p) => [p.point, values(p.metrics)]), chosen: e.chosen.map((c) => [c.point, values(c.test)]) })));
}

async function timeRuns(label: string, recipe: string, extra: Partial<RecipeRunOptions> = {}, jobs = jobsList): Promise<void> {
  const times: number[] = [];
  let serial: string | undefined;
  for (const n of jobs) {
    const out = mkdtempSync(join(tmpdir(), 'tvr-jobs-bench-'));
    try {
      const started = performance.now();
      const { results } = await runRecipe({ recipe, outDir: out, cache: false, force: true, jobs: n, ...extra });
      times.push((performance.now() - started) / 1000);
      if (results.status !== 'done') throw new Error(`${label}: ${results.status}`);
      serial ??= outcome(results);
      if (outcome(results) !== serial) throw new Error(`${label}: --jobs ${n} gave other results than --jobs ${jobs[0]}`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  console.log(`| ${label} | ${times.map((t, i) => `${t.toFixed(1)} s${i === 0 ? '' : ` (${(times[0]! / t).toFixed(2)}x)`}`).join(' | ')} |`);
}

console.log(`${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)}; wall time of a whole cold run (evaluations dominate), speed-up against --jobs ${jobsList[0]}\n`);
console.log(`| recipe | ${jobsList.map((n) => `--jobs ${n}`).join(' | ')} |`);
console.log(`|---|${jobsList.map(() => '---:').join('|')}|`);

for (const name of options.recipes.split(',').filter(Boolean)) {
  const recipe = join(root, 'examples', `${name}.tvr`);
  if (!existsSync(join(root, 'examples/models/base/model.json'))) throw new Error('the example checkpoints are missing: run `npm run examples:train` first');
  await timeRuns(`examples/${name}.tvr (built-in)`, recipe);
}

const dir = mkdtempSync(join(tmpdir(), 'tvr-jobs-bench-'));
try {
  writeSafetensorsModels(makeScenario(dir));
  // Busy work for --work-ms, then metrics from the file's size: a fixed-cost evaluator.
  writeFileSync(join(dir, 'evaluator.mjs'), `import { statSync } from 'node:fs';
const until = Date.now() + ${Number(options['work-ms'])};
let x = 0;
while (Date.now() < until) x += Math.sqrt(x + 1);
console.log(JSON.stringify({ accuracy: (statSync(process.argv[2]).size % 997) / 997, examples: 1 }));
`);
  const step = 1 / (Number(options.points) - 1);
  const recipe = writeRecipe(dir, 'external.tvr', `base = load("st/base.safetensors", exclude="dense2/*")
a = load("st/a.safetensors")
lam = sweep(0, 1, ${step})
edited = base + lam*(exclude(a, "dense2/*") - base)
scored = task("data/a.safetensors", head=a, command="'${process.execPath}' evaluator.mjs {model}")
evaluate(edited, targets=[scored], objective="max")
`);
  await timeRuns(`external command, ${options['work-ms']} ms CPU each, ${options.points} points`, recipe);
  if (options.slurm) {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    await timeRuns(`the same as Slurm jobs (single-node cluster)`, recipe, { executor: { kind: 'slurm', sharedDir: shared, slurmArgs: [], tvr: [process.execPath, join(root, 'dist/tvr.mjs')] } });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nload average now ${loadavg()[0]!.toFixed(2)}`);
