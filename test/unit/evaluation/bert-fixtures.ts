// Tiny random-weight sequence-classifier folders for the classifier evaluator's tests, as
// transformers' save_pretrained writes them: config.json (BertForSequenceClassification or
// RobertaForSequenceClassification, id2label), model.safetensors with transformers' tensor
// names, and a tokenizer.json: WordPiece with a BertProcessing or TemplateProcessing
// post-processor for BERT, byte-level BPE with RobertaProcessing for RoBERTa.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import type { FixtureModel, FixtureTensorSpec } from '../../helpers/checkpoint-fixtures.ts';
import { byteSymbols } from './gpt2-fixtures.ts';

export type ClassifierFamilyName = 'bert' | 'roberta';

export interface ClassifierFixtureOptions {
  readonly seed: number;
  /** Default 2. */
  readonly layers?: number;
  /** Default 8. */
  readonly hidden?: number;
  /** Default 2. */
  readonly heads?: number;
  /** Default 12. */
  readonly intermediate?: number;
  /** Positions text may use (RoBERTa's table has pad_token_id + 1 more rows). Default 32. */
  readonly positions?: number;
  /** Classes of the head. Default 3. */
  readonly labels?: number;
  /** BERT's post-processor: BertProcessing or TemplateProcessing (the newer tokenizers' choice). Default 'template'. */
  readonly processor?: 'bert' | 'template';
  /** The weights to write instead of fresh random ones (same names and shapes). */
  readonly model?: FixtureModel;
  /** Keys merged into config.json; `undefined` removes one. */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface ClassifierFolder {
  readonly dir: string;
  readonly family: ClassifierFamilyName;
  readonly config: Readonly<Record<string, unknown>>;
  readonly model: FixtureModel;
  /** The tokenizer's vocabulary, token by id. */
  readonly vocab: readonly string[];
}

const SIZES = { layers: 2, hidden: 8, heads: 2, intermediate: 12, positions: 32, labels: 3 };

/** RoBERTa's padding index: its position table has this many + 1 rows before the first text position. */
const ROBERTA_PAD = 1;

const WORDS = ['the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'film', 'was', 'good', 'bad', 'not', 'very', 'is', 'it', 'and', '.', ','];

/** BERT's WordPiece vocabulary: the special tokens first, then words, letters and ##letters (any lowercase word tokenizes). */
export function wordPieceVocab(): string[] {
  const letters = 'abcdefghijklmnopqrstuvwxyz'.split('');
  return ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS, ...letters, ...letters.map((l) => `##${l}`), '##s', '##ing'];
}

function specialToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** A bert-base-uncased-style tokenizer.json over wordPieceVocab(). */
function bertTokenizerJson(vocab: readonly string[], processor: 'bert' | 'template'): object {
  const id = (token: string): number => vocab.indexOf(token);
  const special = (token: string, typeId: number) => ({ SpecialToken: { id: token, type_id: typeId } });
  const sequence = (name: 'A' | 'B', typeId: number) => ({ Sequence: { id: name, type_id: typeId } });
  const postProcessor = processor === 'bert'
    ? { type: 'BertProcessing', sep: ['[SEP]', id('[SEP]')], cls: ['[CLS]', id('[CLS]')] }
    : {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0), sequence('B', 1), special('[SEP]', 1)],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
    };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: vocab.slice(0, 5).map((t, i) => specialToken(i, t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: postProcessor,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

const MERGES: readonly (readonly [string, string])[] = [
  ['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['t', 'he'], ['Ġ', 'c'], ['a', 't'], ['Ġc', 'at'], ['Ġ', 'f'], ['i', 'l'], ['Ġf', 'il'], ['Ġfil', 'm'], ['f', 'il'], ['fil', 'm'],
];

/** RoBERTa's vocabulary: <s> <pad> </s> <unk>, the 256 byte symbols, the merges, <mask>. */
export function byteLevelVocab(): string[] {
  return ['<s>', '<pad>', '</s>', '<unk>', ...byteSymbols(), ...MERGES.map(([a, b]) => a + b), '<mask>'];
}

/** A roberta-base-style tokenizer.json over byteLevelVocab(). */
function robertaTokenizerJson(vocab: readonly string[]): object {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [0, 1, 2, 3, vocab.length - 1].map((i) => specialToken(i, vocab[i]!)),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Tensor names and shapes of BertForSequenceClassification / RobertaForSequenceClassification, Linear weights [out, in]. */
export function classifierSpecs(family: ClassifierFamilyName, sizes: typeof SIZES & { readonly vocab: number; readonly segments: number }): FixtureTensorSpec[] {
  const p = family;
  const h = sizes.hidden;
  const positionRows = family === 'roberta' ? sizes.positions + ROBERTA_PAD + 1 : sizes.positions;
  const specs: FixtureTensorSpec[] = [
    { name: `${p}.embeddings.word_embeddings.weight`, shape: [sizes.vocab, h] },
    { name: `${p}.embeddings.position_embeddings.weight`, shape: [positionRows, h] },
    { name: `${p}.embeddings.token_type_embeddings.weight`, shape: [sizes.segments, h] },
    { name: `${p}.embeddings.LayerNorm.weight`, shape: [h] },
    { name: `${p}.embeddings.LayerNorm.bias`, shape: [h] },
  ];
  const linear = (name: string, out: number, inner: number): FixtureTensorSpec[] => [{ name: `${name}.weight`, shape: [out, inner] }, { name: `${name}.bias`, shape: [out] }];
  const norm = (name: string): FixtureTensorSpec[] => [{ name: `${name}.weight`, shape: [h] }, { name: `${name}.bias`, shape: [h] }];
  for (let i = 0; i < sizes.layers; i++) {
    const l = `${p}.encoder.layer.${i}`;
    specs.push(
      ...linear(`${l}.attention.self.query`, h, h), ...linear(`${l}.attention.self.key`, h, h), ...linear(`${l}.attention.self.value`, h, h),
      ...linear(`${l}.attention.output.dense`, h, h), ...norm(`${l}.attention.output.LayerNorm`),
      ...linear(`${l}.intermediate.dense`, sizes.intermediate, h), ...linear(`${l}.output.dense`, h, sizes.intermediate), ...norm(`${l}.output.LayerNorm`),
    );
  }
  if (family === 'bert') specs.push(...linear('bert.pooler.dense', h, h), ...linear('classifier', sizes.labels, h));
  else specs.push(...linear('classifier.dense', h, h), ...linear('classifier.out_proj', sizes.labels, h));
  return specs;
}

/** Random weights in [-0.5, 0.5) (attention far from uniform), layer-norm scales in [0.8, 1.2). */
function randomWeights(specs: readonly FixtureTensorSpec[], seed: number): FixtureModel {
  const model = makeModel(specs, { seed, scale: 0.5 });
  return { tensors: model.tensors.map((t) => (t.name.endsWith('LayerNorm.weight') ? { ...t, values: t.values.map((v) => Math.fround(1 + 0.4 * v)) } : t)) };
}

function configJson(family: ClassifierFamilyName, sizes: typeof SIZES, vocab: number): Record<string, unknown> {
  const id2label = Object.fromEntries(Array.from({ length: sizes.labels }, (_, i) => [String(i), `LABEL_${i}`]));
  const label2id = Object.fromEntries(Array.from({ length: sizes.labels }, (_, i) => [`LABEL_${i}`, i]));
  const common = {
    attention_probs_dropout_prob: 0.1, classifier_dropout: null, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: sizes.hidden,
    id2label, initializer_range: 0.02, intermediate_size: sizes.intermediate, label2id, num_attention_heads: sizes.heads,
    num_hidden_layers: sizes.layers, position_embedding_type: 'absolute', problem_type: 'single_label_classification',
    torch_dtype: 'float32', transformers_version: '4.44.0', use_cache: true, vocab_size: vocab,
  };
  return family === 'bert'
    ? { architectures: ['BertForSequenceClassification'], model_type: 'bert', ...common, layer_norm_eps: 1e-12, max_position_embeddings: sizes.positions, pad_token_id: 0, type_vocab_size: 2 }
    : {
      architectures: ['RobertaForSequenceClassification'], model_type: 'roberta', ...common, bos_token_id: 0, eos_token_id: 2,
      layer_norm_eps: 1e-5, max_position_embeddings: sizes.positions + ROBERTA_PAD + 1, pad_token_id: ROBERTA_PAD, type_vocab_size: 1,
    };
}

/** Writes a tiny classifier folder at `dir` (created if needed). */
export function writeClassifierFolder(dir: string, family: ClassifierFamilyName, options: ClassifierFixtureOptions): ClassifierFolder {
  mkdirSync(dir, { recursive: true });
  const sizes = { ...SIZES, ...Object.fromEntries(Object.entries(options).filter(([k]) => k in SIZES)) } as typeof SIZES;
  const vocab = family === 'bert' ? wordPieceVocab() : byteLevelVocab();
  const model = options.model ?? randomWeights(classifierSpecs(family, { ...sizes, vocab: vocab.length, segments: family === 'bert' ? 2 : 1 }), options.seed);
  const config: Record<string, unknown> = configJson(family, sizes, vocab.length);
  for (const [key, value] of Object.entries(options.config ?? {})) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeSafetensors(join(dir, 'model.safetensors'), model, { metadata: { format: 'pt' } });
  const tokenizer = family === 'bert' ? bertTokenizerJson(vocab, options.processor ?? 'template') : robertaTokenizerJson(vocab);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return { dir, family, config, model, vocab };
}
