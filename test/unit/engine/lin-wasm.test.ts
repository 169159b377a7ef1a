// The WebAssembly loop for linear combinations against the JavaScript loop it stands in for:
// bit-identical for any term count, length (the last elements run in JS) and values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createLinKernels, linearTerms } from '../../../server/src/engine/kernels/lin-wasm.ts';
import { runChunkHere } from '../../../server/src/engine/kernels/run.ts';
import type { Kernel, Op } from '../../../server/src/engine/plan/types.ts';

const specials = [0, -0, 1e-45, -1.5e-40, 1, -1, 3.4e38, -3.4e38, Infinity, -Infinity];
const float32 = fc.oneof(fc.float({ noNaN: true }), fc.constantFrom(...specials)).map(Math.fround);

test('the WebAssembly loop gives the JavaScript loop bits, for 1-16 terms and any length', () => {
  const lin = createLinKernels();
  assert.ok(lin, 'WebAssembly SIMD is available in Node');
  const cases = fc.integer({ min: 1, max: 16 }).chain((k) => fc.integer({ min: 0, max: 37 }).chain((n) => fc.tuple(
    fc.array(fc.array(float32, { minLength: n, maxLength: n }), { minLength: k, maxLength: k }),
    fc.array(fc.double({ noNaN: true, min: -4, max: 4 }), { minLength: k, maxLength: k }),
    fc.constant(n),
  )));
  fc.assert(fc.property(cases, ([columns, coefs, n]) => {
    const k = columns.length;
    const nodes: Op[] = [...columns.map((_, slot): Op => ({ op: 'input', slot })), { op: 'lin', terms: columns.map((_, j) => ({ coef: j, arg: j })) }];
    const kernel: Kernel = { nodes, output: k, reductions: [] };
    const want = new Float32Array(n);
    runChunkHere({ kernel, params: Float64Array.from(coefs), inputs: columns.map((c) => Float32Array.from(c)), start: 0, length: n, output: want, kept: [] });
    const inputs = columns.map((c) => { const b = lin!.allocate(n)!; b.set(c); return b; });
    const got = lin!.allocate(n)!;
    const terms = linearTerms(kernel)!;
    assert.ok(lin!.run(terms.slots.map((s) => inputs[s]!), terms.coefs.map((c) => coefs[c]!), got, n));
    for (const b of [...inputs, got]) lin!.release(b);
    return got.every((v, i) => Object.is(v, want[i]) || (Number.isNaN(v) && Number.isNaN(want[i]!)));
  }), { numRuns: 300 });
});

test('only linear combinations of inputs without reductions take the WebAssembly loop', () => {
  const input: Op = { op: 'input', slot: 0 };
  const cases: [Kernel, boolean][] = [
    [{ nodes: [input, { op: 'lin', terms: [{ coef: 0, arg: 0 }] }], output: 1, reductions: [] }, true],
    [{ nodes: [input, { op: 'lin', terms: [] }], output: 1, reductions: [] }, false],
    [{ nodes: [input, { op: 'lin', terms: [{ coef: 0, arg: 0 }] }], output: 1, reductions: [{ kind: 'sumsq', node: 1 }] }, false],
    [{ nodes: [input, { op: 'lin', terms: [{ coef: 0, arg: 0 }] }, { op: 'lin', terms: [{ coef: 1, arg: 1 }] }], output: 2, reductions: [] }, false],
    [{ nodes: [input, { op: 'trim', arg: 0, threshold: 0 }], output: 1, reductions: [] }, false],
  ];
  for (const [kernel, linear] of cases) assert.equal(linearTerms(kernel) !== undefined, linear, JSON.stringify(kernel.nodes));
});

test('buffers given back are reused, buffers from elsewhere are refused', () => {
  const lin = createLinKernels()!;
  const a = lin.allocate(1000)!;
  lin.release(a);
  assert.equal(lin.allocate(1000)!.byteOffset, a.byteOffset);
  const outside = new Float32Array(new SharedArrayBuffer(16));
  assert.equal(lin.run([outside], [1], outside, 4), false);
});
