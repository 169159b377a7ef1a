// Diagnostics as plain data, with stable codes and the quick fixes that repair them.
import type { Span } from './syntax-tree.ts';

export type Severity = 'error' | 'warning' | 'info' | 'hint';

/** Every code the checker can report; the text is the one-line summary used in docs/diagnostics.md. */
export const diagnosticCodes = {
  'syntax': 'The text does not parse.',
  'undefined-name': 'A name is used but never defined.',
  'use-before-definition': 'A name is used on a line above its definition.',
  'duplicate-binding': 'A name is defined twice.',
  'unused-binding': 'A name is defined but never used.',
  'builtin-shadowed': 'A binding hides a built-in function.',
  'not-callable': 'Something that is not a function is called.',
  'unknown-function': 'A call names a function that does not exist.',
  'argument-count': 'A call has too many or too few arguments.',
  'unknown-argument': 'A keyword argument the function does not take.',
  'duplicate-argument': 'The same argument is given twice.',
  'type-mismatch': 'A value of the wrong type (e.g. a Model where a Vector is needed).',
  'invalid-operation': 'An operator that has no meaning for its operands (e.g. Model * Model).',
  'model-weight-sum': 'A combination of models whose weights sum to neither 1 (a Model) nor 0 (a Vector).',
  'invalid-value': 'An argument outside its valid range (e.g. density > 1).',
  'division-by-zero': 'A division by zero.',
  'sweep-nonlinear': 'A sweep value used where only a constant is allowed.',
  'shape-mismatch': 'Operands whose tensor tables (names, shapes) differ.',
  'config-mismatch': "Hugging Face model folders whose config.json gives a different `model_type` or layer count (an error when their tensors differ, a warning when they still line up).",
  'vocab-mismatch': 'Operands whose vocabularies differ in size (config.json `vocab_size`, embedding rows): names both sizes, how to resize to one, and the first id where their tokenizer.json vocabularies differ.',
  'tied-embeddings': 'A model whose output head is tied to its embedding (no `lm_head.weight`) combined with one that has its own head: a note that the result has an untied head (the tied model\'s embedding stands for its head; a save writes `tie_word_embeddings: false`), or an error when no single embedding tensor can stand for it.',
  'empty-selection': 'A tensor selection that keeps no tensors.',
  'foreign-base': 'A task vector built on one base model applied to another model.',
  'non-float-tensors': 'Integer or bool tensors, copied unchanged rather than combined.',
  'file-not-found': 'A checkpoint or data file that does not exist.',
  'unsupported-adapter': 'A PEFT adapter tvr does not apply as scale · B·A: DoRA, other PEFT methods, trained biases, modules saved whole, initialisations that change the base model; the message names which.',
  'bad-checkpoint': 'A checkpoint that is malformed, truncated or unsupported, or a path that is not a regular file (a named pipe or a device is refused without being read).',
  'output-is-input': 'A save path that is also an input of the recipe (the same file or folder, or a folder holding one, symlinks followed), or an input where the run writes its results file.',
  'output-outside-folder': "A save path that leads outside the recipe's folder (symlinks followed); allowed only with `--allow-outputs-outside` or the setting `tvr.run.allowOutputsOutside`, never in an untrusted workspace.",
  'unsaved-sweep': 'A value that depends on a sweep is saved without an evaluation to choose the point.',
  'missing-evaluation-data': 'A task whose data file is missing or malformed: tensor data without validation/x, validation/y, test/x, test/y; JSON Lines text data without both splits, or with lines that are not {"text": ..., "split": ...} objects (named by line number); a sequence classifier\'s text data with lines that have no "label".',
  'label-out-of-range': 'A sequence classifier evaluated on text data with a "label" outside the classes of its head (config.json `id2label` or `num_labels`), naming the line.',
  'non-finite': 'A number or coefficient that folds to Infinity or NaN (beyond about ±1.8e308, or Infinity - Infinity).',
  'chain-too-deep': 'A value at the end of a chain of more than 256 weight operations (through names and nested calls).',
  'too-many-evaluations': "A run whose evaluations (sweep points x tasks, plus tests and references) exceed the limit: 10,000, or evaluate(..., max_evaluations=N).",
  'recipe-too-large': 'A recipe larger than 1 MiB: it is not analysed.',
} as const;

export type DiagnosticCode = keyof typeof diagnosticCodes;

export interface TextEdit {
  readonly span: Span;
  readonly newText: string;
}

export interface Fix {
  readonly title: string;
  readonly edits: readonly TextEdit[];
  readonly preferred?: boolean;
}

export interface RelatedInformation {
  readonly span: Span;
  readonly message: string;
}

export interface Diagnostic {
  readonly span: Span;
  readonly severity: Severity;
  readonly code: DiagnosticCode;
  readonly message: string;
  readonly related?: readonly RelatedInformation[];
  /** Faded in editors (unused bindings). */
  readonly unnecessary?: boolean;
  readonly fixes?: readonly Fix[];
}
