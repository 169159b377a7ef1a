// What the evaluators' tests share to compare tvr with an independent numpy reference:
// running the reference script on a folder, float32 weights from a fixture model, the
// logits of a model uploaded for one computation, and the relative error of two outputs.
import { execFileSync } from 'node:child_process';
import type { MaterializedTensor } from '../../server/src/engine/materialize.ts';
import type { Tensor } from '../../server/src/engine/evaluation/transformers/family.ts';
import type { FixtureModel } from './checkpoint-fixtures.ts';

/** A reference script's answer to `request` (JSON on stdin) about the model folder `folder`. */
export function runReference<T>(script: string, folder: string, request: unknown): T {
  return JSON.parse(execFileSync('python3', [script, folder], { input: JSON.stringify(request), encoding: 'utf8' })) as T;
}

/** A fixture model's tensors as the evaluators receive them (float32). */
export function floatTensors(model: FixtureModel): Map<string, MaterializedTensor> {
  return new Map(model.tensors.map((t) => [t.name, { name: t.name, shape: t.shape, dtype: 'F32' as const, values: Float32Array.from(t.values) }]));
}

/** The values of `compute` on weights uploaded by `upload`; both freed afterwards. */
export async function computeOnce<W extends { dispose(): void }>(upload: () => W, compute: (weights: W) => Tensor): Promise<Float32Array> {
  const weights = upload();
  try {
    const out = compute(weights);
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  } finally {
    weights.dispose();
  }
}

/** max |actual - expected| / max |expected|. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}
