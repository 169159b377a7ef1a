// bfloat16 and float16 decoded and encoded inside the WebAssembly loop of linear
// combinations (issue 17) against the way before it, bit for bit: decoded to float32 in
// JavaScript, the float32 loop, the result encoded in JavaScript (checkpoints/dtypes.ts).
// Every bf16 and f16 pattern decoded; every edge class of float32 encoded to both (ties at
// every exponent, NaNs with payloads, infinities, subnormals, the overflow boundaries)
// plus random patterns; and whole task-arithmetic runs on the I/O threads, with and
// without TVR_JS_CONVERSION.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeToFloat32, encodeFromFloat32 } from '../../../server/src/checkpoints/dtypes.ts';
import type { Dtype } from '../../../server/src/checkpoints/types.ts';
import type { EngineError } from '../../../server/src/engine/errors.ts';
import { firstNonFinite, overflowLimit } from '../../../server/src/engine/finite.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { RunEvent } from '../../../server/src/engine/index.ts';
import { createLinKernels, LIN_DTYPE_BYTES } from '../../../server/src/engine/kernels/lin-wasm.ts';
import type { LinDtype } from '../../../server/src/engine/kernels/lin-wasm.ts';
import { fixtureDir, makeModel, perturbModel, seededRandom, writeSafetensors, writeShardedSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureDtype, FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { float32Patterns } from '../../helpers/float-patterns.ts';
import { ProgramBuilder } from './helpers.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';

const lin = createLinKernels()!;

/** An input column: its elements' bytes as stored, in `dtype`. */
interface Column {
  readonly dtype: LinDtype;
  readonly bytes: Uint8Array;
}

const OUTPUTS = ['BF16', 'F16', 'F32'] as const;
const halfColumn = (dtype: 'BF16' | 'F16', patterns: Uint16Array): Column => ({ dtype, bytes: new Uint8Array(patterns.buffer, patterns.byteOffset, patterns.byteLength) });
const bf16Column = (patterns: Uint16Array): Column => halfColumn('BF16', patterns);
const f32Column = (patterns: Uint32Array): Column => ({ dtype: 'F32', bytes: new Uint8Array(patterns.buffer, patterns.byteOffset, patterns.byteLength) });

/** A copy of `bytes` in the kernels' memory. */
function place(bytes: Uint8Array): { address: number; release: () => void } {
  const buffer = lin.allocate(Math.ceil(bytes.length / 4))!;
  new Uint8Array(buffer.buffer, buffer.byteOffset, bytes.length).set(bytes);
  return { address: buffer.byteOffset, release: () => lin.release(buffer) };
}

/** The output bytes and the loop's non-finite flag, bf16 converted in the loop. */
function inLoop(columns: readonly Column[], coefs: readonly number[], output: LinDtype, stored: Dtype): { bytes: Uint8Array; flagged: boolean } {
  const n = columns[0]!.bytes.length / LIN_DTYPE_BYTES[columns[0]!.dtype];
  const inputs = columns.map((c) => place(c.bytes));
  const out = place(new Uint8Array(n * 4));
  const flagged = lin.combine(columns.map((c, i) => ({ address: inputs[i]!.address, dtype: c.dtype })), coefs, { address: out.address, dtype: output }, n, overflowLimit(stored));
  const bytes = new Uint8Array(lin.memory.buffer, out.address, n * LIN_DTYPE_BYTES[output]).slice();
  for (const b of [...inputs, out]) b.release();
  return { bytes, flagged };
}

/** The same the way before: decoded in JavaScript, the float32 loop, encoded in JavaScript; flagged as finite.ts would. */
function before(columns: readonly Column[], coefs: readonly number[], output: LinDtype, stored: Dtype): { bytes: Uint8Array; flagged: boolean } {
  const n = columns[0]!.bytes.length / LIN_DTYPE_BYTES[columns[0]!.dtype];
  const inputs = columns.map((c) => {
    const buffer = lin.allocate(n)!;
    decodeToFloat32(c.dtype, c.bytes, buffer);
    return buffer;
  });
  const values = lin.allocate(n)!;
  assert.ok(lin.run(inputs, coefs, values, n));
  const bytes = new Uint8Array(n * LIN_DTYPE_BYTES[output]);
  encodeFromFloat32(output, values, bytes);
  const flagged = firstNonFinite(values, overflowLimit(stored)) >= 0;
  for (const b of [...inputs, values]) lin.release(b);
  return { bytes, flagged };
}

function assertSameBytes(got: Uint8Array, want: Uint8Array, size: number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    if (got[i] === want[i]) continue;
    const at = Math.floor(i / size) * size;
    const hex = (b: Uint8Array) => Array.from(b.subarray(at, at + size)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');
    assert.fail(`${what}: element ${at / size} is 0x${hex(got)}, before it was 0x${hex(want)}`);
  }
}

function assertAsBefore(columns: readonly Column[], coefs: readonly number[], what: string): void {
  for (const output of OUTPUTS) {
    const stored = output;
    const got = inLoop(columns, coefs, output, stored);
    const want = before(columns, coefs, output, stored);
    assertSameBytes(got.bytes, want.bytes, LIN_DTYPE_BYTES[output], `${what}, into ${output}`);
    assert.equal(got.flagged, want.flagged, `${what}, into ${output}: non-finite flag`);
  }
}

/** Whole loop steps of `patterns` (the loop takes four elements a step), padded with zeros. */
function padded<T extends Uint16Array | Uint32Array>(patterns: T): T {
  const out = new (patterns.constructor as new (n: number) => T)(Math.ceil(patterns.length / 4) * 4);
  out.set(patterns);
  return out;
}

function randomBf16(n: number, seed: number): Uint16Array {
  const random = seededRandom(seed);
  return Uint16Array.from({ length: n }, () => Math.floor(random() * 65536));
}

describe('bf16 and f16 converted in the WebAssembly loop', () => {
  const allBf16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

  test('every bf16 pattern decodes as before (alone and in a combination with a float32 input)', () => {
    assertAsBefore([bf16Column(allBf16)], [1], 'x');
    assertAsBefore([bf16Column(allBf16)], [-0.375], '-0.375 x');
    const random = seededRandom(3);
    const floats = Uint32Array.from({ length: 65536 }, () => Math.floor(random() * 2 ** 32));
    assertAsBefore([f32Column(floats), bf16Column(allBf16)], [0.5, 3], '0.5 y + 3 x');
  });

  test('every f16 pattern decodes as before (alone and in a combination with a bf16 input)', () => {
    assertAsBefore([halfColumn('F16', allBf16)], [1], 'x');
    assertAsBefore([halfColumn('F16', allBf16)], [-0.375], '-0.375 x');
    assertAsBefore([bf16Column(randomBf16(65536, 4)), halfColumn('F16', allBf16)], [0.5, 3], '0.5 y + 3 x');
  });

  test('every edge class of float32 encodes as before: ties, NaN payloads, infinities, subnormals, overflow', () => {
    const patterns = padded(float32Patterns());
    assertAsBefore([f32Column(patterns)], [1], 'x');
    // Products round differently from their factors: new ties and overflows.
    assertAsBefore([f32Column(patterns)], [1.0009765625], '1.0009765625 x');
  });

  test('combinations of bf16 inputs, NaN and infinity among them, come out as before', () => {
    const n = 1 << 16;
    const [a, b, c] = [1, 2, 3].map((seed) => randomBf16(n, seed));
    assertAsBefore([bf16Column(a!), bf16Column(b!), bf16Column(c!)], [1, 0.4, -0.4], 'a + 0.4 b - 0.4 c');
    assertAsBefore([bf16Column(a!), bf16Column(b!)], [1e30, 1e30], '1e30 (a + b)');
    assertAsBefore([halfColumn('F16', a!), bf16Column(b!), halfColumn('F16', c!)], [1, 0.4, -0.4], 'f16 a + 0.4 bf16 b - 0.4 f16 c');
  });

  test('the flag says whether some value is non-finite once stored, and only then', () => {
    const finite = bf16Column(padded(Uint16Array.of(0x3f80, 0x7f7f, 0xff7f, 0x0001, 0x8000)));
    assert.equal(inLoop([finite], [1], 'BF16', 'BF16').flagged, false, 'the largest finite bf16');
    assert.equal(inLoop([finite], [1.003], 'BF16', 'BF16').flagged, true, 'rounds up to infinity in bf16');
    assert.equal(inLoop([finite], [1.003], 'F32', 'F32').flagged, false, 'but not in float32');
    assert.equal(inLoop([bf16Column(padded(Uint16Array.of(0x3f80, 0x7fc1)))], [1], 'BF16', 'BF16').flagged, true, 'NaN');
    assert.equal(inLoop([finite], [70], 'F32', 'F16').flagged, true, 'past F16');
  });
});

describe('widening and narrowing chunk buffers in place (the chunk pipeline)', () => {
  /** `patterns` (16-bit) widened by the loop, as a read leaves them: in the upper half of the target's own bytes, or in a buffer of their own. */
  const widened = (dtype: 'BF16' | 'F16', patterns: Uint16Array, inPlace: boolean): Uint32Array => {
    const n = patterns.length;
    const target = lin.allocate(n)!;
    const bytes = inPlace ? new Uint8Array(target.buffer, target.byteOffset + 2 * n, 2 * n) : (() => { const b = lin.allocate(Math.ceil(n / 2))!; return new Uint8Array(b.buffer, b.byteOffset, 2 * n); })();
    bytes.set(new Uint8Array(patterns.buffer, patterns.byteOffset, 2 * n));
    assert.ok(lin.widen(dtype, bytes, target));
    const bits = new Uint32Array(target.buffer, target.byteOffset, n).slice();
    lin.release(target);
    return bits;
  };
  /** `patterns` (float32 bits) narrowed by the loop, in place (the output chunk's lower half) or into a buffer of their own. */
  const narrowed = (dtype: 'BF16' | 'F16', patterns: Uint32Array, inPlace: boolean): Uint8Array => {
    const n = patterns.length;
    const values = lin.allocate(n)!;
    new Uint32Array(values.buffer, values.byteOffset, n).set(patterns);
    const other = inPlace ? values : lin.allocate(Math.ceil(n / 2))!;
    const out = new Uint8Array(other.buffer, other.byteOffset, 2 * n);
    assert.ok(lin.narrow(dtype, values, out));
    return out.slice();
  };
  // Lengths that leave 0 to 3 elements past the loop's last whole step, and fewer than one step.
  const LENGTHS = [65536, 65535, 65533, 3, 1];

  for (const dtype of ['BF16', 'F16'] as const) {
    test(`every ${dtype} pattern widens to decodeToFloat32's bits, in place or not, at any length`, () => {
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      for (const n of LENGTHS) {
        const patterns = all.subarray(65536 - n);
        const want = new Float32Array(n);
        decodeToFloat32(dtype, new Uint8Array(patterns.buffer, patterns.byteOffset, 2 * n), want);
        for (const inPlace of [true, false]) {
          assertSameBytes(new Uint8Array(widened(dtype, patterns.slice(), inPlace).buffer), new Uint8Array(want.buffer), 4, `${n} ${dtype}, ${inPlace ? 'in place' : 'apart'}`);
        }
      }
    });

    test(`every edge class of float32 narrows to encodeFromFloat32's ${dtype} bytes, in place or not, at any length`, () => {
      const all = float32Patterns();
      for (const n of [all.length, all.length - 1, all.length - 2, all.length - 3, 3, 1]) {
        const patterns = all.slice(all.length - n);
        const want = new Uint8Array(2 * n);
        encodeFromFloat32(dtype, new Float32Array(patterns.buffer), want);
        for (const inPlace of [true, false]) assertSameBytes(narrowed(dtype, patterns, inPlace), want, 2, `${n} patterns, ${inPlace ? 'in place' : 'apart'}`);
      }
    });
  }

  test('buffers outside the loop\'s memory are refused, and left untouched', () => {
    const values = Float32Array.of(1, 2, 3, 4);
    const bytes = new Uint8Array(8);
    assert.equal(lin.narrow('BF16', values, bytes), false);
    assert.equal(lin.widen('BF16', bytes, values), false);
    assert.deepEqual([...values], [1, 2, 3, 4]);
    assert.deepEqual([...bytes], [0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

/** A float tensor over several chunks of CHUNK elements (odd lengths: the last loop step is padded), one smaller than a chunk, a scalar. */
const specs = (dtype: FixtureDtype) => [
  { name: 'embed', shape: [61, 97], dtype },
  { name: 'bias', shape: [13], dtype },
  { name: 'scale', shape: [], dtype },
];
const CHUNK = 999;

describe('bf16 and f16 task arithmetic on the I/O threads', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());

  const withValue = (model: FixtureModel, index: number, value: number): FixtureModel => ({
    tensors: model.tensors.map((t) => (t.name === 'embed' ? { ...t, values: t.values.map((v, i) => (i === index ? value : v)) } : t)),
  });

  /** base + 0.7 (a - base) - 0.3 (b - base) saved as `dtype`, with the loop's conversion or with TVR_JS_CONVERSION=1. */
  const run = async (dir: string, inputs: readonly string[], dtype: Dtype, jsConversion: boolean, coef = 0.7) => {
    const pb = new ProgramBuilder(join(dir, 'recipe.tvr'));
    const [base, a, b] = await Promise.all(inputs.map((p, i) => pb.load(p, i)));
    const out = join(dir, `${dtype}-${jsConversion ? 'js' : 'loop'}.safetensors`);
    pb.save(pb.combine([[1, base!], [coef, pb.diff(a!, base!)], [-0.3, pb.diff(b!, base!)]], 'model'), out, { dtype, line: 3 });
    const events: RunEvent[] = [];
    // The I/O threads take the environment as it is when they start, during the run.
    if (jsConversion) process.env.TVR_JS_CONVERSION = '1';
    try {
      const result = await runProgram(pb.program(), { backend: 'js-workers', recipeText: 'bf16', chunkElements: CHUNK, placedMinBytes: 0, onEvent: (e) => events.push(e) }).catch((error: unknown) => error as Error);
      return { failure: result instanceof Error ? result : undefined, out, events };
    } finally {
      delete process.env.TVR_JS_CONVERSION;
    }
  };

  const both = async (name: string, models: readonly FixtureModel[], dtype: Dtype, options: { sharded?: boolean } = {}) => {
    const dir = join(fixture.dir, name.replace(/\W+/g, '-'));
    mkdirSync(dir);
    const inputs = models.map((m, i) => (options.sharded ? writeShardedSafetensors(join(dir, `in${i}`), m, { shards: 2 }) : writeSafetensors(join(dir, `in${i}.safetensors`), m)));
    const loop = await run(dir, inputs, dtype, false);
    const js = await run(dir, inputs, dtype, true);
    for (const r of [loop, js]) assert.equal(r.failure, undefined);
    return { loop, js };
  };

  const models = (dtypes: readonly FixtureDtype[]): FixtureModel[] => {
    const base = makeModel(specs('BF16'), { seed: 21 });
    return dtypes.map((dtype, i) => {
      const model = i === 0 ? base : perturbModel(base, { seed: 21 + i, scale: 0.05 });
      return { tensors: model.tensors.map((t) => ({ ...t, dtype })) };
    });
  };

  const CASES: readonly { name: string; inputs: FixtureDtype[]; out: Dtype; sharded?: boolean }[] = [
    { name: 'bf16 inputs into bf16', inputs: ['BF16', 'BF16', 'BF16'], out: 'BF16' },
    { name: 'bf16 sharded inputs into bf16', inputs: ['BF16', 'BF16', 'BF16'], out: 'BF16', sharded: true },
    { name: 'bf16 inputs into f32', inputs: ['BF16', 'BF16', 'BF16'], out: 'F32' },
    { name: 'f32 and bf16 inputs into bf16', inputs: ['F32', 'BF16', 'F32'], out: 'BF16' },
    { name: 'f32 inputs into bf16', inputs: ['F32', 'F32', 'F32'], out: 'BF16' },
    { name: 'f16 and bf16 inputs into f16', inputs: ['F16', 'BF16', 'BF16'], out: 'F16' },
    { name: 'f16 sharded inputs into f16', inputs: ['F16', 'F16', 'F16'], out: 'F16', sharded: true },
    { name: 'f16 inputs into bf16', inputs: ['F16', 'F16', 'F16'], out: 'BF16' },
  ];
  for (const c of CASES) {
    test(`${c.name}: the same bytes as with the JavaScript conversion`, async () => {
      const { loop, js } = await both(c.name, models(c.inputs), c.out, c.sharded ? { sharded: true } : {});
      assert.deepEqual(readFileSync(loop.out), readFileSync(js.out));
    });
  }

  for (const dtype of ['BF16', 'F16'] as const) {
    test(`NaN and infinity in a ${dtype} input pass through alike, counted alike`, async () => {
      const [base, a, b] = models([dtype, dtype, dtype]);
      const { loop, js } = await both(`passed ${dtype}`, [base!, withValue(withValue(a!, 5, Number.NaN), 2000, -Infinity), b!], dtype);
      assert.deepEqual(readFileSync(loop.out), readFileSync(js.out));
      const notice = (r: typeof loop) => {
        const found = r.events.find((e) => e.type === 'notice' && e.kind === 'non-finite-inputs');
        return found?.type === 'notice' ? { tensors: found.tensors, message: found.message.replace(r.out, 'OUT') } : undefined;
      };
      assert.match(notice(loop)?.message ?? '', /^OUT: 2 values written as NaN or infinity/);
      assert.deepEqual(notice(loop), notice(js));
    });
  }

  // A finite float32 past the dtype's largest value: 1.007 x 3.376e38 for bf16, 1.01 x 64992 for f16.
  for (const [dtype, value, coef] of [['BF16', 3.38e38, 1.007], ['F16', 65000, 1.01]] as const) {
    test(`a ${dtype} value overflowed by the recipe fails alike, naming the element`, async () => {
      const [base, a, b] = models([dtype, dtype, dtype]);
      const dir = join(fixture.dir, `overflow-${dtype}`);
      mkdirSync(dir);
      const inputs = [base!, withValue(a!, 1500, value), b!].map((m, i) => writeSafetensors(join(dir, `in${i}.safetensors`), m));
      const [loop, js] = [await run(dir, inputs, dtype, false, coef), await run(dir, inputs, dtype, true, coef)];
      assert.equal((loop!.failure as EngineError | undefined)?.code, 'non-finite');
      assert.match(loop!.failure!.message, new RegExp(`tensor embed: element 1500 is .*too large for ${dtype}`));
      assert.equal(loop!.failure!.message.replace(loop!.out, 'OUT'), js!.failure?.message.replace(js.out, 'OUT'));
    });
  }
});

describe('bf16 and f16 in the chunk pipeline (TIES, DARE, SLERP): widened and narrowed in place', () => {
  const fixture = fixtureDir();
  after(() => fixture.cleanup());
  // `big` is read straight into chunk buffers (1.2 MB of bf16 per read); the others through read-ahead windows.
  const pipelineSpecs = (dtype: FixtureDtype) => [...specs(dtype), { name: 'big', shape: [1024, 600], dtype }];
  const METHODS: readonly { name: string; edit: (pb: ProgramBuilder, base: WeightNode, a: WeightNode, b: WeightNode) => WeightNode }[] = [
    { name: 'TIES', edit: (pb, base, a, b) => pb.combine([[1, base], [0.6, pb.ties([pb.diff(a, base), pb.diff(b, base)], 0.3)]], 'model') },
    { name: 'DARE', edit: (pb, base, a) => pb.combine([[1, base], [0.5, pb.dare(pb.diff(a, base), 0.4, 7)]], 'model') },
    { name: 'SLERP', edit: (pb, _base, a, b) => pb.slerp(a, b, 0.3) },
  ];

  const run = async (dir: string, inputs: readonly string[], method: (typeof METHODS)[number], dtype: Dtype, chunkElements: number | undefined, jsConversion: boolean) => {
    const pb = new ProgramBuilder(join(dir, 'recipe.tvr'));
    const [base, a, b] = await Promise.all(inputs.map((p, i) => pb.load(p, i)));
    const out = join(dir, `${method.name}-${dtype}-${chunkElements ?? 'default'}-${jsConversion ? 'js' : 'loop'}.safetensors`);
    pb.save(method.edit(pb, base!, a!, b!), out, { dtype, line: 3 });
    if (jsConversion) process.env.TVR_JS_CONVERSION = '1';
    try {
      await runProgram(pb.program(), { backend: 'js-workers', recipeText: 'pipeline', ...(chunkElements ? { chunkElements } : {}) });
    } finally {
      delete process.env.TVR_JS_CONVERSION;
    }
    return readFileSync(out);
  };

  for (const dtype of ['BF16', 'F16'] as const) {
    test(`${dtype} inputs and outputs: the same bytes as with the JavaScript conversion, in small chunks and large`, async () => {
      const dir = join(fixture.dir, dtype);
      mkdirSync(dir);
      const base = makeModel(pipelineSpecs(dtype), { seed: 31 });
      const models = [base, perturbModel(base, { seed: 32, scale: 0.05 }), perturbModel(base, { seed: 33, scale: 0.05 })];
      const inputs = models.map((m, i) => writeSafetensors(join(dir, `in${i}.safetensors`), m));
      for (const method of METHODS) {
        for (const chunkElements of [CHUNK, undefined]) {
          const loop = await run(dir, inputs, method, dtype, chunkElements, false);
          const js = await run(dir, inputs, method, dtype, chunkElements, true);
          assert.ok(loop.equals(js), `${method.name}, chunks of ${chunkElements ?? 'the default size'}: the outputs differ`);
        }
      }
    });
  }
});
