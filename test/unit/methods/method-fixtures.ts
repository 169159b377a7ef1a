// What the merge methods' tests share: a small model's tensor specs, running a recipe that
// saves out.safetensors (held in memory or streamed in small chunks) and reading the output
// back in float64, the breadcrumbs band computed by ranks as the float64 reference, and
// float64 vector arithmetic for the references of the Gram-based methods.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { runProgram, type BackendName } from '../../../server/src/engine/index.ts';
import { analyzeFile, type Analysis } from '../../../server/src/language/analysis.ts';
import { after, before } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors, type FixtureModel, type FixtureTensorSpec } from '../../helpers/checkpoint-fixtures.ts';
import { readSafetensorsOutput, worstError } from '../engine/helpers.ts';

/**
 * base.safetensors and ft1.safetensors .. ftN.safetensors (the base perturbed by `scale`,
 * seeds 2 ..) in a fresh folder, written before the enclosing describe block's tests and
 * removed after them.
 */
export function finetunedModels(count: number, scale: number, specs: readonly FixtureTensorSpec[] = METHOD_SPECS): { readonly dir: string; readonly base: FixtureModel; readonly finetuned: readonly FixtureModel[]; readonly header: string } {
  const fixture = fixtureDir();
  const base = makeModel(specs, { seed: 1 });
  const finetuned = Array.from({ length: count }, (_, i) => perturbModel(base, { seed: i + 2, scale }));
  before(() => {
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    finetuned.forEach((model, i) => writeSafetensors(join(fixture.dir, `ft${i + 1}.safetensors`), model));
  });
  after(() => fixture.cleanup());
  // Recipe lines binding `base` and the task vectors t1 .. tN.
  const header = ['base = load("base.safetensors")', ...finetuned.map((_, i) => `t${i + 1} = load("ft${i + 1}.safetensors") - base`), ''].join('\n');
  return { dir: fixture.dir, base, finetuned, header };
}

/** A zero base and two task vectors whose magnitudes compete element by element (the TALL-mask tests), and the recipe lines binding them and a zero vector `z`. */
export const SIGNED_PAIR = { base: [0, 0, 0, 0], a: [1, -2, 0.5, 0], b: [0.25, 3, 0.5, 0] } as const;
export const SIGNED_PAIR_HEAD = 'base = load("base.safetensors")\na = load("a.safetensors") - base\nb = load("b.safetensors") - base\nz = base - base\n';

/**
 * Models of one tensor `w` (`name` -> its values, written as `name.safetensors`) in a fresh
 * folder for `body`, which runs recipes that save out.safetensors and gets `w` back; the folder
 * is removed after.
 */
export async function withOneTensorModels(models: Readonly<Record<string, readonly number[]>>, body: (run: (recipe: string) => Promise<Float64Array>) => Promise<void>): Promise<void> {
  const fixture = fixtureDir();
  try {
    for (const [name, values] of Object.entries(models)) writeSafetensors(join(fixture.dir, `${name}.safetensors`), oneTensor(values));
    await body(async (recipe) => (await runToTensors(fixture.dir, recipe)).get('w')!);
  } finally {
    fixture.cleanup();
  }
}

/** Two matrices-ish and a vector, sized so chunks of 64 split every tensor. */
export const METHOD_SPECS = [
  { name: 'encoder/weight', shape: [23, 19] },
  { name: 'encoder/bias', shape: [19] },
  { name: 'head/weight', shape: [300] },
];

export function analyzeRecipe(dir: string, recipe: string): Promise<Analysis> {
  return analyzeFile(recipe, join(dir, 'recipe.tvr'), new HeaderCache());
}

/** Checks `recipe` (no errors), runs it (on the `js` backend unless told), and reads its `out.safetensors` by tensor name. */
export async function runToTensors(dir: string, recipe: string, chunkElements?: number, backend: BackendName = 'js'): Promise<Map<string, Float64Array>> {
  const analysis = await analyzeRecipe(dir, recipe);
  assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
  await runProgram(analysis.checked.program, { backend, recipeText: recipe, overwrite: true, ...(chunkElements ? { chunkElements } : {}) });
  const { tensors } = readSafetensorsOutput(join(dir, 'out.safetensors'));
  return new Map([...tensors].map(([name, t]) => [name, t.values]));
}

/** The breadcrumbs band by ranks, in float64 (no magnitudes tie in random data). */
export function breadcrumbsByRank(x: Float64Array, density: number, gamma: number): Float64Array {
  const n = x.length;
  const kept = Math.floor(density * n + 1e-9);
  const outliers = Math.min(Math.floor(gamma * n + 1e-9), n - kept);
  const byMagnitude = [...x.keys()].sort((i, j) => Math.abs(x[j]!) - Math.abs(x[i]!));
  const out = new Float64Array(n);
  for (const i of byMagnitude.slice(outliers, outliers + kept)) out[i] = x[i]!;
  return out;
}

/** x . y in float64. */
export function dot(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * y[i]!;
  return sum;
}

/** sum c_i x_i in float64. */
export function combination(coefficients: readonly number[], xs: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(xs[0]!.length);
  coefficients.forEach((c, k) => { for (let i = 0; i < out.length; i++) out[i]! += c * xs[k]![i]!; });
  return out;
}

/** A model of one tensor `w` holding `values`. */
export function oneTensor(values: readonly number[] | Float64Array): FixtureModel {
  return { tensors: [{ name: 'w', dtype: 'F32', shape: [values.length], values: Float64Array.from(values) }] };
}

/** Each fine-tuned model's task vector (ft - base) of tensor `t`, in float64. */
export function taskVectorsOf(fixture: { readonly base: FixtureModel; readonly finetuned: readonly FixtureModel[] }): (t: number) => Float64Array[] {
  const { base } = fixture;
  return (t) => fixture.finetuned.map((m) => Float64Array.from(m.tensors[t]!.values, (v, i) => v - base.tensors[t]!.values[i]!));
}

/** Each output tensor minus the base against `want(t)`, to 1e-6 (errors are float32 steps of the base's values, near 1). */
export function assertDeltas(base: FixtureModel, got: Map<string, Float64Array>, want: (t: number) => Float64Array): void {
  for (const [t, tensor] of base.tensors.entries()) {
    const delta = got.get(tensor.name)!.map((v, i) => v - tensor.values[i]!);
    const { error, index } = worstError(delta, want(t), 1);
    assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${delta[index]}, want ${want(t)[index]} (error ${error})`);
  }
}

/** Where the elementwise methods' tests run: held in memory and streamed on the JS loops, on tfjs, streamed on threads; and how a test names it. */
export const EVERY_RUN: readonly { readonly chunkElements?: number; readonly backend?: BackendName; readonly how: string }[] = [{}, { chunkElements: 64 }, { backend: 'tfjs-cpu' as const }, { chunkElements: 64, backend: 'js-workers' as const }]
  .map((run) => ({ ...run, how: `${run.chunkElements ? 'streamed in chunks of 64' : 'held in memory'} on ${run.backend ?? 'js'}` }));
