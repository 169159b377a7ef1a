// Models computed into memory at sweep points: the values match an independent
// computation, and the input tensors are read from the files once for the whole sweep
// when they fit the memory budget (and at every point when they do not).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import type { CheckpointHeader } from '../../../server/src/checkpoints/types.ts';
import { selectBackend } from '../../../server/src/engine/backends/registry.ts';
import { TensorMemo } from '../../../server/src/engine/evaluation/weights.ts';
import { materializeWith } from '../../../server/src/engine/materialize.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import type { TypedProgram } from '../../../server/src/language/program.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { LAMBDAS, makeScenario, multiAt, MULTI_RECIPE, writeRecipe } from '../run/scenario.ts';
import type { Scenario } from '../run/scenario.ts';

describe('models in memory across sweep points', () => {
  const { dir, cleanup } = fixtureDir();
  let s: Scenario;
  let program: TypedProgram;
  before(async () => {
    s = makeScenario(dir);
    const recipe = writeRecipe(dir, 'multi.tvr', MULTI_RECIPE);
    program = (await analyzeFile(readFileSync(recipe, 'utf8'), recipe, new HeaderCache())).checked.program;
  });
  after(cleanup);

  // The encoder of one model: dense1/kernel [4, 6] and dense1/bias [6], float32.
  const encoderBytes = (4 * 6 + 6) * 4;
  // multi = (1 - 2 lam) base + lam a + lam b: the engine reads only inputs whose coefficient is not 0.
  const readsAt = (lam: number): number => [1 - 2 * lam, lam, lam].filter((c) => c !== 0).length * encoderBytes;
  const cases = [
    { name: 'within the budget: each input read once', budget: 1 << 20, read: 3 * encoderBytes, kept: 3 * encoderBytes },
    { name: 'no budget: inputs read at every point', budget: 0, read: LAMBDAS.reduce((sum, lam) => sum + readsAt(lam), 0), kept: 0 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { backend } = await selectBackend('js');
      const reader = new TensorReader(program.loads.map((l) => l.header).filter((h): h is CheckpointHeader => h !== undefined));
      const memo = new TensorMemo(c.budget);
      const multi = program.evaluations[0]!.models[0]!.node;
      const lam = program.sweeps[0]!;
      try {
        for (const value of LAMBDAS) {
          const tensors = await materializeWith({ program, backend, reader, memo }, multi, new Map([[lam.id, value]]));
          const want = multiAt(s, value);
          assert.deepEqual([...tensors.keys()], ['dense1/kernel', 'dense1/bias']);
          tensors.get('dense1/kernel')!.values!.forEach((v, i) => assert.ok(Math.abs(v - want.w1.flat()[i]!) < 1e-6, `kernel ${i} at ${value}`));
          tensors.get('dense1/bias')!.values!.forEach((v, i) => assert.ok(Math.abs(v - want.b1[i]!) < 1e-6, `bias ${i} at ${value}`));
        }
      } finally {
        await reader.close();
        await backend.close();
      }
      assert.equal(memo.bytesRead, c.read);
      assert.equal(memo.bytesKept, c.kept);
    });
  }
});
