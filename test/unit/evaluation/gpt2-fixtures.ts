// Tiny GPT-2 model folders for the text evaluator's tests: hf-fixtures.ts's GPT-2 folders
// with larger random weights (attention far from uniform) and a byte-level BPE
// tokenizer.json in GPT-2's layout (256 byte symbols, a few merges, <|endoftext|> last).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel } from '../../helpers/checkpoint-fixtures.ts';
import { gpt2Specs, writeHfFolder } from '../../helpers/hf-fixtures.ts';
import type { HfFolder, HfSizes } from '../../helpers/hf-fixtures.ts';

/** GPT-2's byte-to-symbol table: printable bytes as themselves, the others shifted past 255. */
export function byteSymbols(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  return out;
}

const MERGES: readonly (readonly [string, string])[] = [
  ['Ġ', 't'], ['h', 'e'], ['i', 'n'], ['Ġt', 'he'], ['e', 'r'], ['a', 'n'], ['Ġ', 'a'], ['o', 'n'], ['r', 'e'], ['Ġ', 's'],
  ['Ġ', 'w'], ['a', 't'], ['o', 'r'], ['e', 'n'], ['Ġ', 'o'], ['i', 's'], ['Ġ', 'c'], ['e', 's'], ['Ġ', 'b'], ['Ġ', 'f'],
];

/** A GPT-2-style tokenizer.json: vocabulary = 256 bytes + merges + <|endoftext|>. */
export function gpt2TokenizerJson(): { readonly json: object; readonly vocabSize: number } {
  const vocab: Record<string, number> = {};
  for (const s of byteSymbols()) vocab[s] = Object.keys(vocab).length;
  for (const [a, b] of MERGES) vocab[a + b] = Object.keys(vocab).length;
  const eos = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = eos;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    vocabSize: eos + 1,
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [{ id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
        fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: MERGES.map(([a, b]) => `${a} ${b}`),
      },
    },
  };
}

/** A tiny GPT-2 folder (hf-fixtures.ts) with a byte-level BPE tokenizer.json and weights uniform in [-scale, scale). */
export function writeGpt2Folder(dir: string, options: { readonly seed: number; readonly tied?: boolean; readonly scale?: number; readonly model?: FixtureModel } & HfSizes): HfFolder {
  const { json, vocabSize } = gpt2TokenizerJson();
  const sizes = { layers: 2, hiddenSize: 8, heads: 2, contextLength: 16, ...options, vocabSize };
  const tied = options.tied ?? true;
  const model = options.model ?? makeModel(gpt2Specs(sizes, tied), { seed: options.seed, scale: options.scale ?? 0.5 });
  const folder = writeHfFolder(dir, { family: 'gpt2', ...sizes, tied, model, vocab: false });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return folder;
}
