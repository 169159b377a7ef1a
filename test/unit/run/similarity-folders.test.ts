// The similarity matrix (and so the hover's norms) of task vectors between Hugging Face
// model folders: load("folder") names the folder while the Gram pass reads its
// model.safetensors, and the norms and cosines must still be those of the differences.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { ResultsCache } from '../../../server/src/run/cache.ts';
import { taskVectorSimilarity } from '../../../server/src/run/similarity.ts';
import { fixtureDir, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { writeGpt2Folder } from '../evaluation/gpt2-fixtures.ts';

const { dir, cleanup } = fixtureDir();
after(cleanup);

function difference(a: FixtureModel, b: FixtureModel): number[] {
  return a.tensors.flatMap((t, i) => [...t.values].map((v, j) => Math.fround(v) - Math.fround(b.tensors[i]!.values[j]!)));
}

test('task vectors of model folders have the norms and cosines of their differences', async () => {
  const [base, sci, legal] = [1, 2, 3].map((seed, i) => writeGpt2Folder(join(dir, ['base', 'sci', 'legal'][i]!), { seed }).model);
  const text = 'base = load("base")\nsci = load("sci") - base\nlegal = load("legal") - base\n';
  const headers = new HeaderCache();
  const analysis = await analyzeFile(text, join(dir, 'recipe.tvr'), headers);
  const { matrix } = await taskVectorSimilarity(analysis, headers, new ResultsCache(undefined, () => {}));
  const [s, l] = [difference(sci!, base!), difference(legal!, base!)];
  const norm = (v: number[]): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  const cosine = s.reduce((sum, x, i) => sum + x * l[i]!, 0) / (norm(s) * norm(l));
  assert.deepEqual(matrix!.vectors, ['sci', 'legal']);
  assert.ok(Math.abs(matrix!.norms[0]! / norm(s) - 1) < 1e-6, `${matrix!.norms[0]} vs ${norm(s)}`);
  assert.ok(Math.abs(matrix!.norms[1]! / norm(l) - 1) < 1e-6, `${matrix!.norms[1]} vs ${norm(l)}`);
  assert.ok(Math.abs(matrix!.cosine[0]![1]! - cosine) < 1e-6, `${matrix!.cosine[0]![1]} vs ${cosine}`);
});
