// Norms of LoRA adapters' ΔW from their factors (tr(BᵀB · AAᵀ)), against ΔW = scale · B·A
// formed explicitly in float64 from the stored factors: the pure computation on random
// factors, and the worker pass over adapter folders (rank_pattern, alpha_pattern, rsLoRA,
// fan_in_fan_out, embeddings; F32, F16 and BF16 factors) with the scale the test derives
// itself; a changed adapter file and a cancelled pass.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loraNormSquared } from '../../../server/src/checkpoints/lora-norm.ts';
import { loraModules } from '../../../server/src/checkpoints/peft-adapter.ts';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { computeLoraNorms } from '../../../server/src/checkpoints/statistics.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, type FixtureDtype, type FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { deltaW, factorName, writeAdapter, type AdapterModule } from '../../helpers/lora-fixtures.ts';

const squaredSum = (values: Float64Array): number => values.reduce((sum, v) => sum + v * v, 0);
const factor = (factors: FixtureModel, m: AdapterModule, side: 'A' | 'B'): Float32Array => Float32Array.from(factors.tensors.find((t) => t.name === factorName(m, side))!.values);

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * expected, `${what}: ${actual}, ΔW formed in float64 gives ${expected}`);
}

test('‖scale · B·A‖² from the factors equals the sum of squares of ΔW formed in float64', () => {
  const shapes: AdapterModule[] = [
    { module: 'rank1', rank: 1, inputs: 7, outputs: 5 },
    { module: 'wide', rank: 3, inputs: 40, outputs: 2 },
    { module: 'tall', rank: 8, inputs: 6, outputs: 33 },
    { module: 'square', rank: 16, inputs: 64, outputs: 64 },
  ];
  for (const [i, m] of shapes.entries()) {
    const factors = makeModel([{ name: factorName(m, 'A'), shape: [m.rank, m.inputs] }, { name: factorName(m, 'B'), shape: [m.outputs, m.rank] }], { seed: 10 + i, scale: 0.7 });
    const scale = 1.7 + i;
    const expected = squaredSum(deltaW(factors, m, scale, false));
    assertClose(loraNormSquared(factor(factors, m, 'A'), factor(factors, m, 'B'), m.rank, scale), expected, m.module);
    assertClose(squaredSum(deltaW(factors, m, scale, true)), expected, `${m.module} transposed`);
  }
});

describe('the norm pass over adapter folders', () => {
  const { dir, cleanup } = fixtureDir();
  after(cleanup);

  const q: AdapterModule = { module: 'model.layers.0.self_attn.q_proj', rank: 4, inputs: 6, outputs: 8 };
  const v: AdapterModule = { module: 'model.layers.0.self_attn.v_proj', rank: 2, inputs: 6, outputs: 4 };
  const fc: AdapterModule = { module: 'model.layers.0.mlp.c_fc', rank: 3, inputs: 6, outputs: 12 };
  const embedding: AdapterModule = { module: 'model.embed_tokens', rank: 4, inputs: 10, outputs: 6, embedding: true };

  /** Each adapter with its modules' scales as PEFT computes them, derived here from the configuration by hand. */
  const cases: { name: string; config: Record<string, unknown>; dtype: FixtureDtype; modules: [AdapterModule, number][] }[] = [
    // v_proj: rank 2 from rank_pattern, alpha 3 from alpha_pattern (a dotted suffix).
    { name: 'patterns', config: { r: 4, lora_alpha: 8, rank_pattern: { v_proj: 2 }, alpha_pattern: { 'self_attn.v_proj': 3 } }, dtype: 'F32', modules: [[q, 8 / 4], [v, 3 / 2], [embedding, 8 / 4]] },
    { name: 'rslora', config: { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { v_proj: 2 } }, dtype: 'BF16', modules: [[q, 8 / Math.sqrt(4)], [v, 8 / Math.sqrt(2)]] },
    { name: 'conv1d', config: { r: 3, lora_alpha: 6, fan_in_fan_out: true }, dtype: 'F16', modules: [[fc, 6 / 3]] },
  ];

  for (const [i, c] of cases.entries()) {
    test(`${c.name} (${c.dtype}): each module's ‖ΔW‖² and element count`, async () => {
      const folder = join(dir, c.name);
      const factors = writeAdapter(folder, c.config, c.modules.map(([m]) => m), { seed: 20 + i, dtype: c.dtype });
      const header = await readCheckpointHeader(folder);
      const found = loraModules(header, header.loraAdapter!);
      assert.ok('modules' in found, JSON.stringify(found));
      const norms = await computeLoraNorms(header, found.modules);
      assert.deepEqual(norms.modules.map((n) => n.tensor), c.modules.map(([m]) => `${m.module}.weight`));
      for (const [j, [m, scale]] of c.modules.entries()) {
        const transposed = m.embedding === true || c.config['fan_in_fan_out'] === true;
        assertClose(norms.modules[j]!.squaredNorm, squaredSum(deltaW(factors, m, scale, transposed)), m.module);
        assert.equal(norms.modules[j]!.elements, m.inputs * m.outputs);
      }
    });
  }

  test('an adapter file changed since its header was read is a changed-on-disk error naming it', async () => {
    const folder = join(dir, 'changed');
    writeAdapter(folder, { r: 4, lora_alpha: 8 }, [q]);
    const header = await readCheckpointHeader(folder);
    const found = loraModules(header, header.loraAdapter!);
    assert.ok('modules' in found);
    appendFileSync(join(folder, 'adapter_model.safetensors'), 'x');
    await assert.rejects(computeLoraNorms(header, found.modules), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.equal(e.code, 'changed-on-disk');
      assert.equal(e.file, join(folder, 'adapter_model.safetensors'));
      assert.match(e.message, /changed since its header was read \(size \d+ -> \d+ bytes\) while reading tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight"/);
      return true;
    });
  });

  test('a cancelled pass rejects with the reason', async () => {
    const folder = join(dir, 'cancelled');
    writeAdapter(folder, { r: 4, lora_alpha: 8 }, [q]);
    const header = await readCheckpointHeader(folder);
    const found = loraModules(header, header.loraAdapter!);
    assert.ok('modules' in found);
    const controller = new AbortController();
    const reason = new Error('document closed');
    controller.abort(reason);
    await assert.rejects(computeLoraNorms(header, found.modules, { signal: controller.signal }), (e) => e === reason);
  });
});
