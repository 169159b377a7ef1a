// What the merge methods' tests share: a small model's tensor specs, running a recipe that
// saves out.safetensors (held in memory or streamed in small chunks) and reading the output
// back in float64, and the breadcrumbs band computed by ranks as the float64 reference.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import { analyzeFile, type Analysis } from '../../../server/src/language/analysis.ts';
import { readSafetensorsOutput } from '../engine/helpers.ts';

/** Two matrices-ish and a vector, sized so chunks of 64 split every tensor. */
export const METHOD_SPECS = [
  { name: 'encoder/weight', shape: [23, 19] },
  { name: 'encoder/bias', shape: [19] },
  { name: 'head/weight', shape: [300] },
];

export function analyzeRecipe(dir: string, recipe: string): Promise<Analysis> {
  return analyzeFile(recipe, join(dir, 'recipe.tvr'), new HeaderCache());
}

/** Checks `recipe` (no errors), runs it, and reads its `out.safetensors` by tensor name. */
export async function runToTensors(dir: string, recipe: string, chunkElements?: number): Promise<Map<string, Float64Array>> {
  const analysis = await analyzeRecipe(dir, recipe);
  assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
  await runProgram(analysis.checked.program, { backend: 'js', recipeText: recipe, overwrite: true, ...(chunkElements ? { chunkElements } : {}) });
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
