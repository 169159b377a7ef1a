// The plan: passes in dependency order, shared nodes and inputs once, anchors and
// dtypes, integer tensors; exact radix selection; the counter-based RNG.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { fixtureDir, makeModel, perturbModel, rawSafetensors, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { EngineError, planSave } from '../../../server/src/engine/index.ts';
import { keepCount } from '../../../server/src/methods/method.ts';
import { floatFromBits, selectHigh, selectInMemory, selectLow, slerpCoefficients } from '../../../server/src/engine/plan/resolve.ts';
import type { ComputedTensor, SavePlan } from '../../../server/src/engine/plan/types.ts';
import { dareKeeps, dareKeepThreshold, randomBits, rngKey, standardNormal } from '../../../server/src/engine/rng.ts';
import { variable } from '../../../server/src/language/poly.ts';
import type { LoadNode, WeightNode } from '../../../server/src/language/program.ts';
import { ProgramBuilder } from './helpers.ts';

const SPECS = [
  { name: 'w', shape: [4, 6] },
  { name: 'steps', shape: [2], dtype: 'I64' as const },
];

describe('plans', () => {
  const fixture = fixtureDir();
  let pb: ProgramBuilder;
  let base: LoadNode, a: LoadNode, b: LoadNode, c: LoadNode, half: LoadNode;
  before(async () => {
    const model = makeModel(SPECS, { seed: 1 });
    writeSafetensors(join(fixture.dir, 'base.safetensors'), model);
    for (const [i, name] of ['a', 'b', 'c'].entries()) writeSafetensors(join(fixture.dir, `${name}.safetensors`), perturbModel(model, { seed: i + 2, scale: 0.1 }));
    writeSafetensors(join(fixture.dir, 'half.safetensors'), makeModel([{ name: 'w', shape: [4, 6], dtype: 'F16' }, SPECS[1]!], { seed: 9 }));
    pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    [base, a, b, c, half] = await Promise.all(['base', 'a', 'b', 'c', 'half'].map((n) => pb.load(join(fixture.dir, `${n}.safetensors`))));
  });
  after(() => fixture.cleanup());

  const plan = (node: WeightNode, options: { dtype?: 'BF16'; point?: Map<number, number>; chunkElements?: number } = {}): SavePlan =>
    planSave(pb.program(), { node, path: join(fixture.dir, 'out.safetensors'), overwrite: false, range: node.range, ...(options.dtype ? { dtype: options.dtype } : {}) }, options.point ?? new Map(), options.chunkElements);
  const computed = (p: SavePlan): ComputedTensor => p.tensors.find((t): t is ComputedTensor => t.kind === 'computed')!;

  test('passes follow the nesting of statistics; top-k takes one pass in memory, two when streamed', () => {
    const vectors = () => [a, b, c].map((m) => pb.diff(m, base));
    // [name, node, passes when the tensor fits in a chunk, passes when it is streamed in chunks]
    const table: [string, () => WeightNode, number, number][] = [
      ['task arithmetic', () => pb.combine([[1, base], [0.5, pb.diff(a, base)]], 'model'), 1, 1],
      ['DARE (no statistics)', () => pb.dare(pb.diff(a, base), 0.5, 1), 1, 1],
      ['SLERP (one pass of sums)', () => pb.slerp(a, b, 0.4), 2, 2],
      ['random_like (one pass of sums)', () => pb.randomLike(pb.diff(a, base), 1), 2, 2],
      ['TIES', () => pb.ties(vectors(), 0.3), 2, 3],
      ['two TIES merges side by side share their passes', () => pb.combine([[1, pb.ties(vectors(), 0.3)], [1, pb.ties(vectors(), 0.6)]], 'vector'), 2, 3],
      ['pruning of TIES', () => pb.prune(pb.ties(vectors(), 0.3), 0.5), 3, 5],
      ['SLERP of TIES and a vector', () => pb.slerp(pb.ties(vectors(), 0.3), pb.diff(a, base), 0.5), 3, 4],
      ['random_like of a pruned vector', () => pb.randomLike(pb.prune(pb.diff(a, base), 0.5), 3), 3, 4],
    ];
    for (const [name, build, resident, streamed] of table) {
      const node = build();
      assert.equal(computed(plan(node)).passes.length, resident, `${name}, in one chunk`);
      assert.equal(computed(plan(node, { chunkElements: 8 })).passes.length, streamed, `${name}, in chunks of 8`);
    }
  });

  test('a node shared in the DAG is one SSA node, an input read by several loads one slot', async () => {
    const v = pb.diff(a, base);
    const again = await pb.load(join(fixture.dir, 'a.safetensors'));
    const node = pb.combine([[1, base], [0.3, pb.ties([v, pb.diff(b, base)], 0.5)], [0.2, pb.prune(v, 0.5)], [0.1, pb.diff(again, base)]], 'model');
    const tensor = computed(plan(node));
    assert.equal(tensor.inputs.length, 3, 'base, a (loaded twice) and b');
    assert.deepEqual(tensor.inputs.map((s) => (s.kind === 'tensor' ? s.entry.file.split('/').pop() : s.kind)), ['base.safetensors', 'a.safetensors', 'b.safetensors']);
    // v = a - base appears once: trims of v (TIES and prune) both read the same node.
    const trims = tensor.nodes.filter((op) => op.op === 'trim');
    assert.equal(trims.length, 3);
    assert.equal(new Set(trims.map((t) => (t.op === 'trim' ? t.arg : -1))).size, 2, 'two distinct vectors trimmed');
  });

  test('the output dtype follows the anchor: the model term with the largest weight', () => {
    const table: [string, WeightNode, string][] = [
      ['F16 weighted most', pb.combine([[0.7, half], [0.3, a]], 'model'), 'F16'],
      ['F32 weighted most', pb.combine([[0.3, half], [0.7, a]], 'model'), 'F32'],
      ['equal weights: the first term', pb.combine([[0.5, half], [0.5, a]], 'model'), 'F16'],
      ['a vector: its positive model', pb.diff(half, a), 'F16'],
    ];
    for (const [name, node, dtype] of table) assert.equal(computed(plan(node)).dtype, dtype, name);
    assert.equal(computed(plan(pb.combine([[0.7, half], [0.3, a]], 'model'), { dtype: 'BF16' })).dtype, 'BF16', 'the save dtype wins');
  });

  test('integer tensors are copied from the anchor into a Model and left out of a Vector', () => {
    const model = plan(pb.combine([[0.2, a], [0.8, b]], 'model'));
    const steps = model.tensors.find((t) => t.name === 'steps')!;
    assert.equal(steps.kind, 'copied');
    assert.equal(steps.kind === 'copied' && steps.input.load.path, b.path);
    assert.deepEqual(model.droppedIntegers, []);
    const vector = plan(pb.diff(a, base));
    assert.deepEqual(vector.tensors.map((t) => t.name), ['w']);
    assert.deepEqual(vector.droppedIntegers, ['steps']);
  });

  test('sweep coefficients are evaluated at the point; a missing value is a plan error naming the sweep', () => {
    const lam = pb.sweep('lam', [0, 0.5, 1]);
    const node = pb.combine([[1, base], [variable(lam.id), pb.diff(a, base)]], 'model');
    const tensor = computed(plan(node, { point: new Map([[lam.id, 0.25]]) }));
    const lin = tensor.nodes[tensor.output]!;
    assert.deepEqual(lin.op === 'lin' && lin.terms.map((t) => tensor.params[t.coef]).sort(), [0.25, 0.75]);
    assert.throws(() => plan(node), (e: unknown) => e instanceof EngineError && e.code === 'plan' && /sweep `lam`/.test(e.message));
  });

  test('8-bit float tensors are refused, not silently copied', async () => {
    const path = join(fixture.dir, 'f8.safetensors');
    writeFileSync(path, rawSafetensors(JSON.stringify({ q: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }).padEnd(64, ' '), 4));
    const f8 = await pb.load(path);
    assert.throws(() => plan(pb.combine([[0.5, f8], [0.5, f8]], 'model')), (e: unknown) => e instanceof EngineError && e.code === 'plan' && e.tensor === 'q' && /8-bit float/.test(e.message));
  });

  test('bad densities and probabilities are plan errors at the node', () => {
    for (const node of [pb.prune(pb.diff(a, base), 1.5), pb.ties([pb.diff(a, base)], -0.1), pb.dare(pb.diff(a, base), 2, 1)]) {
      assert.throws(() => plan(node), (e: unknown) => e instanceof EngineError && e.code === 'plan' && e.tensor === 'w');
    }
  });
});

describe('top-k threshold by radix selection', () => {
  const histograms = (values: Float32Array): { hi: Float64Array; lo: (bucket: number) => Float64Array } => {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const hi = new Float64Array(65536);
    for (const b of bits) hi[(b & 0x7fffffff) >>> 16]!++;
    return {
      hi,
      lo: (bucket) => {
        const lo = new Float64Array(65536);
        for (const b of bits) if ((b & 0x7fffffff) >>> 16 === bucket) lo[b & 0xffff]!++;
        return lo;
      },
    };
  };

  test('equals the k-th largest |x| found by sorting, for any values and k', () => {
    fc.assert(fc.property(
      fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 300 }),
      fc.nat(),
      (raw, kSeed) => {
        const values = Float32Array.from(raw);
        const k = 1 + (kSeed % values.length);
        const { hi, lo } = histograms(values);
        const { bucket, rank } = selectHigh(hi, k);
        const threshold = selectLow(lo(bucket), bucket, rank);
        const sorted = Array.from(values, Math.abs).sort((x, y) => y - x);
        return Object.is(threshold, sorted[k - 1]) || threshold === sorted[k - 1];
      },
    ), { numRuns: 300 });
  });

  test('in memory (radix levels, then sorting) equals sorting for any values and k, large and small', () => {
    const kthLargest = (values: Float32Array, k: number) => Array.from(values, Math.abs).sort((x, y) => y - x)[k - 1];
    fc.assert(fc.property(
      fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 200 }),
      fc.nat(),
      (raw, kSeed) => {
        const values = Float32Array.from(raw);
        const k = 1 + (kSeed % values.length);
        return selectInMemory(values, k) === kthLargest(values, k);
      },
    ), { numRuns: 300 });
    // Many candidates in one top-11-bit bucket exercise the deeper 10-bit levels.
    const crowded = Float32Array.from({ length: 50_000 }, (_, i) => (1 + (i % 9973) / 9973) * (i % 2 ? -1 : 1));
    for (const k of [1, 17, 25_000, 49_999, 50_000]) assert.equal(selectInMemory(crowded, k), kthLargest(crowded, k), `k=${k}`);
  });

  test('ignores NaN and keeps everything when fewer than k numbers exist', () => {
    const values = Float32Array.from([Number.NaN, 3, -1, Number.NaN]);
    const { hi, lo } = histograms(values);
    const top = selectHigh(hi, 1);
    assert.equal(selectLow(lo(top.bucket), top.bucket, top.rank), 3);
    const all = selectHigh(hi, 4);
    assert.equal(selectLow(lo(all.bucket), all.bucket, all.rank), 0);
    assert.equal(selectInMemory(values, 1), 3);
    assert.equal(selectInMemory(values, 4), 0);
  });

  test('k = floor(density * n), robust to decimal densities', () => {
    const table: [number, number, number][] = [[0.29, 100, 29], [0.3, 10, 3], [0.5, 3, 1], [1, 7, 7], [0, 7, 0], [0.999, 10, 9], [0.7, 10, 7]];
    for (const [density, n, k] of table) assert.equal(keepCount(density, n), k, `${density} of ${n}`);
  });

  test('float32 bit patterns round-trip', () => {
    assert.equal(floatFromBits(0x3f800000), 1);
    assert.equal(floatFromBits(0x7f800000), Infinity);
  });
});

describe('SLERP coefficients', () => {
  test('match the closed form, and fall back to linear interpolation when colinear or zero', () => {
    const table: [string, [number, number, number, number], [number, number]][] = [
      ['orthogonal unit tensors at t=0.5', [1, 1, 0, 0.5], [Math.SQRT1_2, Math.SQRT1_2]],
      ['t=0 is the first tensor', [1, 4, 1, 0], [1, 0]],
      ['colinear: linear', [1, 4, 2, 0.25], [0.75, 0.25]],
      ['a zero tensor: linear', [0, 4, 0, 0.25], [0.75, 0.25]],
    ];
    for (const [name, [aa, bb, ab, t], [s0, s1]] of table) {
      const [g0, g1] = slerpCoefficients(aa, bb, ab, t);
      assert.ok(Math.abs(g0 - s0) < 1e-12 && Math.abs(g1 - s1) < 1e-12, `${name}: ${g0}, ${g1}`);
    }
  });
});

describe('counter-based random numbers', () => {
  test('DARE drops a fraction p of elements', () => {
    const key = rngKey(1234, 'layer.weight', 'dare');
    for (const p of [0.1, 0.5, 0.9]) {
      const n = 100_000;
      const threshold = dareKeepThreshold(p);
      let kept = 0;
      for (let i = 0; i < n; i++) if (dareKeeps(key, i, threshold)) kept++;
      assert.ok(Math.abs(kept / n - (1 - p)) < 0.01, `p=${p}: kept ${kept / n}`);
    }
  });

  test('draws depend on seed, tensor name, stream and every bit of the index', () => {
    const draws = (key: ReturnType<typeof rngKey>, offset = 0) => Array.from({ length: 64 }, (_, i) => randomBits(key, offset + i));
    const reference = draws(rngKey(1, 'w', 'dare'));
    const others = [
      draws(rngKey(2, 'w', 'dare')),
      draws(rngKey(1, 'v', 'dare')),
      draws(rngKey(1, 'w', 'normal-radius')),
      draws(rngKey(2 ** 32 + 1, 'w', 'dare')),
      draws(rngKey(1, 'w', 'dare'), 2 ** 32),
    ];
    for (const other of others) assert.ok(other.filter((x, i) => x === reference[i]).length <= 1);
    assert.deepEqual(draws(rngKey(1, 'w', 'dare')), reference, 'and on nothing else');
  });

  test('normal draws have mean 0 and variance 1', () => {
    const radius = rngKey(5, 't', 'normal-radius');
    const angle = rngKey(5, 't', 'normal-angle');
    const n = 100_000;
    let sum = 0, squares = 0;
    for (let i = 0; i < n; i++) {
      const z = standardNormal(radius, angle, i);
      sum += z;
      squares += z * z;
    }
    assert.ok(Math.abs(sum / n) < 0.02, `mean ${sum / n}`);
    assert.ok(Math.abs(squares / n - 1) < 0.02, `variance ${squares / n}`);
  });
});
