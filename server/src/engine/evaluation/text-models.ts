// A model folder ready to evaluate on text: its config.json picks the family
// (transformers/registry.ts), its tokenizer.json tokenizes the task's documents. A causal
// LM is scored on next tokens (text-lm.ts), a sequence classifier on labels (text-classifier.ts).
import type { TextDocument } from '../../checkpoints/text-data.ts';
import type { MaterializedTensor } from '../materialize.ts';
import { TextClassifier } from './text-classifier.ts';
import { CausalLm } from './text-lm.ts';
import type { TextEvaluationOptions, TextMetrics } from './text-lm.ts';
import { loadTokenizer, readModelConfig } from './tokenizer.ts';
import type { TfRuntime } from './tfjs-runtime.ts';
import { transformerFamily } from './transformers/registry.ts';

export type TextModel = CausalLm | TextClassifier;

/** What evaluating any text model takes: its own kind of examples (`E`) from the documents, then metrics over them. */
export interface TextScorer<E> {
  tokenize(documents: readonly TextDocument[], file: string): E[];
  evaluate(weights: ReadonlyMap<string, MaterializedTensor>, examples: readonly E[], options?: TextEvaluationOptions): Promise<TextMetrics>;
}

/** Reads `folder`'s config.json and tokenizer.json; `what` names the task and model in messages. */
export async function loadTextModel(runtime: TfRuntime, folder: string, what: string): Promise<TextModel> {
  const raw = await readModelConfig(folder, what);
  const family = transformerFamily(raw, what);
  const config = family.config(raw!, what);
  const tokenizer = await loadTokenizer(folder, what);
  return family.task === 'causal-lm'
    ? new CausalLm(runtime, family, config, tokenizer, what)
    : new TextClassifier(runtime, family, config, tokenizer, what);
}
