// Chains of thousands of bindings (issue 10, items 5 and 7): the checker limits chain
// depth, but the engine and the run must not depend on it. 5,000 chained `v = v + v`
// or `magnitude_prune` used to overflow the stack in TensorBuilder.build (and in
// sweepsOf, the base of the edit, the results cache key); the cache key of `v{i} = v{i-1} + v{i-1}`
// was a tree expanded per use (2^n). Each is now a walk over the DAG: no recursion, each
// node once, sizes linear in the chain.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { planSaves } from '../../../server/src/engine/plan/build.ts';
import { runProgram } from '../../../server/src/engine/index.ts';
import { preOrder } from '../../../server/src/engine/plan/walk.ts';
import { baseModel } from '../../../server/src/language/base-model.ts';
import { variable } from '../../../server/src/language/poly.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';
import { structureAt, sweepsOf } from '../../../server/src/run/nodes.ts';
import { ProgramBuilder, readSafetensorsOutput } from './helpers.ts';

const DEPTH = 5_000;

type Step = (pb: ProgramBuilder, v: WeightNode) => WeightNode;
const CHAINS: readonly { name: string; step: Step }[] = [
  { name: 'v = 0.5*v + 0.5*v', step: (pb, v) => pb.combine([[0.5, v], [0.5, v]], 'vector') },
  { name: 'v = magnitude_prune(v, 0.999)', step: (pb, v) => pb.prune(v, 0.999) },
  { name: 'v = select(v, all)', step: (pb, v) => pb.select(v, null, []) },
];

describe(`chains ${DEPTH} bindings deep`, () => {
  const fixture = fixtureDir();
  let basePath: string, ftPath: string;
  before(() => {
    const base = makeModel([{ name: 'w', shape: [8, 4] }], { seed: 1 });
    basePath = writeSafetensors(join(fixture.dir, 'base.safetensors'), base);
    ftPath = writeSafetensors(join(fixture.dir, 'ft.safetensors'), perturbModel(base, { seed: 2, scale: 0.1 }));
  });
  after(() => fixture.cleanup());

  const chain = async (step: Step, depth = DEPTH) => {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const b = await pb.load(basePath);
    const f = await pb.load(ftPath);
    const lam = pb.sweep('lam', [0.5, 1]);
    let v = pb.diff(f, b);
    for (let i = 0; i < depth; i++) v = step(pb, v);
    const edited = pb.combine([[1, b], [variable(lam.id), v]], 'model');
    pb.save(edited, join(fixture.dir, 'out.safetensors'), { overwrite: true });
    return { pb, b, edited };
  };

  for (const { name, step } of CHAINS) {
    test(`${name}: planned without recursion, each node once`, async () => {
      const { pb } = await chain(step);
      const [plan] = planSaves(pb.program(), new Map([[1, 0.5]]));
      const w = plan!.tensors[0]!;
      assert.equal(w.kind, 'computed');
      // Linear in the chain: at most a few SSA nodes per binding (not 2^n, not a tree per use).
      assert.ok(w.nodes.length <= 3 * DEPTH + 10, `${w.nodes.length} nodes`);
    });

    test(`${name}: the run's facts about the chain (sweeps, base, cache key) without recursion, linear in size`, async () => {
      const { b, edited } = await chain(step);
      assert.deepEqual([...sweepsOf(edited)], [1]);
      assert.equal(baseModel(preOrder([edited]))?.node, b);
      const key = structureAt(edited, new Map([[1, 0.5]])) as unknown[];
      assert.ok(key.length <= DEPTH + 10, `${key.length} steps in the cache key`);
      assert.ok(JSON.stringify(key).length < 200 * DEPTH, 'the key grows with the chain, not with the paths through it');
    });
  }

  test('the cache key tells different chains apart and equal ones alike', async () => {
    const key = async (step: Step, depth: number) => JSON.stringify(structureAt((await chain(step, depth)).edited, new Map([[1, 0.5]])));
    const doubling = CHAINS[0]!.step;
    assert.equal(await key(doubling, 30), await key(doubling, 30));
    assert.notEqual(await key(doubling, 30), await key(doubling, 31));
    assert.notEqual(await key(doubling, 30), await key(CHAINS[1]!.step, 30));
  });

  test('a doubling chain 5,000 deep runs and writes the value it means (0.5*v + 0.5*v is v)', async () => {
    const { pb } = await chain(CHAINS[0]!.step);
    await runProgram(pb.program(), { backend: 'js', recipeText: 'x', point: new Map([[1, 1]]), overwrite: true });
    const out = readSafetensorsOutput(join(fixture.dir, 'out.safetensors')).tensors.get('w')!.values;
    const ft = readSafetensorsOutput(ftPath).tensors.get('w')!.values;
    out.forEach((x, i) => assert.ok(Math.abs(x - ft[i]!) <= 1e-6 * (1 + Math.abs(ft[i]!)), `element ${i}: ${x} vs ${ft[i]}`));
  });
});
