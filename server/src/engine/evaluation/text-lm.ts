// The built-in evaluator of causal language models on text tasks: the evaluated model's
// folder gives config.json (which architecture) and tokenizer.json; each document of the
// split is tokenized without special tokens and every token after the first is predicted
// from the ones before it. Documents longer than the context (at most MAX_WINDOW) are scored with a sliding
// window of stride half the context, each token scored once. Loss is the mean over every
// scored token of the split (token-weighted), perplexity exp(loss), accuracy the fraction
// of tokens that are the arg-max prediction. Documented in docs/evaluation.md.
import type { MaterializedTensor } from '../materialize.ts';
import { EvaluationError, evaluationCancelled } from './errors.ts';
import type { CausalLmFamily, FamilyConfig } from './transformers/family.ts';
import { accumulate, emptyTotals, finish } from './metrics.ts';
import type { ClassifierMetrics } from './metrics.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { activate, checkTensorsFit, rowsThatFit } from './tfjs-runtime.ts';
import type { TfRuntime } from './tfjs-runtime.ts';

/** Tokens per forward batch: windows of one length are batched up to this many tokens. */
const TOKENS_PER_BATCH = 4096;

/**
 * The longest window scored at once. Attention holds heads x window^2 floats per window,
 * so a model of 131,072 positions (Llama 3.1) scored over its whole context would need
 * tens of GB for one long document; past this, documents slide over this many tokens.
 */
export const MAX_WINDOW = 2048;

/** A stretch of a document run through the model: tokens [start, end), predicting the tokens [scoreFrom, end). */
export interface TokenWindow {
  readonly start: number;
  readonly end: number;
  readonly scoreFrom: number;
}

/**
 * The windows that score every token of a document of `length` tokens but the first,
 * each exactly once: the whole document when it fits the `context`, else windows of the
 * context's size every half context (the last one ends at the document's end), each
 * scoring only the tokens the previous ones did not.
 */
export function slidingWindows(length: number, context: number): TokenWindow[] {
  if (context < 2) throw new RangeError(`a context of ${context} position${context === 1 ? '' : 's'} cannot predict a token from the one before it`);
  if (length < 2) return [];
  if (length <= context) return [{ start: 0, end: length, scoreFrom: 1 }];
  const stride = Math.max(1, Math.floor(context / 2));
  const windows: TokenWindow[] = [];
  let previousEnd = 0;
  for (let start = 0; ; start += stride) {
    const end = Math.min(start + context, length);
    windows.push({ start, end, scoreFrom: Math.max(previousEnd, start + 1) });
    previousEnd = end;
    if (end === length) return windows;
  }
}

export interface TextEvaluationOptions {
  readonly signal?: AbortSignal;
  readonly tokensPerBatch?: number;
}

export interface TextMetrics extends ClassifierMetrics {
  readonly documents: number;
}

/** A causal LM of one model folder: its family, configuration and tokenizer, ready for any weights of that shape. */
export class CausalLm {
  readonly #runtime: TfRuntime;
  readonly #family: CausalLmFamily;
  readonly config: FamilyConfig;
  readonly tokenizer: TextTokenizer;
  readonly #what: string;

  /** `what` names the task and model in messages. */
  constructor(runtime: TfRuntime, family: CausalLmFamily, config: FamilyConfig, tokenizer: TextTokenizer, what: string) {
    if (config.positions < 2) throw new EvaluationError('model', `${what}: config.json gives ${config.positions} position; scoring text needs at least 2`);
    this.#runtime = runtime;
    this.#family = family;
    this.config = config;
    this.tokenizer = tokenizer;
    this.#what = what;
  }

  /** Token ids of each document; ids beyond the model's vocabulary are a data error naming the line. */
  tokenize(documents: readonly { readonly text: string; readonly line: number }[], file: string): Int32Array[] {
    return documents.map((d) => {
      const ids = this.tokenizer.encode(d.text).ids;
      for (const id of ids) {
        if (id < 0 || id >= this.config.vocab) {
          throw new EvaluationError('data', `${this.#what}: line ${d.line} of ${file} gives token id ${id}, outside the model's vocabulary of ${this.config.vocab} (config.json vocab_size): the tokenizer does not belong to this model`, { file });
        }
      }
      return ids;
    });
  }

  /** Next-token loss, perplexity and accuracy of the model with `weights` over `documents` (token ids). */
  async evaluate(weights: ReadonlyMap<string, MaterializedTensor>, documents: readonly Int32Array[], options: TextEvaluationOptions = {}): Promise<TextMetrics> {
    const totals = emptyTotals();
    await this.#logits(weights, documents, options, (values, labels) => accumulate(totals, values, this.config.vocab, labels, 'logits'));
    if (totals.scored === 0) throw new EvaluationError('data', `${this.#what}: no document has two tokens or more, so no token can be predicted`);
    return { ...finish(totals), documents: documents.length };
  }

  /**
   * The log-probability the model gives each next token of each document: per document,
   * one value per token after the first, in order (what an ensemble mixes, and what a
   * document's likelihood sums).
   */
  async tokenLogProbs(weights: ReadonlyMap<string, MaterializedTensor>, documents: readonly Int32Array[], options: TextEvaluationOptions = {}): Promise<Float64Array[]> {
    const out = documents.map((ids) => new Float64Array(Math.max(0, ids.length - 1)));
    const vocab = this.config.vocab;
    await this.#logits(weights, documents, options, (values, labels, targets) => {
      for (let row = 0; row < labels.length; row++) {
        const at = row * vocab;
        let max = -Infinity;
        for (let c = 0; c < vocab; c++) max = Math.max(max, values[at + c]!);
        let sum = 0;
        for (let c = 0; c < vocab; c++) sum += Math.exp(values[at + c]! - max);
        const { doc, token } = targets[row]!;
        out[doc]![token - 1] = values[at + labels[row]!]! - max - Math.log(sum);
      }
    });
    return out;
  }

  /** Runs the model over every window of the documents, batch by batch: the scored rows' logits, their next tokens, and where each is in its document. */
  async #logits(
    weights: ReadonlyMap<string, MaterializedTensor>, documents: readonly Int32Array[], options: TextEvaluationOptions,
    onBatch: (values: Float32Array, labels: Int32Array, targets: readonly { readonly doc: number; readonly token: number }[]) => void,
  ): Promise<void> {
    const { tf } = this.#runtime;
    await activate(this.#runtime);
    checkTensorsFit(this.#runtime, weights, this.#what);
    const model = this.#family.upload(tf, this.config, weights, this.#what);
    try {
      // The logits, a vocabulary's worth of values per token, are the widest tensor: a batch's must fit in one tensor of the backend.
      const tokens = Math.min(options.tokensPerBatch ?? TOKENS_PER_BATCH, rowsThatFit(this.#runtime, 4 * this.config.vocab));
      for (const batch of batches(documents, Math.min(this.config.positions, MAX_WINDOW), tokens)) {
        if (options.signal?.aborted) throw evaluationCancelled();
        const { ids, rows, labels, targets } = batchArrays(documents, batch);
        const values = await this.#runtime.step(`${this.#what}, ${describeBatch(batch)}`, async () => {
          const logits = model.logits(ids, batch.windows.length, batch.length, rows);
          try {
            return (await logits.data()) as Float32Array;
          } finally {
            logits.dispose();
          }
        });
        onBatch(values, labels, targets);
      }
    } finally {
      model.dispose();
    }
  }
}

interface Batch {
  readonly length: number;
  readonly windows: readonly { readonly doc: number; readonly window: TokenWindow }[];
}

/** Windows of every document, grouped by length (one tensor per batch), at most `tokens` tokens a batch. */
function batches(documents: readonly Int32Array[], context: number, tokens: number): Batch[] {
  const byLength = new Map<number, { doc: number; window: TokenWindow }[]>();
  documents.forEach((ids, doc) => {
    for (const window of slidingWindows(ids.length, context)) {
      const length = window.end - window.start;
      let list = byLength.get(length);
      if (!list) byLength.set(length, (list = []));
      list.push({ doc, window });
    }
  });
  const out: Batch[] = [];
  for (const [length, list] of byLength) {
    const per = Math.max(1, Math.floor(tokens / length));
    for (let i = 0; i < list.length; i += per) out.push({ length, windows: list.slice(i, i + per) });
  }
  return out;
}

/** "documents 3-7, 512-token windows": a batch in messages. */
function describeBatch(batch: Batch): string {
  const docs = batch.windows.map((w) => w.doc + 1);
  const first = Math.min(...docs);
  const last = Math.max(...docs);
  return `document${first === last ? ` ${first}` : `s ${first}-${last}`}, ${batch.length}-token window${batch.windows.length === 1 ? '' : 's'}`;
}

/** The batch's token ids [windows, length], the flat rows whose logits are scored, each row's next token and its place (document, token index). */
function batchArrays(documents: readonly Int32Array[], batch: Batch): { ids: Int32Array; rows: Int32Array; labels: Int32Array; targets: { doc: number; token: number }[] } {
  const ids = new Int32Array(batch.windows.length * batch.length);
  const rows: number[] = [];
  const labels: number[] = [];
  const targets: { doc: number; token: number }[] = [];
  batch.windows.forEach(({ doc, window }, b) => {
    const tokens = documents[doc]!;
    ids.set(tokens.subarray(window.start, window.end), b * batch.length);
    // Token t is predicted by the output at position t - 1.
    for (let t = window.scoreFrom; t < window.end; t++) {
      rows.push(b * batch.length + (t - 1 - window.start));
      labels.push(tokens[t]!);
      targets.push({ doc, token: t });
    }
  });
  return { ids, rows: Int32Array.from(rows), labels: Int32Array.from(labels), targets };
}
