// Every merge method against an independent float64 reference, for f32, f16 and bf16
// checkpoints stored as one file or as shards: real files in, real files out, read back
// with a parser that shares no code with tvr.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  fixtureDir, makeModel, perturbModel, writeSafetensors, writeShardedSafetensors,
} from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureDtype, FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';
import {
  linear, magnitudePrune, norm, ProgramBuilder, readSafetensorsOutput, slerp, ties, tolerance, worstError,
} from './helpers.ts';

type Values = Float64Array;
interface Method {
  readonly name: string;
  readonly build: (pb: ProgramBuilder, base: WeightNode, ft: readonly WeightNode[]) => WeightNode;
  /** The expected tensor from the stored input values; undefined for the randomised methods checked by `check`. */
  readonly reference?: (base: Values, ft: readonly Values[], tensor: string) => Values;
  /** Extra checks for randomised methods (DARE, random_like). */
  readonly check?: (got: Values, base: Values, ft: readonly Values[], dtype: string) => void;
}

const d = (a: Values, b: Values): Values => linear([[1, a], [-1, b]]);

const METHODS: readonly Method[] = [
  {
    name: 'task arithmetic (add and negate)',
    build: (pb, base, ft) => pb.combine([[1, base], [0.5, pb.diff(ft[0]!, base)], [-0.3, pb.diff(ft[1]!, base)]], 'model'),
    reference: (base, ft) => linear([[1, base], [0.5, d(ft[0]!, base)], [-0.3, d(ft[1]!, base)]]),
  },
  {
    name: 'analogy c + (b - a)',
    build: (pb, _base, ft) => pb.combine([[1, ft[2]!], [1, ft[1]!], [-1, ft[0]!]], 'model'),
    reference: (_base, ft) => linear([[1, ft[2]!], [1, ft[1]!], [-1, ft[0]!]]),
  },
  {
    name: 'uniform soup (mean)',
    build: (pb, _base, ft) => pb.combine(ft.map((m) => [1 / 3, m] as const), 'model'),
    reference: (_base, ft) => linear(ft.map((m) => [1 / 3, m] as const)),
  },
  {
    name: 'weighted average (Branch-Train-Merge)',
    build: (pb, _base, ft) => pb.combine([[0.5, ft[0]!], [0.3, ft[1]!], [0.2, ft[2]!]], 'model'),
    reference: (_base, ft) => linear([[0.5, ft[0]!], [0.3, ft[1]!], [0.2, ft[2]!]]),
  },
  {
    name: 'TIES',
    build: (pb, base, ft) => pb.combine([[1, base], [0.7, pb.ties(ft.map((m) => pb.diff(m, base)), 0.3)]], 'model'),
    reference: (base, ft) => linear([[1, base], [0.7, ties(ft.map((m) => d(m, base)), 0.3)]]),
  },
  {
    name: 'magnitude pruning',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.prune(pb.diff(ft[0]!, base), 0.25)]], 'model'),
    reference: (base, ft) => linear([[1, base], [1, magnitudePrune(d(ft[0]!, base), 0.25)]]),
  },
  {
    name: 'pruning of a TIES merge (statistics over an intermediate, 5 passes)',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.prune(pb.ties(ft.map((m) => pb.diff(m, base)), 0.5), 0.4)]], 'model'),
    reference: (base, ft) => linear([[1, base], [1, magnitudePrune(ties(ft.map((m) => d(m, base)), 0.5), 0.4)]]),
  },
  {
    name: 'SLERP of models',
    build: (pb, _base, ft) => pb.slerp(ft[0]!, ft[1]!, 0.3),
    reference: (_base, ft) => slerp(ft[0]!, ft[1]!, 0.3),
  },
  {
    name: 'SLERP of task vectors',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.slerp(pb.diff(ft[0]!, base), pb.diff(ft[1]!, base), 0.5)]], 'model'),
    reference: (base, ft) => linear([[1, base], [1, slerp(d(ft[0]!, base), d(ft[1]!, base), 0.5)]]),
  },
  {
    name: 'selection (a vector without the bias tensors)',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.select(pb.diff(ft[0]!, base), null, ['*bias'])]], 'model'),
    reference: (base, ft, tensor) => (tensor.endsWith('bias') ? base : ft[0]!),
  },
  {
    name: 'DARE',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.dare(pb.diff(ft[0]!, base), 0.4, 7)]], 'model'),
    check: (got, base, ft, dtype) => {
      // Every element is either the base (dropped) or base + delta / (1 - p) (kept, rescaled).
      const delta = d(ft[0]!, base);
      let kept = 0;
      for (let i = 0; i < got.length; i++) {
        const dropped = base[i]!;
        const rescaled = base[i]! + delta[i]! / 0.6;
        const scale = tolerance(dtype) * (Math.abs(rescaled) + 1e-3);
        const isKept = Math.abs(got[i]! - rescaled) <= scale;
        assert.ok(isKept || Math.abs(got[i]! - dropped) <= scale, `element ${i}: ${got[i]} is neither ${dropped} nor ${rescaled}`);
        if (isKept && delta[i] !== 0) kept++;
      }
      const n = got.length;
      // Binomial(n, 0.6): within 5 standard deviations.
      assert.ok(Math.abs(kept - 0.6 * n) <= 5 * Math.sqrt(n * 0.24) + 1, `kept ${kept} of ${n}, expected about ${0.6 * n}`);
    },
  },
  {
    name: 'random_like (same per-tensor norm, random direction)',
    build: (pb, base, ft) => pb.combine([[1, base], [1, pb.randomLike(pb.diff(ft[0]!, base), 11)]], 'model'),
    check: (got, base, ft, dtype) => {
      const direction = d(got, base);
      const source = d(ft[0]!, base);
      const rel = Math.abs(norm(direction) - norm(source)) / norm(source);
      assert.ok(rel <= (dtype === 'F32' ? 1e-5 : 0.05), `norm ${norm(direction)} vs ${norm(source)}`);
      if (got.length < 20) return; // in one dimension every direction is +-source
      const cos = direction.reduce((s, v, i) => s + v * source[i]!, 0) / (norm(direction) * norm(source));
      assert.ok(Math.abs(cos) < 0.5, `a random direction should be far from the source direction (cos ${cos})`);
    },
  },
];

const SPECS = [
  { name: 'encoder/weight', shape: [23, 19] },
  { name: 'encoder/bias', shape: [19] },
  { name: 'head/weight', shape: [2, 3, 50] },
  { name: 'head/bias', shape: [1] },
];

const DTYPES: readonly FixtureDtype[] = ['F32', 'F16', 'BF16'];
const LAYOUTS = ['single file', 'sharded'] as const;

function writeModel(dir: string, name: string, model: FixtureModel, layout: (typeof LAYOUTS)[number]): string {
  return layout === 'single file' ? writeSafetensors(join(dir, `${name}.safetensors`), model) : writeShardedSafetensors(join(dir, name), model, { shards: 2 });
}

for (const dtype of DTYPES) {
  for (const layout of LAYOUTS) {
    describe(`merge methods on ${dtype} checkpoints (${layout})`, () => {
      const fixture = fixtureDir();
      const base = makeModel(SPECS.map((s) => ({ ...s, dtype })), { seed: 1 });
      const ft = [2, 3, 4].map((seed) => perturbModel(base, { seed, scale: 0.1 }));
      const outputs = new Map<string, ReturnType<typeof readSafetensorsOutput>>();

      before(async () => {
        const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
        const baseNode = await pb.load(writeModel(fixture.dir, 'base', base, layout));
        const ftNodes = await Promise.all(ft.map(async (m, i) => pb.load(writeModel(fixture.dir, `ft${i}`, m, layout))));
        METHODS.forEach((method, i) => pb.save(method.build(pb, baseNode, ftNodes), join(fixture.dir, `out${i}.safetensors`)));
        await runProgram(pb.program(), { backend: 'js', recipeText: 'methods' });
        METHODS.forEach((method, i) => outputs.set(method.name, readSafetensorsOutput(join(fixture.dir, `out${i}.safetensors`))));
      });
      after(() => fixture.cleanup());

      for (const method of METHODS) {
        test(method.name, () => {
          const out = outputs.get(method.name)!;
          assert.deepEqual(out.order, SPECS.map((s) => s.name), 'tensors in the anchor model order');
          for (const [t, tensor] of base.tensors.entries()) {
            const got = out.tensors.get(tensor.name)!;
            assert.equal(got.dtype, dtype, `${tensor.name} keeps the anchor's dtype`);
            assert.deepEqual(got.shape, tensor.shape);
            const ftValues = ft.map((m) => m.tensors[t]!.values);
            if (method.reference) {
              const want = method.reference(tensor.values, ftValues, tensor.name);
              const { error, index } = worstError(got.values, want, 1e-2);
              assert.ok(error <= tolerance(dtype), `${tensor.name}[${index}]: got ${got.values[index]}, want ${want[index]} (relative error ${error})`);
            }
            method.check?.(got.values, tensor.values, ftValues, dtype);
          }
        });
      }
    });
  }
}
