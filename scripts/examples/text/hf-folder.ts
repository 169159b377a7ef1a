// The language models as Hugging Face folders, the files `save_pretrained` writes for a
// GPT2LMHeadModel: config.json, model.safetensors (F32, `{"format": "pt"}` plus the
// training key in its metadata), tokenizer.json, tokenizer_config.json and
// generation_config.json. Read back through the project's own checkpoint readers.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { TensorReader } from '../../../server/src/checkpoints/tensor-reader.ts';
import { safetensorsHeader } from '../../../server/src/checkpoints/write-safetensors.ts';
import { gpt2Tensors } from './gpt2-train.ts';
import type { Gpt2Shape, Gpt2Weights } from './gpt2-train.ts';
import { tokenizerConfigJson } from './tokenizer.ts';

const WEIGHTS_FILE = 'model.safetensors';

/** config.json of a GPT2LMHeadModel of this shape (tied head; dropout as transformers' defaults, unused by tvr). */
export function gpt2ConfigJson(s: Gpt2Shape, endOfText: number): Record<string, unknown> {
  return {
    activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], attn_pdrop: 0.1, bos_token_id: endOfText,
    embd_pdrop: 0.1, eos_token_id: endOfText, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2',
    n_ctx: s.positions, n_embd: s.hidden, n_head: s.heads, n_inner: s.inner, n_layer: s.layers, n_positions: s.positions,
    reorder_and_upcast_attn: false, resid_pdrop: 0.1, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true,
    torch_dtype: 'float32', use_cache: true, vocab_size: s.vocab,
  };
}

/** The training key stored in a folder's model.safetensors, or undefined when absent or unreadable. */
export function storedTrainKey(dir: string): string | undefined {
  try {
    const bytes = readFileSync(join(dir, WEIGHTS_FILE));
    const length = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as { __metadata__?: { train_key?: unknown } };
    const key = header.__metadata__?.train_key;
    return typeof key === 'string' && existsSync(join(dir, 'tokenizer.json')) ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the folder whole: into a sibling first, renamed into place, so a stopped run leaves no half folder. */
export function writeGpt2Folder(dir: string, s: Gpt2Shape, weights: Gpt2Weights, tokenizer: Record<string, unknown>, metadata: Readonly<Record<string, string>>): void {
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const tensors = gpt2Tensors(s).map((t) => ({ ...t, dtype: 'F32' as const }));
  const parts: Uint8Array[] = [safetensorsHeader(tensors, metadata)];
  for (const t of tensors) {
    const values = weights.get(t.name)!;
    parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  writeFileSync(join(staging, WEIGHTS_FILE), Buffer.concat(parts));
  const endOfText = s.vocab - 1;
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  writeFileSync(join(staging, 'config.json'), json(gpt2ConfigJson(s, endOfText)));
  writeFileSync(join(staging, 'generation_config.json'), json({ bos_token_id: endOfText, eos_token_id: endOfText }));
  writeFileSync(join(staging, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(staging, 'tokenizer_config.json'), json(tokenizerConfigJson(s.positions)));
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
}

/** The tensors of a folder written by writeGpt2Folder, as float32. */
export async function readGpt2Tensors(dir: string): Promise<{ readonly name: string; readonly shape: readonly number[]; readonly values: Float32Array }[]> {
  const header = await readCheckpointHeader(join(dir, WEIGHTS_FILE));
  const reader = new TensorReader([header]);
  try {
    const tensors = [];
    for (const [name, info] of header.tensors) {
      const values = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
      await reader.readFloat32(info, 0, values);
      tensors.push({ name, shape: info.shape, values });
    }
    return tensors;
  } finally {
    await reader.close();
  }
}

/** The weights of a folder written by writeGpt2Folder, by name. */
export async function readGpt2Weights(dir: string): Promise<Map<string, Float32Array>> {
  return new Map((await readGpt2Tensors(dir)).map((t) => [t.name, t.values]));
}

/** The tokenizer.json of a folder. */
export function readTokenizerJson(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
}
