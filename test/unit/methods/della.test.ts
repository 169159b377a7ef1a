// della_prune, della and della_linear from recipe text to the saved file: exactly against a
// float64 reference written here from mergekit's della_magprune (argsort of argsort ranks per
// row, keep probability density - epsilon + 2 epsilon rank_norm, L1 rescale) on the engine's
// counter-based draws, then mergekit's sign consensus and mean (della) or sum (della_linear);
// the distribution of the masks on a larger tensor; the same numbers on every backend and
// chunking; the checker's and the planner's refusals.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BackendName } from '../../../server/src/engine/index.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import { randomBits, rngKey } from '../../../server/src/engine/rng.ts';
import { ascendingRanks } from '../../../server/src/methods/della-prune.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, runToTensors } from './method-fixtures.ts';

interface Spec { readonly name: string; readonly shape: readonly number[] }

/** mergekit's della_magprune in float64, a 1-D tensor as one row, with the engine's draws for (seed, tensor). */
function magpruneReference(x: Float64Array, spec: Spec, density: number, epsilon: number, seed: number, rescale = true): Float64Array {
  const cols = spec.shape.length === 2 ? spec.shape[1]! : x.length;
  const key = rngKey(seed, spec.name, 'della');
  const masked = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += cols) {
    const row = [...x.subarray(start, start + cols)];
    // ranks = argsort(argsort(|row|)) + 1; rank_norm = (ranks - min) / (max - min), 0 for one element.
    const order = [...row.keys()].sort((i, j) => Math.abs(row[i]!) - Math.abs(row[j]!));
    const ranks = new Array<number>(cols);
    order.forEach((i, k) => { ranks[i] = k + 1; });
    const min = Math.min(...ranks);
    const max = Math.max(...ranks);
    for (let c = 0; c < cols; c++) {
      const rankNorm = max > min ? (ranks[c]! - min) / (max - min) : 0;
      const p = density - epsilon + rankNorm * 2 * epsilon;
      // Bernoulli(p): the 24-bit draw below p 2^24, rounded up.
      if (randomBits(key, start + c) >>> 8 < Math.ceil(p * 2 ** 24)) masked[start + c] = row[c]!;
    }
  }
  if (!rescale) return masked;
  const before = x.reduce((s, v) => s + Math.abs(v), 0);
  const after = masked.reduce((s, v) => s + Math.abs(v), 0);
  return before < 1e-7 || after < 1e-7 ? masked : masked.map((v) => v * (before / after));
}

/** mergekit's sign consensus with every weight 1 and normalize on, over float32 values. */
function electedMean(vectors: readonly Float64Array[]): Float64Array {
  return vectors[0]!.map((_, i) => {
    const sign = vectors.reduce((s, v) => s + v[i]!, 0) >= 0 ? 1 : -1;
    const agreeing = vectors.filter((v) => Math.sign(v[i]!) === sign);
    return agreeing.reduce((s, v) => s + v[i]!, 0) / Math.max(agreeing.length, 1);
  });
}

const f32 = (x: Float64Array): Float64Array => x.map(Math.fround);

function assertExact(got: Float64Array | undefined, want: Float64Array, what: string): void {
  assert.ok(got, `${what}: no tensor`);
  const index = want.findIndex((w, i) => !Object.is(got[i], w));
  assert.equal(index, -1, `${what}[${index}]: got ${got[index]}, want ${want[index]}`);
}

describe('della', () => {
  const fixture = fixtureDir();
  const specs: Spec[] = [
    { name: 'encoder/weight', shape: [23, 19] },
    { name: 'encoder/bias', shape: [19] },
    { name: 'head/weight', shape: [300] },
    // Rows of one element: each kept with probability density - epsilon.
    { name: 'column/weight', shape: [7, 1] },
  ];
  const base = makeModel(specs, { seed: 1 });
  const fts = [2, 3, 4].map((seed, i) => perturbModel(base, { seed, scale: [0.1, 0.05, 0.2][i]! }));
  /** Task vectors as the engine reads them whole: ft - base in float64. */
  const taskVector = (k: number, t: number) => fts[k]!.tensors[t]!.values.map((v, i) => v - base.tensors[t]!.values[i]!);
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    fts.forEach((ft, i) => writeSafetensors(join(fixture.dir, `ft${i + 1}.safetensors`), ft));
  });
  after(() => fixture.cleanup());
  const header = 'base = load("base.safetensors")\n' + [1, 2, 3].map((i) => `t${i} = load("ft${i}.safetensors") - base\n`).join('');
  const run = (expression: string, chunkElements?: number, backend?: BackendName) => runToTensors(fixture.dir, `${header}save(${expression}, "out.safetensors")\n`, chunkElements, backend);

  for (const chunkElements of [undefined, 64]) {
    const how = chunkElements ? 'streamed in chunks of 64' : 'held in memory';
    test(`della_prune: exactly mergekit's della_magprune on the same draws, rows of a matrix and 1-D tensors (${how})`, async () => {
      for (const [call, density, epsilon, seed, rescale] of [['della_prune(t1, density=0.4, epsilon=0.1, seed=3)', 0.4, 0.1, 3, true], ['della_prune(t3)', 0.5, 0.15, 0, true], ['della_prune(t2, density=0.7, epsilon=0.25, rescale=false)', 0.7, 0.25, 0, false]] as const) {
        const got = await run(call, chunkElements);
        specs.forEach((spec, t) => assertExact(got.get(spec.name), f32(magpruneReference(taskVector(call.includes('t1') ? 0 : call.includes('t2') ? 1 : 2, t), spec, density, epsilon, seed, rescale)), `${call} ${spec.name}`));
      }
    });

    test(`della: vector i pruned with seed + i, then mergekit's sign consensus and mean; della_linear their sum (${how})`, async () => {
      const pruned = (t: number, seed: number) => [0, 1, 2].map((k) => f32(magpruneReference(taskVector(k, t), specs[t]!, 0.3, 0.2, seed + k)));
      const merged = await run('della(t1, t2, t3, density=0.3, epsilon=0.2, seed=5)', chunkElements);
      specs.forEach((spec, t) => assertExact(merged.get(spec.name), f32(electedMean(pruned(t, 5))), `della ${spec.name}`));
      const summed = await run('della_linear(t1, t2, t3, density=0.3, epsilon=0.2, seed=7)', chunkElements);
      specs.forEach((spec, t) => {
        const [a, b, c] = pruned(t, 7);
        assertExact(summed.get(spec.name), f32(a!.map((v, i) => v + b![i]! + c![i]!)), `della_linear ${spec.name}`);
      });
    });
  }

  test('the same masks on js, js-workers and tfjs-cpu, held or streamed (the same numbers but tfjs\'s float32 mean); another seed another mask', async () => {
    const call = 'della(t1, t2, t3, density=0.4, seed=11)';
    const reference = await run(call);
    for (const [chunkElements, backend] of [[16, 'js'], [undefined, 'js-workers'], [64, 'js-workers'], [undefined, 'tfjs-cpu'], [64, 'tfjs-cpu']] as const) {
      const got = await run(call, chunkElements, backend);
      for (const spec of specs) {
        const what = `${backend} chunks of ${chunkElements ?? 'all'}: ${spec.name}`;
        const want = reference.get(spec.name)!;
        if (backend !== 'tfjs-cpu') {
          assertExact(got.get(spec.name), want, what);
          continue;
        }
        assert.deepEqual(got.get(spec.name)!.map((v) => Number(v !== 0)), want.map((v) => Number(v !== 0)), `${what}: mask`);
        const { error, index } = worstError(got.get(spec.name)!, want, 1e-3);
        assert.ok(error <= 1e-6, `${what}[${index}]: got ${got.get(spec.name)![index]}, want ${want[index]}`);
      }
    }
    const other = await run('della(t1, t2, t3, density=0.4, seed=12)');
    assert.ok(other.get('head/weight')!.some((v, i) => (v === 0) !== (reference.get('head/weight')![i] === 0)), 'seed 12 gives the mask of seed 11');
  });

  test('della_linear(t1, t2, seed=s) is della_prune(t1, seed=s) + della_prune(t2, seed=s + 1); pruning commutes with scaling', async () => {
    const linear = await run('della_linear(t1, t2, density=0.6, seed=2)');
    const byHand = await run('della_prune(t1, density=0.6, seed=2) + della_prune(t2, density=0.6, seed=3)');
    for (const spec of specs) assertExact(linear.get(spec.name), byHand.get(spec.name)!, spec.name);
    const scaled = await run('della_prune(0.25*t1, density=0.6, seed=2)');
    for (const [t, spec] of specs.entries()) assertExact(scaled.get(spec.name), f32(magpruneReference(taskVector(0, t).map((v) => 0.25 * v), spec, 0.6, 0.15, 2)), `0.25*t1 ${spec.name}`);
  });

  test('density 1 is the vector itself (of any method), 0 is zero; a merge as a task vector is refused below 1, naming the tensor', async () => {
    const whole = await run('della(ties(t1, t2), t3, density=1)');
    const ties = await run('ties(t1, t2)');
    for (const [t, spec] of specs.entries()) {
      const want = f32(electedMean([ties.get(spec.name)!, f32(taskVector(2, t))]));
      assertExact(whole.get(spec.name), want, spec.name);
    }
    const zero = await run('della_prune(t1, density=0)');
    for (const spec of specs) assert.ok(zero.get(spec.name)!.every((v) => v === 0), spec.name);
    const text = `${header}save(della(ties(t1, t2), t3), "out.safetensors")\n`;
    const analysis = await analyzeRecipe(fixture.dir, text);
    await assert.rejects(runProgram(analysis.checked.program, { backend: 'js', recipeText: text, overwrite: true }), /line 5: della\(\) computes each tensor whole from its task vectors: they must be sums of checkpoints .* \(tensor encoder\/weight\)/);
  });

  test('the checker wants density ± epsilon in (0, 1) where 0 < density < 1, for every per-tensor density', async () => {
    const text = `${header}a = della_prune(t1, density=0.1)\nb = della(t1, t2, density=0.9, epsilon=0.1)\nc = della_linear(t1, t2, density=by_tensor("bias", 0.1, default=0.5), epsilon=0.1)\nd = della(t1, t2, density=1, epsilon=0.3)\ne = della_prune(t1, density=0, epsilon=0.4)\n`;
    const errors = (await analyzeRecipe(fixture.dir, text)).diagnostics.filter((d) => d.severity === 'error');
    const lineOf = (offset: number) => text.slice(0, offset).split('\n').length - 1;
    assert.deepEqual(errors.map((d) => [d.code, lineOf(d.span.start), d.message]), [
      ['invalid-value', 4, 'della_prune(): density - epsilon must lie strictly between 0 and 1 (the keep probabilities run from density - epsilon to density + epsilon), but density 0.1 - epsilon 0.15 = -0.05 is not above 0'],
      ['invalid-value', 5, 'della(): density + epsilon must lie strictly between 0 and 1 (the keep probabilities run from density - epsilon to density + epsilon), but density 0.9 + epsilon 0.1 = 1 is not below 1'],
      ['invalid-value', 6, 'della_linear(): density - epsilon must lie strictly between 0 and 1 (the keep probabilities run from density - epsilon to density + epsilon), but density 0.1 - epsilon 0.1 = 0 is not above 0'],
    ]);
  });
});

describe('della_prune: the masks\' distribution', () => {
  const fixture = fixtureDir();
  const rows = 48;
  const cols = 400;
  const spec = { name: 'big/weight', shape: [rows, cols] };
  const base = makeModel([spec], { seed: 21 });
  const ft = perturbModel(base, { seed: 22, scale: 0.3 });
  const x = ft.tensors[0]!.values.map((v, i) => v - base.tensors[0]!.values[i]!);
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    writeSafetensors(join(fixture.dir, 'ft.safetensors'), ft);
  });
  after(() => fixture.cleanup());

  test('per row, about density kept (within 4 standard errors), larger magnitudes more often, and the L1 norm kept', async () => {
    const density = 0.3;
    const epsilon = 0.2;
    const bands = 4;
    const kept = Array.from({ length: bands }, () => 0);
    let total = 0;
    for (const seed of [1, 2, 3]) {
      const got = (await runToTensors(fixture.dir, `t = load("ft.safetensors") - load("base.safetensors")\nsave(della_prune(t, density=${density}, epsilon=${epsilon}, seed=${seed}), "out.safetensors")\n`)).get(spec.name)!;
      for (let r = 0; r < rows; r++) {
        const row = x.subarray(r * cols, (r + 1) * cols);
        const ranks = ascendingRanks(row);
        let count = 0;
        for (let c = 0; c < cols; c++) {
          if (got[r * cols + c] === 0) continue;
          count++;
          kept[Math.floor((ranks[c]! * bands) / cols)]!++;
        }
        // The keep probabilities average to density over a row; their variances sum to at most n/4.
        const variance = [...ranks].reduce((s, k) => { const p = density - epsilon + (2 * epsilon * k) / (cols - 1); return s + p * (1 - p); }, 0);
        assert.ok(Math.abs(count - density * cols) <= 4 * Math.sqrt(variance), `seed ${seed} row ${r}: ${count} of ${cols} kept`);
        total += count;
      }
      const l1 = (v: Float64Array) => v.reduce((s, y) => s + Math.abs(y), 0);
      assert.ok(Math.abs(l1(got) - l1(x)) <= 1e-6 * l1(x), `seed ${seed}: L1 ${l1(got)} against ${l1(x)}`);
    }
    const draws = 3 * rows * cols;
    assert.ok(Math.abs(total / draws - density) <= 4 * Math.sqrt(density * (1 - density) / draws), `kept ${total / draws} of the elements`);
    // Each quarter of the ranks is kept with probability density - epsilon + 2 epsilon (its mean rank_norm).
    kept.forEach((k, band) => {
      const n = draws / bands;
      const p = density - epsilon + 2 * epsilon * ((band + 0.5) / bands);
      assert.ok(Math.abs(k / n - p) <= 4 * Math.sqrt((p * (1 - p)) / n) + 1e-3, `ranks in quarter ${band + 1}: kept ${k / n}, want ${p}`);
    });
    assert.ok(kept.every((k, band) => band === 0 || k > kept[band - 1]!), `kept by quarter of rank: ${kept}`);
  });

  test('a tensor of three dimensions is refused when planning, naming it', async () => {
    const cube = { name: 'conv/weight', shape: [2, 3, 4] };
    const dir = fixtureDir();
    try {
      const b = makeModel([cube], { seed: 5 });
      writeSafetensors(join(dir.dir, 'base.safetensors'), b);
      writeSafetensors(join(dir.dir, 'ft.safetensors'), perturbModel(b, { seed: 6, scale: 0.1 }));
      const text = 't = load("ft.safetensors") - load("base.safetensors")\nsave(della_prune(t), "out.safetensors")\n';
      const analysis = await analyzeRecipe(dir.dir, text);
      await assert.rejects(runProgram(analysis.checked.program, { backend: 'js', recipeText: text, overwrite: true }), /della_prune\(\) ranks magnitudes within the rows of a matrix: tensor conv\/weight has shape \[2, 3, 4\]/);
    } finally {
      dir.cleanup();
    }
  });
});

test('ascendingRanks: a permutation, ascending by |x| rounded to float32, ties in index order', () => {
  // 1 + 2^-30 rounds to 1 in float32: it ties with 1 and -1.
  assert.deepEqual([...ascendingRanks([3, -1, 0.5, 1 + 2 ** -30, 1, -7, 0])], [5, 2, 1, 3, 4, 6, 0]);
});
