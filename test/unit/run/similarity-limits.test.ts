// The similarity matrix of a run (issue 10, items 4 and 7): over the task vectors the
// evaluated and saved models use, at most MAX_SIMILARITY_VECTORS of them with a note
// naming what was left out (5,000 vector bindings took 93 s, 1.9 GB and a 275 MB results
// file), and a vector whose norm is NaN or infinite is left out with a note, never shown as NaN.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { ResultsCache } from '../../../server/src/run/cache.ts';
import { MAX_SIMILARITY_VECTORS, taskVectorSimilarity } from '../../../server/src/run/similarity.ts';

const lines = (n: number, line: (i: number) => string): string => Array.from({ length: n }, (_, i) => line(i + 1)).join('\n');

describe('similarity limits', () => {
  const fixture = fixtureDir();
  before(() => {
    const base = makeModel([{ name: 'w', shape: [6, 4] }], { seed: 1 });
    writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    for (let i = 1; i <= 3; i++) writeSafetensors(join(fixture.dir, `ft${i}.safetensors`), perturbModel(base, { seed: 1 + i, scale: 0.1 }));
    const inf = perturbModel(base, { seed: 9, scale: 0.1 });
    writeSafetensors(join(fixture.dir, 'inf.safetensors'), { tensors: inf.tensors.map((t) => ({ ...t, values: t.values.map((v, i) => (i === 3 ? Infinity : v)) })) });
  });
  after(() => fixture.cleanup());

  const similarity = async (recipe: string) => {
    const file = join(fixture.dir, 'recipe.tvr');
    writeFileSync(file, recipe);
    const headers = new HeaderCache();
    const analysis = await analyzeFile(recipe, file, headers);
    assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), []);
    return taskVectorSimilarity(analysis, headers, new ResultsCache(undefined, () => {}));
  };
  const loads = 'base = load("base.safetensors")\nft1 = load("ft1.safetensors")\nft2 = load("ft2.safetensors")\nft3 = load("ft3.safetensors")\n';

  test('only the vectors the saved models use: 300 bindings, one saved', async () => {
    const { matrix, notes } = await similarity(`${loads}${lines(300, (i) => `v${i} = ${i}*(ft${1 + (i % 3)} - base)`)}\nsave(base + v1 + v2, "out.safetensors")\n`);
    assert.deepEqual(matrix?.vectors, ['v1', 'v2']);
    assert.ok(notes.some((n) => /covers the 2 task vectors the evaluated and saved models use, of the recipe's 300/.test(n)), notes.join('\n'));
  });

  test(`at most ${MAX_SIMILARITY_VECTORS} vectors, with a note naming what was left out`, async () => {
    const n = MAX_SIMILARITY_VECTORS + 36;
    const sum = Array.from({ length: n }, (_, i) => `v${i + 1}`).join(' + ');
    const { matrix, notes } = await similarity(`${loads}${lines(n, (i) => `v${i} = ${i}*(ft${1 + (i % 3)} - base)`)}\nsave(base + 0.001*(${sum}), "out.safetensors")\n`);
    assert.equal(matrix?.vectors.length, MAX_SIMILARITY_VECTORS);
    assert.equal(matrix?.cosine.length, MAX_SIMILARITY_VECTORS);
    const note = notes.find((x) => x.startsWith('the similarity matrix shows the first'));
    assert.match(note ?? '', new RegExp(`first ${MAX_SIMILARITY_VECTORS} of ${n} comparable task vectors .*left out: v${MAX_SIMILARITY_VECTORS + 1}, v${MAX_SIMILARITY_VECTORS + 2}, .* and 16 more`));
  });

  test('a vector with an infinite norm is left out with a note naming it, never shown as NaN', async () => {
    const { matrix, notes } = await similarity(`${loads}inf = load("inf.safetensors")\na = ft1 - base\nb = ft2 - base\nbad = inf - base\nsave(base + a + b + bad, "out.safetensors")\n`);
    assert.ok(!matrix?.vectors.includes('bad'));
    assert.ok((matrix?.norms ?? []).every(Number.isFinite) && (matrix?.cosine ?? []).flat().every(Number.isFinite), 'no NaN in the matrix');
    assert.ok(notes.some((n) => /left out of the similarity matrix \(their norm is NaN or infinite.*\): (.*, )?bad$/.test(n)), notes.join('\n'));
  });
});
