// BERT sequence classifiers (transformers' BertForSequenceClassification): the shared
// encoder (encoder.ts) under `bert.`, positions 0, 1, 2, ... and the tokenizer's segment
// ids (0 for the text, 1 for the pair), then the pooler (tanh of a Linear of the first
// token, [CLS]) and `classifier`, a Linear to the classes.
import { encoderConfig, EncoderClassifier } from './encoder.ts';
import type { EncoderConfig, EncoderLayout } from './encoder.ts';
import type { ClassifierFamily } from './family.ts';

/** Reads the fields a BERT classifier needs from a parsed config.json; `what` names the model in messages. */
export function bertConfig(raw: Readonly<Record<string, unknown>>, what: string): EncoderConfig {
  return encoderConfig(raw, what, { name: 'BERT', reservedPositions: 0 });
}

/** Position ids 0 .. length-1 in every row (padding comes last and is masked out). */
function absolutePositions(batch: number, length: number): Int32Array {
  const ids = new Int32Array(batch * length);
  for (let i = 0; i < ids.length; i++) ids[i] = i % length;
  return ids;
}

const BERT_LAYOUT: EncoderLayout<EncoderConfig> = {
  name: 'BERT',
  prefix: 'bert',
  headShapes: (c) => [
    ['bert.pooler.dense.weight', [c.hidden, c.hidden]], ['bert.pooler.dense.bias', [c.hidden]],
    ['classifier.weight', [c.labels, c.hidden]], ['classifier.bias', [c.labels]],
  ],
  positionIds: (input) => absolutePositions(input.batch, input.length),
  segmentIds: (input) => input.typeIds,
  head: (tf, first, linear) => linear(tf.tanh(linear(first, 'bert.pooler.dense')), 'classifier'),
};

export const bert: ClassifierFamily<EncoderConfig> = {
  name: 'BERT',
  task: 'sequence-classification',
  modelTypes: ['bert'],
  architectures: ['BertForSequenceClassification'],
  config: bertConfig,
  upload: (tf, config, weights, what) => EncoderClassifier.upload(tf, config, BERT_LAYOUT, weights, what),
};
