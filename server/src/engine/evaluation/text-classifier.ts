// The built-in evaluator of sequence classifiers (BERT, RoBERTa) on text tasks: the
// evaluated model's folder gives config.json (which architecture, how many classes) and
// tokenizer.json; each line of the split is one example, its "text" (and "text_pair")
// tokenized with the tokenizer's special tokens ([CLS] text [SEP] pair [SEP] for BERT),
// cut to the model's positions when longer, and classified by the model's own head.
// accuracy = the fraction of examples whose arg-max logit is their "label"; loss = the
// mean cross-entropy over examples. Documented in docs/evaluation.md.
import type { MaterializedTensor } from '../materialize.ts';
import { EvaluationError, evaluationCancelled } from './errors.ts';
import { accumulate, emptyTotals, finish } from './metrics.ts';
import type { TextEvaluationOptions, TextMetrics } from './text-lm.ts';
import type { Encoded, TextTokenizer } from './tokenizer.ts';
import type { ClassifierConfig, ClassifierFamily, EncodedBatch } from './transformers/family.ts';
import { activate, checkTensorsFit } from './tfjs-runtime.ts';
import type { TfRuntime } from './tfjs-runtime.ts';

/** Tokens per forward batch (padded length x examples). */
const TOKENS_PER_BATCH = 4096;

/** One example of a classifier's data: a line of the file. */
export interface LabelledText {
  readonly text: string;
  readonly textPair?: string;
  readonly label?: number;
  /** 1-based line number in the file. */
  readonly line: number;
}

/** An example tokenized for the model, with its class. */
export interface ClassifierExample extends Encoded {
  readonly label: number;
}

/**
 * Tokens kept of a text and its pair so that together they fit `budget` (the positions
 * left after the special tokens): the longer loses tokens first, and when both must be
 * cut the text keeps half the budget and the pair the rest (transformers' "longest_first").
 */
export function truncatedLengths(text: number, pair: number, budget: number): readonly [number, number] {
  if (text + pair <= budget) return [text, pair];
  // On equal lengths the pair counts as the longer one.
  const textIsShorter = text <= pair;
  const shorter = Math.min(text, pair);
  const half = Math.floor(budget / 2);
  const kept = shorter <= half ? [shorter, budget - shorter] : [half, budget - half];
  return textIsShorter ? [kept[0]!, kept[1]!] : [kept[1]!, kept[0]!];
}

/** Where `run` first occurs in `sequence` at or after `from`; -1 when nowhere. */
function indexOfRun(sequence: Int32Array, run: Int32Array, from: number): number {
  for (let i = from; i + run.length <= sequence.length; i++) {
    let j = 0;
    while (j < run.length && sequence[i + j] === run[j]) j++;
    if (j === run.length) return i;
  }
  return -1;
}

/** A sequence classifier of one model folder: its family, configuration and tokenizer, ready for any weights of that shape. */
export class TextClassifier {
  readonly #runtime: TfRuntime;
  readonly #family: ClassifierFamily;
  readonly config: ClassifierConfig;
  readonly tokenizer: TextTokenizer;
  readonly #what: string;

  /** `what` names the task and model in messages. */
  constructor(runtime: TfRuntime, family: ClassifierFamily, config: ClassifierConfig, tokenizer: TextTokenizer, what: string) {
    this.#runtime = runtime;
    this.#family = family;
    this.config = config;
    this.tokenizer = tokenizer;
    this.#what = what;
  }

  /**
   * Each example's tokens with special tokens, cut to the model's positions, and its label.
   * A missing label, a label outside the head's classes, or a token id outside the
   * vocabulary is a data error naming the line.
   */
  tokenize(documents: readonly LabelledText[], file: string): ClassifierExample[] {
    const classes = this.config.labels;
    return documents.map((d) => {
      const at = `${this.#what}: line ${d.line} of ${file}`;
      if (d.label === undefined) throw new EvaluationError('data', `${at} has no "label": a sequence classifier's examples need one, an integer class from 0 to ${classes - 1}`, { file });
      if (d.label >= classes) throw new EvaluationError('data', `${at} has label ${d.label}, outside the ${classes} classes of the model's head (config.json id2label or num_labels): labels are 0 to ${classes - 1}`, { file });
      const encoded = this.#encodeWithin(d, at);
      if (encoded.ids.length === 0) throw new EvaluationError('data', `${at} gives no tokens: its text is empty and the tokenizer adds no special tokens`, { file });
      const outside = encoded.ids.find((id) => id < 0 || id >= this.config.vocab);
      if (outside !== undefined) {
        throw new EvaluationError('data', `${at} gives token id ${outside}, outside the model's vocabulary of ${this.config.vocab} (config.json vocab_size): the tokenizer does not belong to this model`, { file });
      }
      return { ...encoded, label: d.label };
    });
  }

  /** The example encoded with special tokens; when longer than the model's positions, its text and pair cut by truncatedLengths. */
  #encodeWithin(d: LabelledText, at: string): Encoded {
    const positions = this.config.positions;
    const full = this.tokenizer.encode(d.text, { ...(d.textPair !== undefined ? { pair: d.textPair } : {}), specialTokens: true });
    if (full.ids.length <= positions) return full;
    const text = this.tokenizer.encode(d.text).ids;
    const pair = d.textPair ? this.tokenizer.encode(d.textPair).ids : new Int32Array(0);
    const special = full.ids.length - text.length - pair.length;
    if (special >= positions) throw new EvaluationError('model', `${this.#what}: the tokenizer adds ${special} special tokens, leaving no room for text in the model's ${positions} positions`);
    const [keepText, keepPair] = truncatedLengths(text.length, pair.length, positions - special);
    // The post-processor places the text's tokens, then the pair's, among its special tokens: find both runs and shorten them.
    const textAt = indexOfRun(full.ids, text, 0);
    const pairAt = textAt < 0 ? -1 : indexOfRun(full.ids, pair, textAt + text.length);
    if (pairAt < 0) throw new EvaluationError('model', `${at} is longer than the model's ${positions} positions, and the tokenizer's post-processor does not keep its tokens in order, so it cannot be cut to fit`);
    const cut = (values: Int32Array): Int32Array => Int32Array.from([
      ...values.subarray(0, textAt + keepText),
      ...values.subarray(textAt + text.length, pairAt + keepPair),
      ...values.subarray(pairAt + pair.length),
    ]);
    return { ids: cut(full.ids), typeIds: cut(full.typeIds) };
  }

  /** Accuracy and cross-entropy of the model with `weights` over `examples`. */
  async evaluate(weights: ReadonlyMap<string, MaterializedTensor>, examples: readonly ClassifierExample[], options: TextEvaluationOptions = {}): Promise<TextMetrics> {
    const { tf } = this.#runtime;
    await activate(this.#runtime);
    checkTensorsFit(this.#runtime, weights, this.#what);
    const model = this.#family.upload(tf, this.config, weights, this.#what);
    try {
      const totals = emptyTotals();
      for (const indices of batchesByLength(examples, options.tokensPerBatch ?? TOKENS_PER_BATCH)) {
        if (options.signal?.aborted) throw evaluationCancelled();
        const values = await this.#runtime.step(`${this.#what}, ${indices.length} examples of up to ${examples[indices.at(-1)!]!.ids.length} tokens`, async () => {
          const logits = model.logits(paddedBatch(examples, indices));
          try {
            return (await logits.data()) as Float32Array;
          } finally {
            logits.dispose();
          }
        });
        accumulate(totals, values, this.config.labels, Int32Array.from(indices, (i) => examples[i]!.label), 'logits');
      }
      return { ...finish(totals), documents: examples.length };
    } finally {
      model.dispose();
    }
  }
}

/** Example indices in batches of similar length (sorted, so little padding), at most `tokens` padded tokens a batch. */
function batchesByLength(examples: readonly ClassifierExample[], tokens: number): number[][] {
  const order = examples.map((_, i) => i).sort((a, b) => examples[a]!.ids.length - examples[b]!.ids.length);
  const out: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    // Sorted: this example's length is the padded length of the batch it joins.
    if (current.length > 0 && (current.length + 1) * examples[i]!.ids.length > tokens) {
      out.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The examples `indices` padded at the end to the longest: padding is id 0, segment 0, mask 0. */
export function paddedBatch(examples: readonly Encoded[], indices: readonly number[]): EncodedBatch {
  const length = Math.max(...indices.map((i) => examples[i]!.ids.length));
  const batch = indices.length;
  const ids = new Int32Array(batch * length);
  const typeIds = new Int32Array(batch * length);
  const mask = new Int32Array(batch * length);
  indices.forEach((example, b) => {
    const e = examples[example]!;
    ids.set(e.ids, b * length);
    typeIds.set(e.typeIds, b * length);
    mask.fill(1, b * length, b * length + e.ids.length);
  });
  return { ids, typeIds, mask, batch, length };
}
