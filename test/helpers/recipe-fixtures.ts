// A recipe workspace on disk for language and protocol tests: real checkpoints in every
// supported format (f32, f16, bf16, sharded, TensorFlow.js), one with other shapes, a
// broken one, with the exact float64 values behind each, plus independent float64
// reference computations of task-vector norms and cosine similarities.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  makeModel, mlpSpecs, perturbModel, rawSafetensors, writeSafetensors, writeShardedSafetensors, writeTfjsModel,
  type FixtureDtype, type FixtureModel, type FixtureTensorSpec,
} from './checkpoint-fixtures.ts';

export const encoderSpecs: readonly FixtureTensorSpec[] = [
  { name: 'encoder/kernel', shape: [12, 8] },
  { name: 'encoder/bias', shape: [8] },
  { name: 'head/kernel', shape: [8, 3] },
  { name: 'head/bias', shape: [3] },
];

function withDtype(specs: readonly FixtureTensorSpec[], dtype: FixtureDtype): FixtureTensorSpec[] {
  return specs.map((s) => ({ ...s, dtype }));
}

/** Checkpoints by their path relative to the workspace, with the values they hold. */
export interface RecipeWorkspace {
  readonly dir: string;
  readonly models: Readonly<Record<string, FixtureModel>>;
}

/**
 * Writes, under `dir`:
 * - `base.safetensors`, `sci.safetensors`, `toxic.safetensors`: F32, the latter two near the base;
 * - `base2.safetensors`: another F32 base with the same table (foreign-base cases);
 * - `sharded/model.safetensors.index.json`: F32 near the base, in 2 shards;
 * - `half/base.safetensors`, `half/tuned.safetensors`: F16; `bf16/base.safetensors`, `bf16/tuned.safetensors`: BF16;
 * - `tfjs/base/model.json`, `tfjs/tuned/model.json`: TensorFlow.js MLPs (4-5-2);
 * - `other.safetensors`: same names as the base, two shapes differ;
 * - `broken.safetensors`: a header that claims more data than the file has.
 */
export function writeRecipeWorkspace(dir: string): RecipeWorkspace {
  const base = makeModel(encoderSpecs, { seed: 11 });
  const models: Record<string, FixtureModel> = {
    'base.safetensors': base,
    'sci.safetensors': perturbModel(base, { seed: 12, scale: 0.05 }),
    'toxic.safetensors': perturbModel(base, { seed: 13, scale: 0.02 }),
    'base2.safetensors': makeModel(encoderSpecs, { seed: 14 }),
    'sharded/model.safetensors.index.json': perturbModel(base, { seed: 15, scale: 0.03 }),
    'other.safetensors': makeModel([
      { name: 'encoder/kernel', shape: [12, 16] },
      { name: 'encoder/bias', shape: [16] },
      { name: 'head/kernel', shape: [8, 3] },
      { name: 'head/bias', shape: [3] },
    ], { seed: 16 }),
  };
  const half = makeModel(withDtype(encoderSpecs, 'F16'), { seed: 21 });
  models['half/base.safetensors'] = half;
  models['half/tuned.safetensors'] = perturbModel(half, { seed: 22, scale: 0.1 });
  const brain = makeModel(withDtype(encoderSpecs, 'BF16'), { seed: 31 });
  models['bf16/base.safetensors'] = brain;
  models['bf16/tuned.safetensors'] = perturbModel(brain, { seed: 32, scale: 0.1 });
  const mlp = makeModel(mlpSpecs([4, 5, 2]), { seed: 41 });
  models['tfjs/base/model.json'] = mlp;
  models['tfjs/tuned/model.json'] = perturbModel(mlp, { seed: 42, scale: 0.2 });

  for (const [path, model] of Object.entries(models)) {
    const full = join(dir, path);
    const folder = join(full, '..');
    mkdirSync(folder, { recursive: true });
    if (path.startsWith('sharded/')) writeShardedSafetensors(folder, model, { shards: 2 });
    else if (path.startsWith('tfjs/')) writeTfjsModel(folder, model, { shardBytes: 64 });
    else writeSafetensors(full, model);
  }
  const header = JSON.stringify({ w: { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } });
  writeFileSync(join(dir, 'broken.safetensors'), rawSafetensors(header, 16));
  return { dir, models };
}

/** One term `coefficient * model` of a linear combination of checkpoints. */
export type Term = readonly [coefficient: number, model: FixtureModel];

export interface ReferenceNorm {
  readonly norm: number;
  /** Per tensor, largest first. */
  readonly tensors: readonly { readonly name: string; readonly norm: number }[];
}

function combination(terms: readonly Term[], tensorIndex: number): Float64Array {
  const first = terms[0]![1].tensors[tensorIndex]!;
  const out = new Float64Array(first.values.length);
  for (const [c, model] of terms) {
    const values = model.tensors[tensorIndex]!.values;
    for (let k = 0; k < out.length; k++) out[k]! += c * values[k]!;
  }
  return out;
}

/** ||sum c_i M_i|| in float64 from the stored values, and per tensor. */
export function referenceNorm(terms: readonly Term[]): ReferenceNorm {
  const tensors = terms[0]![1].tensors.map((t, i) => {
    const v = combination(terms, i);
    let sum = 0;
    for (const x of v) sum += x * x;
    return { name: t.name, norm: Math.sqrt(sum) };
  });
  const norm = Math.sqrt(tensors.reduce((s, t) => s + t.norm * t.norm, 0));
  return { norm, tensors: [...tensors].sort((a, b) => b.norm - a.norm) };
}

/** Cosine similarity of two linear combinations over all tensors, in float64. */
export function referenceCosine(a: readonly Term[], b: readonly Term[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a[0]![1].tensors.forEach((_, i) => {
    const va = combination(a, i);
    const vb = combination(b, i);
    for (let k = 0; k < va.length; k++) {
      dot += va[k]! * vb[k]!;
      na += va[k]! * va[k]!;
      nb += vb[k]! * vb[k]!;
    }
  });
  return dot / Math.sqrt(na * nb);
}

/** Float parameters of a model (what hovers count). */
export function parameterCount(model: FixtureModel): number {
  return model.tensors.reduce((s, t) => s + t.values.length, 0);
}
