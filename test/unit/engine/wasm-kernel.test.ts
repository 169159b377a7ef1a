// The WebAssembly SIMD kernels against the generated JavaScript loops they stand in for:
// for random programs of linear combinations, trims and TIES merges with every kind of
// reduction, over random values (signed zeros, subnormals, infinities), the outputs, kept
// values and histograms are bit-identical and float64 sums agree (they add in another
// association only across the four-element bulk and the JavaScript tail). The kernels count
// the elements they run, so that the test cannot pass on the JavaScript fallback alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createLinKernels } from '../../../server/src/engine/kernels/lin-wasm.ts';
import { compileKernel, sourceOf } from '../../../server/src/engine/kernels/codegen.ts';
import { runSlice } from '../../../server/src/engine/kernels/run.ts';
import { createWasmKernels, WASM_SCRATCH_BYTES, wasmKernelBytes, type WasmKernels } from '../../../server/src/engine/kernels/wasm-kernel.ts';
import type { Kernel, Op, Reduction } from '../../../server/src/engine/plan/types.ts';

const specials = [0, -0, 1e-45, -1.5e-40, 1, -1, 3.4e38, -3.4e38, Infinity, -Infinity];
const float32 = fc.oneof({ weight: 8, arbitrary: fc.float({ noNaN: true, min: -4, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(...specials) }).map(Math.fround);
const PARAMS = 12;

/** A random kernel over `slots` inputs: ops on earlier nodes only, every reduction kind. */
const kernels = fc.integer({ min: 1, max: 4 }).chain((slots) => fc.integer({ min: 1, max: 6 }).chain((extra) => {
  const nodeIndex = (below: number) => fc.integer({ min: 0, max: below - 1 });
  const ops = Array.from({ length: extra }, (_, i) => {
    const n = slots + i;
    return fc.oneof(
      fc.array(fc.record({ coef: fc.integer({ min: 0, max: PARAMS - 2 }), arg: nodeIndex(n) }), { minLength: 0, maxLength: 4 }).map((terms): Op => ({ op: 'lin', terms })),
      fc.record({ arg: nodeIndex(n), threshold: fc.integer({ min: 0, max: PARAMS - 2 }) }).map(({ arg, threshold }): Op => ({ op: 'trim', arg, threshold })),
      fc.array(nodeIndex(n), { minLength: 1, maxLength: 4 }).map((args): Op => ({ op: 'ties', args })),
    );
  });
  const total = slots + extra;
  const reduction: fc.Arbitrary<Reduction> = fc.oneof(
    nodeIndex(total).map((node): Reduction => ({ kind: 'values', node })),
    nodeIndex(total).map((node): Reduction => ({ kind: 'sumsq', node })),
    fc.tuple(nodeIndex(total), nodeIndex(total)).map(([a, b]): Reduction => ({ kind: 'dot', a, b })),
    nodeIndex(total).map((node): Reduction => ({ kind: 'hist-hi', node })),
    nodeIndex(total).map((node): Reduction => ({ kind: 'hist-top', node })),
    nodeIndex(total).map((node): Reduction => ({ kind: 'hist-lo', node, bucket: PARAMS - 1 })),
  );
  return fc.record({
    nodes: fc.tuple(...ops).map((rest) => [...Array.from({ length: slots }, (_, slot): Op => ({ op: 'input', slot })), ...rest]),
    output: fc.option(fc.constant(total - 1), { nil: null }),
    reductions: fc.array(reduction, { maxLength: 4 }),
  }).map((k): Kernel & { slots: number } => ({ ...k, slots }));
}));

test('WebAssembly kernels give the JavaScript loops bits, for random programs, reductions and lengths', () => {
  const lin = createLinKernels();
  assert.ok(lin, 'WebAssembly SIMD and shared memory are available in Node');
  const scratch = lin.allocate(WASM_SCRATCH_BYTES / 4)!;
  const kernelsMade = createWasmKernels(lin.memory, scratch);
  assert.ok(kernelsMade, 'WebAssembly kernels are made');
  // runSlice leaves to JavaScript whatever the WebAssembly kernel does not take: count what it takes.
  let wasmElements = 0;
  const wasm: WasmKernels = {
    run: (...args) => {
      const ran = kernelsMade.run(...args);
      wasmElements += ran;
      return ran;
    },
  };
  const cases = kernels.chain((kernel) => fc.integer({ min: 0, max: 41 }).chain((n) => fc.record({
    kernel: fc.constant(kernel),
    columns: fc.array(fc.array(float32, { minLength: n, maxLength: n }), { minLength: kernel.slots, maxLength: kernel.slots }),
    params: fc.array(fc.double({ noNaN: true, min: -3, max: 3 }), { minLength: PARAMS - 1, maxLength: PARAMS - 1 }),
    from: fc.integer({ min: 0, max: 3 }),
  })));
  fc.assert(fc.property(cases, ({ kernel, columns, params, from: offset }) => {
    const n = columns[0]!.length;
    const from = Math.min(offset, n);
    // The bucket hist-lo counts: the high half of |an input value|, so that some values match.
    const bucket = n > 0 ? (new Uint32Array(Float32Array.of(columns[0]![n - 1]!).buffer)[0]! & 0x7fffffff) >>> 16 : 0;
    const allParams = Float64Array.from([...params.map((p, i) => (i % 3 === 2 ? Math.abs(p) : p)), bucket]);
    const fn = compileKernel(sourceOf(kernel));
    const keptOf = (make: (n: number) => Float32Array) => kernel.reductions.map((r) => (r.kind === 'values' ? make(n) : null));

    const keptJs = keptOf((m) => new Float32Array(m));
    const outJs = new Float32Array(n);
    const want = runSlice(fn, kernel, columns.map((c) => Float32Array.from(c)), kernel.output === null ? null : outJs, from, n, 0, allParams, keptJs);

    const inputs = columns.map((c) => { const b = lin.allocate(n)!; b.set(c); return b; });
    const out = lin.allocate(n)!;
    const kept = keptOf((m) => lin.allocate(m)!);
    const ranBefore = wasmElements;
    const got = runSlice(fn, kernel, inputs, kernel.output === null ? null : out, from, n, 0, allParams, kept, wasm);
    // These kernels draw no random numbers and their histograms fit the scratch: WebAssembly takes every whole group of four.
    assert.equal(wasmElements - ranBefore, (n - from) - ((n - from) % 4), 'elements run in WebAssembly');
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i]!)));
    try {
      if (kernel.output !== null) assert.ok(same(out.subarray(from), outJs.subarray(from)), 'output');
      kernel.reductions.forEach((r, i) => {
        if (r.kind === 'values') assert.ok(same(kept[i]!.subarray(from), keptJs[i]!.subarray(from)), `kept values ${i}`);
        else if (r.kind === 'sumsq' || r.kind === 'dot') {
          const [a, b] = [got.sums[i]!, want.sums[i]!];
          assert.ok(Object.is(a, b) || Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)) || (Number.isNaN(a) && Number.isNaN(b)), `sum ${i}: ${a} vs ${b}`);
        } else assert.deepEqual(got.hists[i], want.hists[i], `${r.kind} ${i}`);
      });
    } finally {
      for (const b of [...inputs, out, ...kept]) if (b) lin.release(b);
    }
  }), { numRuns: 1000 });
  assert.ok(wasmElements > 0, 'WebAssembly ran');
});

test('kernels with random draws, votes, variances or elected means are left to the JavaScript loop', () => {
  const input: Op = { op: 'input', slot: 0 };
  assert.equal(wasmKernelBytes({ nodes: [input, { op: 'vote', arg: 0, pairs: [{ a: 0 }], scale: 0, min: 1 }], output: 1, reductions: [] }), undefined);
  assert.equal(wasmKernelBytes({ nodes: [input, { op: 'variance', args: [0], count: 0 }], output: 1, reductions: [] }), undefined);
  assert.equal(wasmKernelBytes({ nodes: [input, { op: 'elect', args: [0], weights: [0], floor: 1 }], output: 1, reductions: [] }), undefined);
  assert.equal(wasmKernelBytes({ nodes: [input, { op: 'dare', arg: 0, keep: 0, scale: 1, key: 2 }], output: 1, reductions: [] }), undefined);
  assert.equal(wasmKernelBytes({ nodes: [{ op: 'noise', key: 0 }], output: 0, reductions: [] }), undefined);
  assert.ok(wasmKernelBytes({ nodes: [input, { op: 'trim', arg: 0, threshold: 0 }], output: 1, reductions: [{ kind: 'hist-top', node: 1 }] }));
});
