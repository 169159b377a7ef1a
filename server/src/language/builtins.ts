// The built-in functions as one typed table. It drives argument binding and checking,
// completion, signature help and hover documentation; the checker adds the result
// type rules that depend on the arguments. The merge methods' entries come from their
// modules (server/src/methods/), with their defaults written as the numbers they compute with.
import { methods } from '../methods/registry.ts';
import { ceilingMaxEvaluations, defaultMaxEvaluations } from './limits.ts';

export type ParamType =
  | 'model' // a Model (a point in weight space)
  | 'vector' // a task Vector (a direction)
  | 'weights' // a Model or a Vector
  | 'scalar' // a number, possibly a sweep
  | 'number' // a number known at check time (no sweep)
  | 'numbers' // a list of numbers
  | 'mixture' // a list of numbers, or a posterior(...) over the same models
  | 'evaluand' // a Model or an Ensemble
  | 'task' // one task
  | 'string'
  | 'strings' // a string or a list of strings
  | 'bool'
  | 'tasks' // a task or a list of tasks
  | 'tensor-rule'; // by_tensor's filters and values: a string, a number, or a list of numbers

export interface Param {
  readonly name: string;
  readonly type: ParamType;
  readonly doc: string;
  /** Shown in signatures; a parameter with a default (or `optional`) may be omitted. */
  readonly default?: string;
  readonly optional?: boolean;
  /** Collects all remaining positional arguments (at least one). */
  readonly variadic?: boolean;
  /** Only by keyword (every parameter after a variadic one is). */
  readonly keywordOnly?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** A whole number that a 64-bit float holds exactly (a safe integer, at most 2^53 - 1). */
  readonly integer?: boolean;
  /** Smallest excluded bound, e.g. p < 1. */
  readonly below?: number;
  readonly above?: number;
  readonly choices?: readonly string[];
  /** A number that may vary by tensor: a gradient over layers (a list) or `by_tensor(...)`. */
  readonly perTensor?: boolean;
}

export interface Builtin {
  readonly name: string;
  readonly params: readonly Param[];
  /** Display form of the result type. */
  readonly returns: string;
  readonly summary: string;
  /** Markdown, a paragraph or two. */
  readonly doc: string;
  readonly example: string;
  /** Where the method comes from, for hover. */
  readonly reference?: string;
}

const patternsDoc = 'Glob patterns over tensor names: `*` matches any run of characters (including `.` and `/`), `?` one character.';

/** The language's own built-ins, whose type rules are the checker's (merge methods are in server/src/methods/). */
export type CoreName = 'load' | 'save' | 'mean' | 'select' | 'exclude' | 'sweep' | 'task' | 'evaluate' | 'ensemble' | 'posterior' | 'by_tensor';

export interface CoreBuiltin extends Builtin {
  readonly name: CoreName;
}

const beforeMethods: readonly CoreBuiltin[] = [
  {
    name: 'load',
    params: [
      { name: 'path', type: 'string', doc: 'A `.safetensors` file, a sharded `model.safetensors.index.json`, or a TensorFlow.js `model.json` (or a folder holding one), relative to the recipe. It may lie anywhere; the files an index or `model.json` lists must be inside its folder (no `..` or absolute names; symlinks are followed, as in the Hugging Face cache).' },
      { name: 'select', type: 'strings', optional: true, keywordOnly: true, doc: `Keep only matching tensors. ${patternsDoc}` },
      { name: 'exclude', type: 'strings', optional: true, keywordOnly: true, doc: `Drop matching tensors (e.g. a classification head). ${patternsDoc}` },
    ],
    returns: 'Model',
    summary: 'Load a checkpoint as a Model (a point in weight space).',
    doc: 'Reads only the header while checking; the tensor table (names, shapes, dtypes) is what shape checking compares. `finetuned - pretrained` gives a task Vector.',
    example: 'base = load("models/base.safetensors", exclude="head/*")',
  },
  {
    name: 'save',
    params: [
      { name: 'value', type: 'weights', doc: 'The Model (or Vector) to write.' },
      { name: 'path', type: 'string', doc: "Output path relative to the recipe: `.safetensors`, or a folder / `model.json` for a TensorFlow.js model (when the anchor model is one). A path without an extension, for a Model whose anchor was loaded from a Hugging Face model folder (`config.json` beside `model.safetensors` or its index), is written as such a folder: `config.json` from the anchor's with `torch_dtype`, `vocab_size` and `tie_word_embeddings` as the output is, its tokenizer files and `generation_config.json` copied (regular files inside that folder only), the weights (`model.safetensors`, or shards with `model.safetensors.index.json` past `shard_size`) and a `README.md` model card with the recipe, provenance, chosen coefficients and evaluation: the layout transformers' `save_pretrained` writes. A Vector is written as a plain checkpoint. It must lead inside the recipe's folder (symlinks followed; an absolute path or `..` that leaves it is an error) unless allowed by `--allow-outputs-outside` or the setting `tvr.run.allowOutputsOutside`, never in an untrusted workspace. It must not be an input, a folder holding one, inside a multi-file input's folder, or where the run writes its results." },
      { name: 'dtype', type: 'string', optional: true, keywordOnly: true, choices: ['f32', 'f16', 'bf16'], doc: 'Output dtype; by default each tensor keeps the dtype of the anchor model.' },
      { name: 'shard_size', type: 'string', optional: true, keywordOnly: true, doc: 'Maximum shard size such as `"2GB"` or `"500MB"`; writes `model-0000k-of-0000n.safetensors` shards and an index.' },
      { name: 'overwrite', type: 'bool', default: 'false', keywordOnly: true, doc: 'Replace an existing output. Without it a run refuses to touch an existing file. Inputs are never replaced, overwrite or not.' },
    ],
    returns: 'nothing',
    summary: 'Write a Model or Vector when the recipe runs.',
    doc: 'Written atomically (a temporary name, renamed on success) with provenance in the metadata: tvr version, recipe hash, input paths and header hashes, seeds, and the chosen sweep point. A replaced folder output is moved aside, then the new one moved in; if the run is killed in between, the next run puts the old one back. Temporaries left by killed runs are removed by the next run in that folder.',
    example: 'save(edited, "out/edited.safetensors", dtype="bf16")',
  },
  {
    name: 'mean',
    params: [
      { name: 'values', type: 'weights', variadic: true, doc: 'Models (a soup) or Vectors, all of one kind.' },
      { name: 'weights', type: 'mixture', optional: true, keywordOnly: true, doc: 'Relative weights, normalised to sum to 1, or a `posterior(...)` over the same models in the same order (a Branch-Train-Merge parameter average, weighted by the domain posterior estimated when the recipe runs). Equal by default.' },
    ],
    returns: 'Model for models, Vector for vectors',
    summary: 'Average models (a model soup) or vectors.',
    doc: 'The mean of Models is a Model (its weights sum to 1), the mean of Vectors a Vector. Uniform soups follow Wortsman et al. (2022); weighted averages of domain experts follow Branch-Train-Merge (Li et al. 2022).',
    example: 'soup = mean(a, b, c)',
    reference: 'Model soups (Wortsman et al., 2022); Branch-Train-Merge (Li et al., 2022)',
  },
];

const afterMethods: readonly CoreBuiltin[] = [
  {
    name: 'select',
    params: [
      { name: 'value', type: 'weights', doc: 'A Model or Vector.' },
      { name: 'patterns', type: 'string', variadic: true, doc: `Tensors to keep. ${patternsDoc}` },
    ],
    returns: 'the kind of value',
    summary: 'Keep only the tensors whose names match.',
    doc: `Narrows the tensor table; operands of later operations must have matching tables. ${patternsDoc}`,
    example: 'encoder = select(model, "encoder*")',
  },
  {
    name: 'exclude',
    params: [
      { name: 'value', type: 'weights', doc: 'A Model or Vector.' },
      { name: 'patterns', type: 'string', variadic: true, doc: `Tensors to drop. ${patternsDoc}` },
    ],
    returns: 'the kind of value',
    summary: 'Drop the tensors whose names match (e.g. a classification head).',
    doc: `Task vectors usually exclude task-specific heads, as in the task arithmetic paper. ${patternsDoc}`,
    example: 'tau = exclude(finetuned - base, "head/*")',
  },
  {
    name: 'sweep',
    params: [
      { name: 'start', type: 'number', default: '0', doc: 'First value.' },
      { name: 'stop', type: 'number', default: '1', doc: 'Last value (included).' },
      { name: 'step', type: 'number', default: '0.05', above: 0, doc: 'Spacing.' },
      { name: 'values', type: 'numbers', optional: true, keywordOnly: true, doc: 'An explicit list instead of start/stop/step.' },
    ],
    returns: 'Sweep',
    summary: 'A scaling coefficient chosen on validation data.',
    doc: 'The run evaluates the recipe at each value on the validation split and keeps the best point by the evaluation\'s objective; test metrics are reported at that point only. The default grid is the task arithmetic paper\'s: 0 to 1 in steps of 0.05.',
    example: 'lam = sweep(0, 1, 0.05)',
    reference: 'Editing Models with Task Arithmetic (Ilharco et al., 2023), Section 3',
  },
  {
    name: 'task',
    params: [
      { name: 'data', type: 'string', doc: 'Evaluation data, relative to the recipe: a safetensors file with `validation/x`, `validation/y`, `test/x`, `test/y`, or a JSON Lines text file (`.jsonl`, one `{"text": "...", "split": "validation"}` per line, with `"label"` and optionally `"text_pair"` for sequence classifiers) for Hugging Face model folders: GPT-2 and Llama causal language models, BERT and RoBERTa classifiers (see docs/evaluation.md).' },
      { name: 'head', type: 'model', optional: true, doc: 'The model that completes an edited encoder for this task: its topology and the tensors the edited model lacks (the task\'s head). Required, except for text tasks (`.jsonl`): a language model is its own head.' },
      { name: 'finetuned', type: 'model', optional: true, keywordOnly: true, doc: 'The fine-tuned reference for normalized metrics; defaults to `head`, and for a text task without `head` to the recipe\'s base (the model its task vectors subtract).' },
      { name: 'metric', type: 'string', default: '"accuracy"', keywordOnly: true, choices: ['accuracy', 'loss', 'perplexity'], doc: 'The metric reported and used by the objective (for text tasks on causal language models, `accuracy` is next-token accuracy; `perplexity` is for causal language models only).' },
      { name: 'name', type: 'string', optional: true, keywordOnly: true, doc: 'Display name; defaults to the binding name.' },
      { name: 'command', type: 'string', optional: true, keywordOnly: true, doc: 'External evaluator command template (`{model}`, `{task}`, `{split}`, `{data}`), printing metrics as JSON. Runs only in a trusted workspace.' },
    ],
    returns: 'Task',
    summary: 'An evaluation task: data, head and metric.',
    doc: 'Tasks are evaluated on the edited models and on the references a reader needs: the base and each fine-tuned model on its own task.',
    example: 'digits = task("data/mnist.safetensors", head=mnist)',
  },
  {
    name: 'evaluate',
    params: [
      { name: 'models', type: 'evaluand', variadic: true, doc: 'The edited models (or ensembles) to evaluate.' },
      { name: 'targets', type: 'tasks', keywordOnly: true, doc: 'Tasks the edit is meant to change (forget, or add).' },
      { name: 'controls', type: 'tasks', optional: true, keywordOnly: true, doc: 'Tasks that should stay as they are.' },
      { name: 'objective', type: 'string', default: '"add"', keywordOnly: true, choices: ['forget', 'add', 'max'], doc: '`forget`: lowest target accuracy keeping controls >= 95% of the base (the paper\'s negation rule); `add`: best mean normalized accuracy over targets; `max`: best mean target metric.' },
      { name: 'max_evaluations', type: 'number', default: String(defaultMaxEvaluations), keywordOnly: true, min: 1, max: ceilingMaxEvaluations, integer: true, doc: `The most evaluations the recipe's run may make (sweep points x tasks, plus the chosen points' tests and the references, over all its evaluate(...) statements); a recipe over it does not check. Raise it (up to ${ceilingMaxEvaluations.toLocaleString('en-US')}) when a long run is meant.` },
    ],
    returns: 'nothing',
    summary: 'Evaluate models on tasks; chooses sweep values on validation data.',
    doc: 'Every run reports absolute metrics, normalized accuracy (edited / fine-tuned) and the change against the base, with controls marked. A sweep is chosen on the validation split; test metrics are reported at the chosen point only.',
    example: 'evaluate(edited, targets=[digits], controls=[fashion], objective="forget")',
  },
  {
    name: 'ensemble',
    params: [
      { name: 'models', type: 'model', variadic: true, doc: 'The models whose predictions are mixed: fixed models (no sweep) with the same tensors, e.g. domain experts branched from one seed.' },
      { name: 'weights', type: 'mixture', optional: true, keywordOnly: true, doc: 'Mixture weights, normalised to sum to 1, or a `posterior(...)` over the same models in the same order. Equal by default.' },
    ],
    returns: 'Ensemble',
    summary: 'Mix several models\' next-token distributions (an ensemble); evaluated, never saved.',
    doc: 'p(x_t | x_<t) = sum_i w_i p_i(x_t | x_<t): every model reads the text and their probabilities of each next token are mixed with the weights. An ensemble of k models costs k forward passes per token; it has no weights of its own, so it cannot be saved or used in weight arithmetic (`mean(...)` averages the models into one Model instead). It is evaluated on causal language model text tasks (`.jsonl` with GPT-2 or Llama folders), by perplexity or loss.',
    example: 'experts = ensemble(legal, medical, code, weights=posterior(legal, medical, code, task=news))',
    reference: 'Branch-Train-Merge (Li et al., 2022), Section 3',
  },
  {
    name: 'posterior',
    params: [
      { name: 'models', type: 'model', variadic: true, doc: 'The models to weigh: fixed models (no sweep), as the ensemble(...) or mean(...) the posterior is given to lists them.' },
      { name: 'task', type: 'task', keywordOnly: true, doc: 'A causal language model text task: the posterior is estimated on its validation documents.' },
      { name: 'n', type: 'number', default: '100', keywordOnly: true, min: 1, integer: true, doc: 'How many validation documents (the first n of the file) the estimate averages over.' },
      { name: 'topk', type: 'number', optional: true, keywordOnly: true, min: 1, integer: true, doc: 'Keep only the k largest weights and renormalise them (the others become 0). All by default.' },
    ],
    returns: 'Posterior',
    summary: 'Mixture weights over models estimated by Bayes\' rule on a task\'s validation documents (the domain posterior).',
    doc: 'For each of the first n validation documents d of the task, P(model_j | d) is proportional to P(d | model_j) P(model_j): a uniform prior times the likelihood of the document\'s tokens under the model. The weights are these posteriors averaged over the documents, as Branch-Train-Merge caches its domain posterior from a few held-out sequences; with topk only the k largest are kept. Estimated when the recipe runs, before the evaluations that use it, and recorded in the results (and shown in the results panel). Give it as weights= to ensemble(...) or mean(...) over the same models in the same order.',
    example: 'w = posterior(legal, medical, code, task=news, n=100, topk=2)',
    reference: 'Branch-Train-Merge (Li et al., 2022), Section 3 (domain posterior)',
  },
  {
    name: 'by_tensor',
    params: [
      { name: 'rules', type: 'tensor-rule', variadic: true, doc: 'Pairs of a filter and its value: `"self_attn", [0, 0.5, 1], "mlp", 0.3`. A tensor takes the value of the first filter its name contains; a value is a number or a gradient over layers (a list).' },
      { name: 'default', type: 'tensor-rule', optional: true, keywordOnly: true, doc: 'The value (a number or a gradient) of tensors no filter matches; the method\'s own default when left out.' },
    ],
    returns: 'PerTensor',
    summary: 'A method argument that varies by tensor name and layer depth (mergekit\'s `filter` lists and gradients).',
    doc: 'Give it to any number argument a method marks as per-tensor (`density`, `gamma`, `p`, `t`, ...). A filter matches the tensors whose name contains it (`"*"` matches all). A gradient `[v0, v1, ..., vn]` spreads its numbers evenly over the layers: tensor of layer l (0-based) of L sits at t = l / (L - 1) (t = 1 when L = 1) and takes the linear interpolation of the list at t (n t between entries floor(n t) and floor(n t) + 1); a tensor whose name gives no layer index (embeddings, the final norm, the head) sits at t = 0, as in mergekit. The layer index is the number after a `layers`, `layer`, `blocks` or `h` segment of the name; L is the model folder\'s `num_hidden_layers` (or `n_layer`, `num_layers`) where an input is a Hugging Face folder, else 1 + the deepest index among the tensor names. A plain list given to a per-tensor argument is a gradient for every tensor: `ties(a, b, density=[0.2, 0.8])`. Hover on the argument lists the value each group of tensors takes.',
    example: 'mid = slerp(a, b, t=by_tensor("self_attn", [0, 0.5, 0.3, 0.7, 1], "mlp", [1, 0.5, 0.7, 0.3, 0], default=0.5))',
    reference: 'mergekit parameter filters and gradients',
  },
];

export const coreBuiltinByName: ReadonlyMap<string, CoreBuiltin> = new Map([...beforeMethods, ...afterMethods].map((b) => [b.name, b]));

/** Every built-in, in the order the reference documents them: the merge methods after mean. */
export const builtins: readonly Builtin[] = [...beforeMethods, ...methods.map((m) => m.builtin), ...afterMethods];

export const builtinByName: ReadonlyMap<string, Builtin> = new Map(builtins.map((b) => [b.name, b]));

/** `name(a, b, *, density=0.2)` style signature label. */
export function signatureLabel(b: Builtin): string {
  return `${b.name}(${b.params.map(paramLabel).join(', ')}) -> ${b.returns}`;
}

export function paramLabel(p: Param): string {
  const name = p.variadic ? `${p.name}...` : p.name;
  if (p.default !== undefined) return `${name}=${p.default}`;
  return p.optional ? `${name}?` : name;
}

export function isRequired(p: Param): boolean {
  return p.default === undefined && !p.optional;
}
