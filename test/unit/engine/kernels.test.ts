// The generated loops compute their selections with integer arithmetic on float32 bit
// patterns (no branches); these properties check them against the plain definitions,
// on values that include zeros of both signs, subnormals and infinities.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runChunkHere } from '../../../server/src/engine/kernels/run.ts';
import type { Kernel, Op } from '../../../server/src/engine/plan/types.ts';
import { dareKeeps, dareKeepThreshold, rngKey } from '../../../server/src/engine/rng.ts';

const specials = [0, -0, 1e-45, -1e-45, 1.5e-40, 1, -1, 3.4e38];
const float32 = fc.oneof(fc.float({ noNaN: true }), fc.constantFrom(...specials, Infinity, -Infinity)).map(Math.fround);
// TIES over infinite elements is NaN on every backend (inf * 0 in the disjoint mean): finite only.
const finite32 = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...specials)).map(Math.fround);
const column = (n: number, values = float32) => fc.array(values, { minLength: n, maxLength: n });

function run(nodes: Op[], inputs: number[][], params: number[]): Float32Array {
  const kernel: Kernel = { nodes, output: nodes.length - 1, reductions: [] };
  const length = inputs[0]!.length;
  const output = new Float32Array(length);
  runChunkHere({ kernel, params: Float64Array.from(params), inputs: inputs.map((c) => Float32Array.from(c)), start: 0, length, output, kept: [] });
  return output;
}

/** Equal as numbers (+0 and -0 alike), NaN equal to NaN. */
const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));

test('trim keeps exactly the elements with |x| >= threshold', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60 }).chain((n) => fc.tuple(column(n), fc.nat())), ([x, pick]) => {
    const threshold = Math.abs(x[pick % x.length]!);
    const got = run([{ op: 'input', slot: 0 }, { op: 'trim', arg: 0, threshold: 0 }], [x], [threshold]);
    return x.every((v, i) => same(got[i]!, Math.abs(v) >= threshold ? v : 0));
  }), { numRuns: 500 });
});

test('TIES agreement: mean of the non-zero arguments with the sign of their sum', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(column(n, finite32), column(n, finite32), column(n, finite32))), (columns) => {
    const nodes: Op[] = [{ op: 'input', slot: 0 }, { op: 'input', slot: 1 }, { op: 'input', slot: 2 }, { op: 'ties', args: [0, 1, 2] }];
    const got = run(nodes, columns, []);
    return got.every((g, i) => {
      const values = columns.map((c) => c[i]!);
      const sum = values.reduce((a, b) => a + b, 0);
      const agreeing = values.filter((v) => v !== 0 && Math.sign(v) === Math.sign(sum));
      const want = agreeing.length === 0 ? 0 : Math.fround(agreeing.reduce((a, b) => a + b, 0) / agreeing.length);
      return same(g, want);
    });
  }), { numRuns: 300 });
});

test('vote keeps arg where at least min pairs have |a| > fround(scale |b|) (a pair without b: |a| > 0)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(column(n), column(n), column(n), fc.constantFrom(0, 0.5, 1, 2), fc.integer({ min: 0, max: 3 }))), ([a, b, c, scale, min]) => {
    const nodes: Op[] = [{ op: 'input', slot: 0 }, { op: 'input', slot: 1 }, { op: 'input', slot: 2 }, { op: 'vote', arg: 2, pairs: [{ a: 0, b: 1 }, { a: 1, b: 0 }, { a: 2 }], scale: 0, min: 1 }];
    const got = run(nodes, [a, b, c], [scale, min]);
    return got.every((g, i) => {
      const votes = [Math.abs(a[i]!) > Math.fround(scale * Math.abs(b[i]!)), Math.abs(b[i]!) > Math.fround(scale * Math.abs(a[i]!)), c[i] !== 0].filter(Boolean).length;
      return same(g, votes >= min ? c[i]! : 0);
    });
  }), { numRuns: 300 });
});

test('variance: the population variance of the args and of the zeros counted beside them', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(column(n, finite32), column(n, finite32), fc.integer({ min: 2, max: 4 }))), ([a, b, count]) => {
    const got = run([{ op: 'input', slot: 0 }, { op: 'input', slot: 1 }, { op: 'variance', args: [0, 1], count: 0 }], [a, b], [count]);
    return got.every((g, i) => {
      const values = [a[i]!, b[i]!, ...new Array<number>(count - 2).fill(0)];
      const mean = values.reduce((x, y) => x + y, 0) / count;
      return same(g, Math.fround(values.reduce((x, y) => x + (y - mean) ** 2, 0) / count));
    });
  }), { numRuns: 300 });
});

test('elect: the weighted mean of the args with the sign of their sum (+ for a zero sum), the divisor at least floor', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.tuple(column(n, finite32), column(n, finite32), fc.constantFrom(0, 0.25, 1), fc.constantFrom(1e-6, 0.5))), ([a, b, wb, floor]) => {
    const got = run([{ op: 'input', slot: 0 }, { op: 'input', slot: 1 }, { op: 'elect', args: [0, 1], weights: [0, 1], floor: 2 }], [a, b], [0.75, wb, floor]);
    return got.every((g, i) => {
      const sign = a[i]! + b[i]! >= 0 ? 1 : -1;
      const terms = [[a[i]!, 0.75], [b[i]!, wb]].filter(([x]) => Math.sign(x!) === sign);
      const sum = terms.reduce((s, [x, w]) => s + x! * w!, 0);
      return same(g, Math.fround(sum / Math.max(terms.reduce((s, [, w]) => s + w!, 0), floor)));
    });
  }), { numRuns: 300 });
});

test('DARE keeps the elements the counter-based draw keeps, rescaled by 1/(1-p)', () => {
  const key = rngKey(99, 'w', 'dare');
  for (const p of [0.1, 0.5, 0.9]) {
    const x = Array.from({ length: 5000 }, (_, i) => Math.fround(Math.sin(i) + 0.01));
    const nodes: Op[] = [{ op: 'input', slot: 0 }, { op: 'dare', arg: 0, keep: 0, scale: 1, key: 2 }];
    const got = run(nodes, [x], [dareKeepThreshold(p), 1 / (1 - p), key.k0, key.k1]);
    const keep = dareKeepThreshold(p);
    x.forEach((v, i) => assert.ok(same(got[i]!, dareKeeps(key, i, keep) ? Math.fround(v / (1 - p)) : 0), `p=${p}, element ${i}`));
  }
});
