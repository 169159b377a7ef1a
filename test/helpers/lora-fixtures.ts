// PEFT LoRA adapter folders written by tests, in the layout `save_pretrained` writes
// (adapter_config.json, adapter_model.safetensors with base_model.model.<module>.lora_A.weight
// [r, in] and .lora_B.weight [out, r]), and ΔW computed from the stored factors in float64
// without tvr code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel, writeSafetensors, type FixtureDtype, type FixtureModel } from './checkpoint-fixtures.ts';

export interface AdapterModule {
  /** The module's name in the base model, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  readonly rank: number;
  readonly inputs: number;
  readonly outputs: number;
  /** An embedding's factors (lora_embedding_A [r, num], lora_embedding_B [dim, r]). */
  readonly embedding?: boolean;
}

/** Writes an adapter folder; `config` is adapter_config.json (peft_type LORA unless it says otherwise). Returns the stored factors. */
export function writeAdapter(dir: string, config: Record<string, unknown>, modules: readonly AdapterModule[], options: { readonly seed?: number; readonly dtype?: FixtureDtype } = {}): FixtureModel {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', bias: 'none', ...config }, null, 2));
  const factors = makeModel(modules.flatMap((m) => [
    { name: factorName(m, 'A'), shape: [m.rank, m.inputs], dtype: options.dtype ?? 'F32' },
    { name: factorName(m, 'B'), shape: [m.outputs, m.rank], dtype: options.dtype ?? 'F32' },
  ]), { seed: options.seed ?? 1, scale: 0.5 });
  writeSafetensors(join(dir, 'adapter_model.safetensors'), factors);
  return factors;
}

export function factorName(m: AdapterModule, side: 'A' | 'B'): string {
  return m.embedding ? `base_model.model.${m.module}.lora_embedding_${side}` : `base_model.model.${m.module}.lora_${side}.weight`;
}

/** scale · B·A in float64, row-major [out, in], or its transpose [in, out]. */
export function deltaW(factors: FixtureModel, m: AdapterModule, scale: number, transposed: boolean): Float64Array {
  const a = factors.tensors.find((t) => t.name === factorName(m, 'A'))!.values;
  const b = factors.tensors.find((t) => t.name === factorName(m, 'B'))!.values;
  const out = new Float64Array(m.outputs * m.inputs);
  for (let i = 0; i < m.outputs; i++) {
    for (let j = 0; j < m.inputs; j++) {
      let sum = 0;
      for (let k = 0; k < m.rank; k++) sum += b[i * m.rank + k]! * a[k * m.inputs + j]!;
      out[transposed ? j * m.outputs + i : i * m.inputs + j] = scale * sum;
    }
  }
  return out;
}
