// Text evaluation data: a JSON Lines file, one example per line, `{"text": "...",
// "split": "validation"}` (split `validation` or `test`); a classifier's examples add an
// integer "label" and optionally a "text_pair". Read here, on the I/O side,
// for both the checker (a summary: examples per split and the lines at fault) and the
// evaluator (the documents). Bounded in size; blank lines are skipped. Documented in
// docs/evaluation.md.
import { stat } from 'node:fs/promises';
import { checkpointError, readFailure } from './errors.ts';
import { readBoundedFile } from './open-input.ts';
import type { CheckpointError } from './types.ts';

/** The largest text data file read: 128 MiB (the checker reads it whole; a bigger corpus belongs to an external evaluator). */
const MAX_TEXT_DATA_BYTES = 128 * 1024 * 1024;

/** Lines at fault kept for messages (the count of the rest is kept too). */
const MAX_PROBLEMS = 20;

export const TEXT_SPLITS = ['validation', 'test'] as const;
export type TextSplit = (typeof TEXT_SPLITS)[number];

export interface TextDocument {
  readonly text: string;
  /** "text_pair": a second text a classifier reads with the first. */
  readonly textPair?: string;
  /** "label": the class of a classifier's example. */
  readonly label?: number;
  readonly split: TextSplit;
  /** 1-based line number in the file. */
  readonly line: number;
}

export interface TextDataProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

export interface TextData {
  readonly path: string;
  readonly documents: readonly TextDocument[];
  /** The first lines at fault, in file order. */
  readonly problems: readonly TextDataProblem[];
  /** Every line at fault (problems holds the first MAX_PROBLEMS). */
  readonly problemCount: number;
}

/** What the checker needs: examples per split, their labels, and the lines at fault. */
export interface TextDataSummary {
  readonly path: string;
  readonly examples: Readonly<Record<TextSplit, number>>;
  /** Examples with a "label". */
  readonly labelled: number;
  /** The first example without a "label", when some have none. */
  readonly firstUnlabelledLine?: number;
  /** The largest label and the first line giving it, when some example has one. */
  readonly largestLabel?: { readonly label: number; readonly line: number };
  readonly problems: readonly TextDataProblem[];
  readonly problemCount: number;
}

export type TextDataLookup =
  | { readonly status: 'ok'; readonly summary: TextDataSummary }
  | { readonly status: 'error'; readonly error: CheckpointError }
  | { readonly status: 'pending' };

/** Whether a task's data path is a text (JSON Lines) file rather than tensors. */
export function isTextDataPath(path: string): boolean {
  return /\.jsonl$/i.test(path);
}

/** A JSON value as messages quote it, cut to 40 characters. */
function brief(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Parses JSON Lines text data; never throws (every fault is a problem with its line). */
export function parseTextData(path: string, content: string): TextData {
  const documents: TextDocument[] = [];
  const problems: TextDataProblem[] = [];
  let problemCount = 0;
  const fault = (line: number, message: string): void => {
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push({ line, message });
  };
  const lines = content.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // The parser's message quotes the line; the line number is what a person needs.
      fault(line, 'is not valid JSON');
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fault(line, `is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}, not a JSON object like {"text": "...", "split": "validation"}`);
      continue;
    }
    const { text, split, label, text_pair: textPair } = value as { text?: unknown; split?: unknown; label?: unknown; text_pair?: unknown };
    if (typeof text !== 'string') {
      fault(line, `has no "text" string`);
      continue;
    }
    if (label !== undefined && !(Number.isSafeInteger(label) && (label as number) >= 0)) {
      fault(line, `has "label": ${brief(label)}; a label is a class index, an integer 0 or more`);
      continue;
    }
    if (textPair !== undefined && typeof textPair !== 'string') {
      fault(line, `has "text_pair": ${brief(textPair)}, not a string`);
      continue;
    }
    if (split !== 'validation' && split !== 'test') {
      const given = split === undefined ? 'missing' : typeof split === 'string' ? JSON.stringify(split.length > 40 ? `${split.slice(0, 40)}...` : split) : `a ${split === null ? 'null' : typeof split}`;
      fault(line, `has "split": ${given}; it must be "validation" or "test"`);
      continue;
    }
    documents.push({ text, split, line, ...(textPair !== undefined ? { textPair } : {}), ...(label !== undefined ? { label: label as number } : {}) });
  }
  return { path, documents, problems, problemCount };
}

function summarize(data: TextData): TextDataSummary {
  const examples = { validation: 0, test: 0 };
  let labelled = 0;
  let firstUnlabelledLine: number | undefined;
  let largestLabel: TextDataSummary['largestLabel'];
  for (const d of data.documents) {
    examples[d.split]++;
    if (d.label === undefined) {
      firstUnlabelledLine ??= d.line;
      continue;
    }
    labelled++;
    if (!largestLabel || d.label > largestLabel.label) largestLabel = { label: d.label, line: d.line };
  }
  return {
    path: data.path,
    examples,
    labelled,
    ...(firstUnlabelledLine !== undefined ? { firstUnlabelledLine } : {}),
    ...(largestLabel ? { largestLabel } : {}),
    problems: data.problems,
    problemCount: data.problemCount,
  };
}

/** Reads and parses a text data file (a regular file of at most MAX_TEXT_DATA_BYTES). Throws CheckpointError. */
export async function readTextData(path: string): Promise<TextData> {
  const { bytes } = await readBoundedFile(path, 'a JSON Lines text data file', MAX_TEXT_DATA_BYTES, 'read the text data file', (size) => checkpointError('unreadable', path, `is ${size} bytes; text data files are read whole, up to ${MAX_TEXT_DATA_BYTES} bytes: split the corpus, or evaluate it with task(..., command="...")`));
  return parseTextData(path, new TextDecoder('utf-8').decode(bytes));
}

/** Summaries kept by file identity, so re-checking an unchanged recipe costs one stat per text file. */
const summaries = new Map<string, { readonly identity: string; readonly summary: TextDataSummary }>();
const MAX_SUMMARIES = 32;

/** The checker's view of a text data file, from memory when the file is unchanged. Throws CheckpointError. */
export async function readTextDataSummary(path: string): Promise<TextDataSummary> {
  let identity: string;
  try {
    const s = await stat(path);
    identity = `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch (error) {
    throw readFailure(error, path, 'read the text data file');
  }
  const known = summaries.get(path);
  if (known?.identity === identity) return known.summary;
  const summary = summarize(await readTextData(path));
  summaries.delete(path);
  summaries.set(path, { identity, summary });
  while (summaries.size > MAX_SUMMARIES) summaries.delete(summaries.keys().next().value!);
  return summary;
}
