// RoBERTa sequence classifiers (transformers' RobertaForSequenceClassification): the shared
// encoder (encoder.ts) under `roberta.`, with positions counted from pad_token_id + 1 over
// the non-padding tokens only (so the table's first pad_token_id + 1 rows are never used
// by text) and segment 0 throughout (RoBERTa's tokenizer gives no token_type_ids), then
// the head on the first token (<s>): `classifier.dense`, tanh, `classifier.out_proj`.
// There is no pooler.
import { encoderConfig, EncoderClassifier } from './encoder.ts';
import type { EncoderConfig, EncoderLayout } from './encoder.ts';
import { ConfigReader } from './family.ts';
import type { ClassifierFamily, EncodedBatch } from './family.ts';

export interface RobertaConfig extends EncoderConfig {
  /** pad_token_id: the position of padding, and the row before the first text position. */
  readonly paddingIndex: number;
}

/** Reads the fields a RoBERTa classifier needs from a parsed config.json; `what` names the model in messages. */
export function robertaConfig(raw: Readonly<Record<string, unknown>>, what: string): RobertaConfig {
  const r = new ConfigReader(raw, what);
  const padding = r.get('pad_token_id') ?? 1;
  const paddingIndex = typeof padding === 'number' && Number.isSafeInteger(padding) && padding >= 0 ? padding : r.fail(`config.json's pad_token_id is ${JSON.stringify(padding)}, not a non-negative integer`);
  return { ...encoderConfig(raw, what, { name: 'RoBERTa', reservedPositions: paddingIndex + 1 }), paddingIndex };
}

/**
 * transformers' create_position_ids_from_input_ids: a token that is not padding (mask 1
 * and not pad_token_id) at its n-th such place gets pad_token_id + n; padding gets pad_token_id.
 */
export function robertaPositions(input: EncodedBatch, paddingIndex: number): Int32Array {
  const positions = new Int32Array(input.batch * input.length);
  for (let b = 0; b < input.batch; b++) {
    let count = 0;
    for (let t = 0; t < input.length; t++) {
      const at = b * input.length + t;
      const real = input.mask[at] === 1 && input.ids[at] !== paddingIndex;
      positions[at] = real ? paddingIndex + ++count : paddingIndex;
    }
  }
  return positions;
}

const ROBERTA_LAYOUT: EncoderLayout<RobertaConfig> = {
  name: 'RoBERTa',
  prefix: 'roberta',
  headShapes: (c) => [
    ['classifier.dense.weight', [c.hidden, c.hidden]], ['classifier.dense.bias', [c.hidden]],
    ['classifier.out_proj.weight', [c.labels, c.hidden]], ['classifier.out_proj.bias', [c.labels]],
  ],
  positionIds: (input, c) => robertaPositions(input, c.paddingIndex),
  segmentIds: (input) => new Int32Array(input.ids.length),
  head: (tf, first, linear) => linear(tf.tanh(linear(first, 'classifier.dense')), 'classifier.out_proj'),
};

export const roberta: ClassifierFamily<RobertaConfig> = {
  name: 'RoBERTa',
  task: 'sequence-classification',
  modelTypes: ['roberta'],
  architectures: ['RobertaForSequenceClassification'],
  config: robertaConfig,
  upload: (tf, config, weights, what) => EncoderClassifier.upload(tf, config, ROBERTA_LAYOUT, weights, what),
};
