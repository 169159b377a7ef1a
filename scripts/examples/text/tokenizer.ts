// The examples' tokenizer: GPT-2's byte-level BPE, its merges learnt here from the
// training text and saved as tokenizer.json (the `tokenizers` library's format), which
// tvr's evaluator and transformers load. @huggingface/tokenizers, which the evaluator
// uses, can only load tokenizers, not train them; so the merges are learnt here (the
// standard greedy algorithm: repeatedly merge the most frequent adjacent pair within
// words), while pre-tokenization (GPT-2's regex and byte-to-character map) and all
// encoding go through that library, so training and evaluation split text identically.
import { Tokenizer } from '@huggingface/tokenizers';

export const END_OF_TEXT = '<|endoftext|>';

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as const;

/** GPT-2's map of the 256 byte values to printable characters (the byte-level alphabet). */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const alphabet: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) alphabet.push(String.fromCharCode(printable(b) ? b : 256 + shifted++));
  return alphabet;
}

/** How often each pre-tokenized word occurs in `texts`, split by the pre-tokenizer of the tokenizer being built. */
function wordCounts(texts: readonly string[], alphabet: readonly string[]): Map<string, number> {
  const pre = new Tokenizer(tokenizerJson(alphabet, []), {}).pre_tokenizer!;
  const counts = new Map<string, number>();
  for (const text of texts) for (const word of pre.pre_tokenize_text(text)) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

/**
 * Learns `mergeCount` merges from `texts`. Pair counts are kept up to date incrementally
 * (only the words holding the merged pair are recounted); ties go to the pair whose
 * symbols sort first, so the result never depends on iteration order.
 */
export function learnMerges(texts: readonly string[], mergeCount: number): { symbols: string[]; merges: [string, string][] } {
  const symbols = byteAlphabet();
  const symbolId = new Map(symbols.map((s, i) => [s, i]));
  const words: number[][] = [];
  const frequency: number[] = [];
  for (const [word, count] of wordCounts(texts, symbols)) {
    words.push(Array.from(word, (ch) => symbolId.get(ch)!));
    frequency.push(count);
  }
  const key = (a: number, b: number) => a * 65536 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const count = (w: number, sign: 1 | -1): void => {
    const word = words[w]!;
    for (let i = 0; i + 1 < word.length; i++) {
      const k = key(word[i]!, word[i + 1]!);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * frequency[w]!);
      if (sign === 1) {
        let holders = pairWords.get(k);
        if (!holders) pairWords.set(k, (holders = new Set()));
        holders.add(w);
      }
    }
  };
  words.forEach((_, w) => count(w, 1));
  const merges: [string, string][] = [];
  while (merges.length < mergeCount) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && pairOrder(k, best, symbols) < 0)) {
        best = k;
        bestCount = c;
      }
    }
    if (bestCount < 2) break; // nothing left worth a symbol
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const merged = symbols.length;
    symbols.push(symbols[a]! + symbols[b]!);
    merges.push([symbols[a]!, symbols[b]!]);
    for (const w of pairWords.get(best)!) {
      count(w, -1);
      const word = words[w]!;
      const next: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(word[i]!);
      }
      words[w] = next;
      count(w, 1);
    }
    pairWords.delete(best);
    pairCount.delete(best);
  }
  return { symbols, merges };
}

/** Orders pair keys by their symbols' text (the tie-break of learnMerges). */
function pairOrder(k1: number, k2: number, symbols: readonly string[]): number {
  const text = (k: number) => `${symbols[Math.floor(k / 65536)]}\u0000${symbols[k % 65536]}`;
  const [t1, t2] = [text(k1), text(k2)];
  return t1 < t2 ? -1 : t1 > t2 ? 1 : 0;
}

/** tokenizer.json for the learnt symbols and merges; `<|endoftext|>` is the last id, as in GPT-2. */
export function tokenizerJson(symbols: readonly string[], merges: readonly (readonly [string, string])[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => { vocab[s] = i; });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: symbols.length, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: BYTE_LEVEL,
    post_processor: { ...BYTE_LEVEL, trim_offsets: false },
    decoder: BYTE_LEVEL,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/** tokenizer_config.json, so that transformers' AutoTokenizer knows the special token and the context. */
export function tokenizerConfigJson(context: number): Record<string, unknown> {
  return { tokenizer_class: 'GPT2Tokenizer', bos_token: END_OF_TEXT, eos_token: END_OF_TEXT, unk_token: END_OF_TEXT, model_max_length: context, add_prefix_space: false };
}

/** Trains a tokenizer of `vocabSize` ids (256 bytes, the merges, `<|endoftext|>`) on `texts`. */
export function trainTokenizer(texts: readonly string[], vocabSize: number): Record<string, unknown> {
  const { symbols, merges } = learnMerges(texts, vocabSize - 256 - 1);
  if (symbols.length + 1 !== vocabSize) throw new Error(`the training text gives only ${symbols.length + 1} tokens, fewer than the ${vocabSize} asked for`);
  return tokenizerJson(symbols, merges);
}

/** Token ids of each text, by the library the evaluator uses, without special tokens. */
export function encodeAll(json: Record<string, unknown>, texts: readonly string[]): Int32Array[] {
  const tokenizer = new Tokenizer(json as object, {});
  return texts.map((t) => Int32Array.from(tokenizer.encode(t, { add_special_tokens: false }).ids));
}
