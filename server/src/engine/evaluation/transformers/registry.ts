// The built-in transformer evaluators, one family per file: adding a family is adding it
// to this list. The family of a model folder is chosen by its config.json (model_type,
// then architectures); anything else gets a message naming what config.json says and
// pointing to external evaluators.
import { EvaluationError } from '../errors.ts';
import { bert } from './bert.ts';
import type { TransformerFamily } from './family.ts';
import { gpt2 } from './gpt2.ts';
import { llama } from './llama.ts';
import { roberta } from './roberta.ts';

export const FAMILIES: readonly TransformerFamily[] = [gpt2, llama, bert, roberta];

/** The families, as messages list them: `GPT-2 (model_type "gpt2", GPT2LMHeadModel)`. */
function familiesText(families: readonly TransformerFamily[]): string {
  return families.map((f) => `${f.name} (model_type ${f.modelTypes.map((t) => JSON.stringify(t)).join(' or ')}, ${f.architectures.join(' or ')})`).join(', ');
}

/** What config.json says about the architecture, for messages. */
function configText(config: Readonly<Record<string, unknown>>): string {
  const architectures = architecturesOf(config);
  return [
    typeof config['model_type'] === 'string' ? `model_type ${JSON.stringify(config['model_type'])}` : undefined,
    architectures.length > 0 ? `architectures ${architectures.map((a) => JSON.stringify(a)).join(', ')}` : undefined,
  ].filter(Boolean).join(', ') || 'no model_type or architectures';
}

function architecturesOf(config: Readonly<Record<string, unknown>>): string[] {
  return Array.isArray(config['architectures']) ? config['architectures'].filter((a): a is string => typeof a === 'string') : [];
}

/**
 * The family that runs a model folder for a task of `kind` ('causal-lm' for perplexity
 * on text, 'sequence-classification' for labelled text), from its config.json; an
 * EvaluationError naming what the folder is and what to do otherwise.
 */
export function transformerFamily(config: Readonly<Record<string, unknown>> | undefined, what: string): TransformerFamily {
  if (config === undefined) {
    throw new EvaluationError('model', `${what}: the model has no config.json beside its weights, so its architecture is unknown; the built-in text evaluators run Hugging Face model folders (config.json, model.safetensors, tokenizer.json) of ${familiesText(FAMILIES)}. Evaluate other models with task(..., command="...") (see docs/evaluation.md)`);
  }
  const architectures = architecturesOf(config);
  // An explicit head (architectures) decides first: a BERT folder may be a masked LM or a classifier.
  const byArchitecture = FAMILIES.find((f) => f.architectures.some((a) => architectures.includes(a)));
  if (byArchitecture) return byArchitecture;
  const modelType = config['model_type'];
  const byType = architectures.length === 0 ? FAMILIES.filter((f) => typeof modelType === 'string' && f.modelTypes.includes(modelType)) : [];
  if (byType.length === 1) return byType[0]!;
  throw new EvaluationError('model', `${what}: the built-in text evaluators run ${familiesText(FAMILIES)}, but config.json says ${configText(config)}; evaluate this model with an external evaluator, task(..., command="...") (see docs/evaluation.md)`);
}
