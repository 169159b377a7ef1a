// A model folder ready to evaluate on text: its config.json picks the family
// (transformers/registry.ts), its tokenizer.json tokenizes the task's documents.
import { EvaluationError } from './errors.ts';
import { CausalLm } from './text-lm.ts';
import { loadTokenizer, readModelConfig } from './tokenizer.ts';
import type { TfRuntime } from './tfjs-runtime.ts';
import { transformerFamily } from './transformers/registry.ts';

export type TextModel = CausalLm;

/** Reads `folder`'s config.json and tokenizer.json; `what` names the task and model in messages. */
export async function loadTextModel(runtime: TfRuntime, folder: string, what: string): Promise<TextModel> {
  const raw = await readModelConfig(folder, what);
  const family = transformerFamily(raw, what);
  const config = family.config(raw!, what);
  const tokenizer = await loadTokenizer(folder, what);
  if (family.task === 'causal-lm') return new CausalLm(runtime, family, config, tokenizer, what);
  throw new EvaluationError('model', `${what}: ${family.name} is a ${family.task} model, which the built-in text evaluator does not run yet`);
}
