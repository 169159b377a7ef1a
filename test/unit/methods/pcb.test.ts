// pcb() from recipe text to the saved file, against a float64 reference written here from the
// authors' pcb_merging (per tensor): clamp the magnitudes at their quantiles, score by
// exp(T normalised²) x tanh(τ_i S), drop below the (1 - ratio) quantile, weighted mean.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { worstError } from '../engine/helpers.ts';
import { finetunedModels, runToTensors } from './method-fixtures.ts';

/** The authors' clamp(x, min_ratio, max_ratio) on one row: to sorted[int(d min)] .. sorted[int(d (1 - max) - 1)]. */
function clampByQuantiles(x: readonly number[], minRatio: number, maxRatio: number): number[] {
  const sorted = [...x].sort((a, b) => a - b);
  const d = x.length;
  const lo = sorted[Math.trunc(d * minRatio)]!;
  const hi = sorted[Math.max(0, Math.trunc(d * (1 - maxRatio) - 1))]!;
  return x.map((v) => Math.min(hi, Math.max(lo, v)));
}

function minMax(x: readonly number[]): number[] {
  const lo = Math.min(...x);
  const hi = Math.max(...x);
  return x.map((v) => (v - lo) / (hi - lo));
}

function pcbReference(tvs: readonly (readonly number[])[], ratio: number, clip: number): number[] {
  const n = tvs.length;
  const sum = tvs[0]!.map((_, i) => tvs.reduce((s, t) => s + t[i]!, 0));
  const clamped = tvs.map((t) => clampByQuantiles(t.map(Math.abs), clip, clip));
  const scales = tvs.map((t, k) => {
    const self = minMax(clamped[k]!).map((x) => Math.exp(n * x ** 2));
    const score = self.map((x, i) => x * Math.tanh(t[i]! * sum[i]!));
    return minMax(clampByQuantiles(score, 1 - ratio, 0));
  });
  return sum.map((_, i) => {
    const num = tvs.reduce((s, t, k) => s + Math.sign(t[i]!) * clamped[k]![i]! * scales[k]![i]!, 0);
    const den = scales.reduce((s, sc) => s + sc[i]!, 0);
    return num / Math.max(den, 1e-12);
  });
}

describe('pcb', () => {
  const fixture = finetunedModels(3, 0.1);
  const { base } = fixture;
  const fts = fixture.finetuned;
  const { header } = fixture;

  for (const { ratio, clip } of [{ ratio: 0.1, clip: 0.0001 }, { ratio: 0.5, clip: 0.05 }, { ratio: 1, clip: 0 }]) {
    for (const chunkElements of [undefined, 64]) {
      test(`ratio=${ratio}, clip=${clip}: the authors' definition per tensor (${chunkElements ? 'streamed in chunks of 64' : 'held in memory'})`, async () => {
        const got = await runToTensors(fixture.dir, `${header}save(base + pcb(t1, t2, t3, ratio=${ratio}, clip=${clip}), "out.safetensors")\n`, chunkElements);
        base.tensors.forEach((tensor, t) => {
          const tvs = fts.map((ft) => Array.from(ft.tensors[t]!.values, (v, i) => Math.fround(v - tensor.values[i]!)));
          const want = pcbReference(tvs, ratio, clip).map((v, i) => v + tensor.values[i]!);
          const { error, index } = worstError(got.get(tensor.name)!, want, 1e-2);
          assert.ok(error <= 1e-6, `${tensor.name}[${index}]: got ${got.get(tensor.name)![index]}, want ${want[index]}`);
        });
      });
    }
  }

  test('a lower ratio drops more: more elements of the merge come from a single task', async () => {
    const count = async (ratio: number) => {
      const got = await runToTensors(fixture.dir, `${header}save(pcb(t1, t2, t3, ratio=${ratio}), "out.safetensors")\n`);
      return [...got.get('head/weight')!].filter((x) => x !== 0).length;
    };
    assert.ok((await count(0.05)) < (await count(0.9)));
  });
});
