// The methods that decompose whole matrices (iso_c, iso_cts, tsv), from recipe text to the
// saved file, against float64 references written here from the authors' definitions on an
// SVD computed another way (the eigenvectors of AᵀA by classical Jacobi rotations, not the
// engine's one-sided Jacobi), held in memory and streamed in chunks; and the SVD itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compose, matrix, multiply, svd, transpose, type Matrix } from '../../../server/src/methods/svd.ts';
import { worstError } from '../engine/helpers.ts';
import { analyzeRecipe, finetunedModels, runToTensors } from './method-fixtures.ts';
import { runProgram } from '../../../server/src/engine/index.ts';

/** Eigen-decomposition of a symmetric n x n matrix by cyclic Jacobi rotations: values and vectors (columns). */
function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!, mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!, mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]!), vectors: v };
}

/** Thin SVD from the eigenvectors of AᵀA (or AAᵀ for a wide A): u [rows, r], s, vh [r, cols]. */
function referenceSvd(a: Matrix): { u: Matrix; s: number[]; vh: Matrix } {
  if (a.rows < a.cols) {
    const t = referenceSvd(transpose(a));
    return { u: transpose(t.vh), s: t.s, vh: transpose(t.u) };
  }
  const n = a.cols;
  const { values, vectors } = symmetricEigen(multiply(transpose(a), a).data, n);
  const order = [...values.keys()].sort((i, j) => values[j]! - values[i]!);
  const s = order.map((i) => Math.sqrt(Math.max(0, values[i]!)));
  const v = matrix(n, n, Float64Array.from({ length: n * n }, (_, x) => vectors[Math.floor(x / n) * n + order[x % n]!]!));
  const av = multiply(a, v);
  const u = matrix(a.rows, n, av.data.map((x, i) => x / s[i % n]!));
  return { u, s, vh: transpose(v) };
}

/** The polar factor u vh, from the reference SVD. */
const polar = (a: Matrix): Matrix => {
  const { u, vh } = referenceSvd(a);
  return multiply(u, vh);
};
const sumOf = (ms: readonly Matrix[]): Matrix => matrix(ms[0]!.rows, ms[0]!.cols, ms[0]!.data.map((_, i) => ms.reduce((s, m) => s + m.data[i]!, 0)));
const columns = (m: Matrix, from: number, count: number): Matrix => matrix(m.rows, count, Float64Array.from({ length: m.rows * count }, (_, x) => m.data[Math.floor(x / count) * m.cols + from + (x % count)]!));
const rowsOf = (m: Matrix, from: number, count: number): Matrix => matrix(count, m.cols, m.data.slice(from * m.cols, (from + count) * m.cols));
const side = (blocks: readonly Matrix[]): Matrix => transpose(below(blocks.map(transpose)));
const below = (blocks: readonly Matrix[]): Matrix => matrix(blocks.reduce((s, b) => s + b.rows, 0), blocks[0]!.cols, Float64Array.from(blocks.flatMap((b) => [...b.data])));

/** Iso-C: mean singular value times the polar factor of the sum. */
function isoCReference(tvs: readonly Matrix[]): Matrix {
  const total = sumOf(tvs);
  const { s } = referenceSvd(total);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const q = polar(total);
  return matrix(q.rows, q.cols, q.data.map((x) => x * mean));
}

/** TSV-M: each task's top int(r/T) directions side by side, each side orthogonalised, the tasks' own singular values. */
function tsvReference(tvs: readonly Matrix[]): Matrix {
  const r = Math.min(tvs[0]!.rows, tvs[0]!.cols);
  const k = Math.trunc(r * (1 / tvs.length));
  const parts = tvs.map(referenceSvd);
  const u = side(parts.map((p) => columns(p.u, 0, k)));
  const vh = below(parts.map((p) => rowsOf(p.vh, 0, k)));
  const s = parts.flatMap((p) => p.s.slice(0, k));
  return compose(polar(u), s, polar(vh));
}

/** Iso-CTS with the authors' sizes: tasks' directions outside the common subspace, then the common ones, flat spectrum. */
function isoCtsReference(tvs: readonly Matrix[], fraction: number): Matrix {
  const total = sumOf(tvs);
  const r = Math.min(total.rows, total.cols);
  const t = tvs.length;
  let common = Math.floor(r * fraction);
  const specific = (r - common) / t;
  const rounded = specific - Math.floor(specific) === 0.5 ? (Math.floor(specific) % 2 === 0 ? Math.floor(specific) : Math.ceil(specific)) : Math.round(specific);
  common = r - rounded * t;
  const perTask = Math.floor((r - common) / t);
  const whole = referenceSvd(total);
  const uc = columns(whole.u, 0, common);
  const parts = tvs.map((w) => {
    const projected = multiply(uc, multiply(transpose(uc), w));
    return referenceSvd(matrix(w.rows, w.cols, w.data.map((x, i) => x - projected.data[i]!)));
  });
  const u = side([...parts.map((p) => columns(p.u, 0, perTask)), uc]);
  const vh = below([...parts.map((p) => rowsOf(p.vh, 0, perTask)), rowsOf(whole.vh, 0, common)]);
  const s = [...parts.flatMap((p) => p.s.slice(0, perTask)), ...whole.s.slice(0, common)];
  const mean = s.reduce((a, b) => a + b, 0) / r;
  return compose(polar(u), s.map(() => mean), polar(vh));
}

test('svd: u diag(s) vh gives the matrix back, u and vh orthonormal, s descending; tall, wide and rank-deficient', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  const lowRank = multiply(matrix(9, 2, Float64Array.from({ length: 18 }, random)), matrix(2, 6, Float64Array.from({ length: 12 }, random)));
  for (const a of [matrix(11, 7, Float64Array.from({ length: 77 }, random)), matrix(5, 13, Float64Array.from({ length: 65 }, random)), lowRank]) {
    const { u, s, vh } = svd(a);
    const back = compose(u, s, vh);
    assert.ok(back.data.every((x, i) => Math.abs(x - a.data[i]!) < 1e-13), `${a.rows}x${a.cols} reconstructs`);
    assert.ok([...s].every((x, i) => i === 0 || s[i - 1]! >= x), 'descending');
    const want = referenceSvd(a).s;
    // sqrt of the eigenvalues of AᵀA is accurate to about sqrt(machine epsilon) times the largest near 0.
    assert.ok([...s].every((x, i) => Math.abs(x - want[i]!) < 1e-8), `singular values ${[...s]} vs ${want}`);
    const vvt = multiply(vh, transpose(vh));
    assert.ok(vvt.data.every((x, i) => Math.abs(x - (i % (vh.rows + 1) === 0 ? 1 : 0)) < 1e-13), 'rows of vh orthonormal');
  }
  // Rank 2: the third singular value is 0 and its u column is zero.
  const deficient = svd(lowRank);
  assert.ok(deficient.s[2]! < 1e-14);
});

describe('whole-matrix methods', () => {
  const specs = [{ name: 'layer/weight', shape: [12, 9] }, { name: 'layer/bias', shape: [9] }, { name: 'wide/weight', shape: [5, 14] }];
  const fixture = finetunedModels(3, 0.1, specs);
  const { base } = fixture;
  const fts = fixture.finetuned;
  const { header } = fixture;
  const taskMatrices = (t: number) => fts.map((ft) => matrix(specs[t]!.shape[0]!, specs[t]!.shape[1] ?? 1, Float64Array.from(ft.tensors[t]!.values, (v, i) => v - base.tensors[t]!.values[i]!)));

  const cases = [
    { call: 'iso_c(t1, t2, t3)', reference: isoCReference },
    { call: 'iso_cts(t1, t2, t3, common=0.5)', reference: (tvs: readonly Matrix[]) => isoCtsReference(tvs, 0.5) },
    { call: 'iso_cts(t1, t2, t3)', reference: (tvs: readonly Matrix[]) => isoCtsReference(tvs, 0.8) },
    { call: 'tsv(t1, t2, t3)', reference: tsvReference },
  ];
  for (const { call, reference } of cases) {
    for (const chunkElements of [undefined, 8]) {
      test(`${call}: matrices as the authors' definition, other tensors the mean (${chunkElements ? 'streamed in chunks of 8' : 'held in memory'})`, async () => {
        const got = await runToTensors(fixture.dir, `${header}save(base + ${call}, "out.safetensors")\n`, chunkElements);
        specs.forEach((spec, t) => {
          const tvs = taskMatrices(t);
          const merged = spec.shape.length === 2 ? reference(tvs).data : sumOf(tvs).data.map((x) => x / tvs.length);
          const want = merged.map((x, i) => x + base.tensors[t]!.values[i]!);
          const { error, index } = worstError(got.get(spec.name)!, want, 1);
          assert.ok(error <= 2e-6, `${spec.name}[${index}]: got ${got.get(spec.name)![index]}, want ${want[index]} (error ${error})`);
        });
      });
    }
  }

  test('a task vector that is itself a merge is refused, naming the method and the tensor', async () => {
    const text = `${header}save(base + iso_c(ties(t1, t2), t3), "out.safetensors")\n`;
    const analysis = await analyzeRecipe(fixture.dir, text);
    await assert.rejects(runProgram(analysis.checked.program, { backend: 'js', recipeText: text, overwrite: true }), /line 5: iso_c\(\) computes each tensor whole from its task vectors: they must be sums of checkpoints .* \(tensor layer\/weight\)/);
  });
});
