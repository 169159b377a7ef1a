// The encoder BERT and RoBERTa share (transformers' BertModel / RobertaModel), as a
// sequence classifier on TensorFlow.js: word + position + segment embeddings and a layer
// norm, then N post-norm blocks of bidirectional self-attention (padded keys masked out)
// and a gelu MLP, Linear weights stored [out, in]. bert.ts and roberta.ts give what
// differs: the tensor prefix, position and segment ids, and the head on the first token.
import type { MaterializedTensor } from '../../materialize.ts';
import { EvaluationError } from '../errors.ts';
import { ConfigReader, disposeAll, uploadExact } from './family.ts';
import type { ClassifierConfig, ClassifierWeights, EncodedBatch, Tensor, Tf } from './family.ts';
import { geluNew, layerNorm, splitHeads } from './layers.ts';

export interface EncoderConfig extends ClassifierConfig {
  readonly layers: number;
  readonly heads: number;
  readonly hidden: number;
  /** The MLP's width (intermediate_size). */
  readonly intermediate: number;
  readonly epsilon: number;
  /** Rows of the position table (max_position_embeddings); `positions` may be fewer (RoBERTa). */
  readonly positionRows: number;
  /** Rows of the segment table (type_vocab_size). */
  readonly segments: number;
  readonly activation: 'gelu' | 'gelu_new';
}

/** The classes of a sequence-classification head as transformers reads them: id2label's size, else num_labels, else 2. */
function headClasses(r: ConfigReader): number {
  const id2label = r.get('id2label');
  if (id2label !== undefined && id2label !== null) {
    if (typeof id2label !== 'object' || Array.isArray(id2label) || Object.keys(id2label).length === 0) r.fail(`config.json's id2label is ${JSON.stringify(id2label)}, not an object of labels by class id`);
    return Object.keys(id2label).length;
  }
  return r.optionalInteger('num_labels') ?? 2;
}

/**
 * Reads what every encoder classifier needs from config.json; refuses what the built-in
 * evaluator does not compute (another activation or position embedding, a decoder, a
 * multi-label or regression head), naming the key. `reservedPositions` are the position
 * table's first rows that text never uses (RoBERTa's, up to its padding index).
 */
export function encoderConfig(raw: Readonly<Record<string, unknown>>, what: string, family: { readonly name: string; readonly reservedPositions: number }): EncoderConfig {
  const r = new ConfigReader(raw, what);
  const activation = r.choice('hidden_act', 'gelu', ['gelu', 'gelu_new'], family.name) as EncoderConfig['activation'];
  r.choice('position_embedding_type', 'absolute', ['absolute'], family.name);
  if (r.boolean('is_decoder', false)) r.fail(`config.json's is_decoder is true (causal attention); the built-in ${family.name} evaluator runs the bidirectional encoder of a sequence classifier`);
  const labels = headClasses(r);
  const problem = r.get('problem_type') ?? (labels === 1 ? 'regression' : 'single_label_classification');
  if (problem !== 'single_label_classification') {
    r.fail(`config.json's problem_type is ${JSON.stringify(problem)}${labels === 1 ? ' (num_labels 1)' : ''}; the built-in ${family.name} evaluator scores single-label classification (accuracy, cross-entropy); evaluate it with task(..., command="...")`);
  }
  const hidden = r.integer('hidden_size');
  const heads = r.integer('num_attention_heads');
  if (hidden % heads !== 0) r.fail(`config.json's hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
  const positionRows = r.integer('max_position_embeddings');
  if (positionRows <= family.reservedPositions) r.fail(`config.json's max_position_embeddings ${positionRows} leaves no position for text after the first ${family.reservedPositions} (pad_token_id + 1)`);
  return {
    layers: r.integer('num_hidden_layers'),
    heads,
    hidden,
    intermediate: r.integer('intermediate_size'),
    epsilon: r.positive('layer_norm_eps', 1e-12),
    positionRows,
    positions: positionRows - family.reservedPositions,
    segments: r.optionalInteger('type_vocab_size') ?? 2,
    vocab: r.integer('vocab_size'),
    labels,
    activation,
  };
}

/** Every tensor of the encoder under `prefix` ("bert"), with its shape. */
export function encoderTensorShapes(c: EncoderConfig, prefix: string): Map<string, readonly number[]> {
  const h = c.hidden;
  const shapes = new Map<string, readonly number[]>([
    [`${prefix}.embeddings.word_embeddings.weight`, [c.vocab, h]],
    [`${prefix}.embeddings.position_embeddings.weight`, [c.positionRows, h]],
    [`${prefix}.embeddings.token_type_embeddings.weight`, [c.segments, h]],
    [`${prefix}.embeddings.LayerNorm.weight`, [h]],
    [`${prefix}.embeddings.LayerNorm.bias`, [h]],
  ]);
  for (let i = 0; i < c.layers; i++) {
    const p = `${prefix}.encoder.layer.${i}`;
    for (const [name, shape] of [
      ['attention.self.query', [h, h]], ['attention.self.key', [h, h]], ['attention.self.value', [h, h]],
      ['attention.output.dense', [h, h]], ['intermediate.dense', [c.intermediate, h]], ['output.dense', [h, c.intermediate]],
    ] as const) {
      shapes.set(`${p}.${name}.weight`, shape);
      shapes.set(`${p}.${name}.bias`, [shape[0]]);
    }
    for (const norm of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      shapes.set(`${p}.${norm}.weight`, [h]);
      shapes.set(`${p}.${norm}.bias`, [h]);
    }
  }
  return shapes;
}

/** What a family adds to the shared encoder. */
export interface EncoderLayout<C extends EncoderConfig> {
  /** How messages name the model: "BERT". */
  readonly name: string;
  /** The base model's tensor prefix: "bert". */
  readonly prefix: string;
  /** The head's tensors (after the encoder's), with their shapes. */
  headShapes(c: C): [string, readonly number[]][];
  /** Position ids [batch, length] of a batch. */
  positionIds(input: EncodedBatch, c: C): Int32Array;
  /** Segment ids [batch, length] of a batch (checked against type_vocab_size by the caller). */
  segmentIds(input: EncodedBatch): Int32Array;
  /** Logits [batch, labels] from the first token's final hidden state [batch, hidden]; `linear` applies a Linear by name. */
  head(tf: Tf, first: Tensor, linear: (x: Tensor, name: string) => Tensor): Tensor;
}

/** Buffers some checkpoints hold (position and segment ids the forward pass rebuilds). */
function buffersOf(prefix: string): RegExp {
  return new RegExp(`^${prefix}\\.embeddings\\.(position_ids|token_type_ids)$`);
}

/** An encoder classifier's weights on the tfjs backend; dispose() frees them. */
export class EncoderClassifier<C extends EncoderConfig> implements ClassifierWeights {
  readonly #tf: Tf;
  readonly #config: C;
  readonly #layout: EncoderLayout<C>;
  readonly #tensors: Map<string, Tensor>;
  readonly #what: string;

  private constructor(tf: Tf, config: C, layout: EncoderLayout<C>, tensors: Map<string, Tensor>, what: string) {
    this.#tf = tf;
    this.#config = config;
    this.#layout = layout;
    this.#tensors = tensors;
    this.#what = what;
  }

  /** Uploads `weights` after checking that they are exactly the encoder and head of `config`. */
  static upload<C extends EncoderConfig>(tf: Tf, config: C, layout: EncoderLayout<C>, weights: ReadonlyMap<string, MaterializedTensor>, what: string): EncoderClassifier<C> {
    const shapes = encoderTensorShapes(config, layout.prefix);
    for (const [name, shape] of layout.headShapes(config)) shapes.set(name, shape);
    const model = `a ${layout.name} sequence classifier of ${config.layers} layers and ${config.labels} classes`;
    // Every 2-D weight but the embeddings is a Linear's [out, in]: stored transposed (see uploadExact).
    const tensors = uploadExact(tf, shapes, weights, what, model, { buffers: buffersOf(layout.prefix), transpose: (name) => name.endsWith('.weight') && shapes.get(name)!.length === 2 && !name.includes('.embeddings.') });
    return new EncoderClassifier(tf, config, layout, tensors, what);
  }

  dispose(): void {
    disposeAll(this.#tensors);
  }

  #w(name: string): Tensor {
    return this.#tensors.get(name)!;
  }

  /** x [..., in] times the Linear `name` (weight [out, in], stored transposed) plus its bias. */
  #linear(x: Tensor, name: string): Tensor {
    const tf = this.#tf;
    const shape = x.shape;
    const flat = tf.reshape(x, [-1, shape[shape.length - 1]!]);
    const y = tf.add(tf.matMul(flat, this.#w(`${name}.weight`)), this.#w(`${name}.bias`));
    return tf.reshape(y, [...shape.slice(0, -1), y.shape[1]!]);
  }

  #norm(x: Tensor, name: string): Tensor {
    return layerNorm(this.#tf, x, this.#w(`${name}.weight`), this.#w(`${name}.bias`), this.#config.epsilon);
  }

  #activation(x: Tensor): Tensor {
    const tf = this.#tf;
    // transformers' "gelu" is the exact one: x/2 (1 + erf(x / sqrt 2)).
    return this.#config.activation === 'gelu_new' ? geluNew(tf, x) : tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
  }

  #segments(input: EncodedBatch): Int32Array {
    const segments = this.#layout.segmentIds(input);
    const outside = segments.find((s) => s < 0 || s >= this.#config.segments);
    if (outside !== undefined) {
      throw new EvaluationError('model', `${this.#what}: the tokenizer gives segment id ${outside}, but config.json's type_vocab_size is ${this.#config.segments}: the tokenizer does not belong to this model`);
    }
    return segments;
  }

  logits(input: EncodedBatch): Tensor {
    const tf = this.#tf;
    const c = this.#config;
    const { batch, length } = input;
    if (length > c.positions) throw new RangeError(`a sequence of ${length} tokens exceeds the ${c.positions} positions of the model`);
    const segments = this.#segments(input);
    const headSize = c.hidden / c.heads;
    const p = this.#layout.prefix;
    return tf.tidy(() => {
      const table = (name: string, ids: Int32Array): Tensor => tf.gather(this.#w(`${p}.embeddings.${name}.weight`), tf.tensor2d(ids, [batch, length], 'int32'));
      const embedded = tf.add(tf.add(table('word_embeddings', input.ids), table('position_embeddings', this.#layout.positionIds(input, c))), table('token_type_embeddings', segments));
      let x = this.#norm(embedded, `${p}.embeddings.LayerNorm`);
      // Padded keys get a large negative score: no real token attends to padding.
      const keyMask = tf.reshape(tf.mul(tf.sub(1, tf.tensor2d(input.mask, [batch, length], 'float32')), -1e9), [batch, 1, 1, length]);
      const scale = 1 / Math.sqrt(headSize);
      for (let i = 0; i < c.layers; i++) {
        const l = `${p}.encoder.layer.${i}`;
        const [q, k, v] = ['query', 'key', 'value'].map((n) => splitHeads(tf, this.#linear(x, `${l}.attention.self.${n}`), c.heads, headSize));
        const scores = tf.add(tf.mul(tf.matMul(q!, tf.transpose(k!, [0, 1, 3, 2])), scale), keyMask);
        const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), v!), [0, 2, 1, 3]), [batch, length, c.hidden]);
        x = this.#norm(tf.add(this.#linear(attended, `${l}.attention.output.dense`), x), `${l}.attention.output.LayerNorm`);
        const inner = this.#activation(this.#linear(x, `${l}.intermediate.dense`));
        x = this.#norm(tf.add(this.#linear(inner, `${l}.output.dense`), x), `${l}.output.LayerNorm`);
      }
      const first = tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, c.hidden]), [batch, c.hidden]);
      return this.#layout.head(tf, first, (t, name) => this.#linear(t, name));
    });
  }
}
