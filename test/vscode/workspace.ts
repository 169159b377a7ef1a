// The example workspace a scenario opens: recipes and real (tiny) checkpoints. Every
// workspace has three safetensors checkpoints of one architecture (a base and two
// fine-tuned descendants) and a clean recipe; a scenario adds the fixtures it needs:
// recipes with known errors, a checkpoint of other shapes, and a runnable recipe over a
// TensorFlow.js model pair with evaluation data.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hfConfig, hfRandomModel, hfSpecs, hfTokenizerJson, hfVocabulary } from '../helpers/hf-fixtures.ts';
import { dirname, join } from 'node:path';
import {
  makeModel, mlpSpecs, mlpTopology, perturbModel, safetensorsBytes, seededRandom, tensorBytes, type FixtureModel, type FixtureTensor,
} from '../helpers/checkpoint-fixtures.ts';

export type WorkspaceFiles = Readonly<Record<string, string | Uint8Array>>;

const architecture = [
  { name: 'encoder.weight', shape: [4, 3] },
  { name: 'encoder.bias', shape: [4] },
  { name: 'head.weight', shape: [2, 4] },
];

const base = makeModel(architecture, { seed: 1, scale: 0.5 });
/** The checkpoints of the workspace, with their exact values for reference computations (e.g. a vector norm shown on hover). */
export const models: Readonly<Record<'base' | 'sci' | 'toxic', FixtureModel>> = {
  base,
  sci: perturbModel(base, { seed: 2, scale: 0.05 }),
  toxic: perturbModel(base, { seed: 3, scale: 0.05 }),
};

/** The L2 norm of `finetuned - base` over every tensor, in float64 from the stored values. */
export function taskVectorNorm(finetuned: FixtureModel, reference: FixtureModel): number {
  let squared = 0;
  finetuned.tensors.forEach((tensor, t) => {
    const other = reference.tensors[t]!.values;
    tensor.values.forEach((value, i) => { squared += (value - other[i]!) ** 2; });
  });
  return Math.sqrt(squared);
}

/** A recipe the checker accepts without a diagnostic (so any squiggle a scenario sees is its own). */
export const negateRecipe = `# negation: forget "toxic"
base = load("models/base.safetensors")
sci = load("models/sci.safetensors") - base
toxic = load("models/toxic.safetensors") - base
edited = base + 0.5*sci - 0.75*toxic
save(edited, "out/edited.safetensors")
`;

/** Files every workspace has; a scenario adds its own recipes on top. */
export const baseFiles: WorkspaceFiles = {
  'models/base.safetensors': safetensorsBytes(models.base, { metadata: { format: 'pt' } }),
  'models/sci.safetensors': safetensorsBytes(models.sci, { metadata: { format: 'pt' } }),
  'models/toxic.safetensors': safetensorsBytes(models.toxic, { metadata: { format: 'pt' } }),
  'negate.tvr': negateRecipe,
  'scratch.tvr': '',
};

/** A recipe with exactly one error, and what the editor must show for it. */
export interface ErrorFixture {
  readonly file: string;
  readonly text: string;
  readonly code: string;
  /** Every one of these is in the message. */
  readonly message: readonly string[];
  /** Zero-based line and character range of the squiggle. */
  readonly range: { readonly line: number; readonly start: number; readonly end: number };
}

/** The architecture with a wider encoder: every tensor's shape differs from the workspace's models. */
const wide = makeModel([
  { name: 'encoder.weight', shape: [5, 3] },
  { name: 'encoder.bias', shape: [5] },
  { name: 'head.weight', shape: [2, 5] },
], { seed: 4, scale: 0.5 });

export const errorFixtures: readonly ErrorFixture[] = [
  {
    file: 'type-error.tvr',
    text: 'base = load("models/base.safetensors")\nm = base + load("models/sci.safetensors")\nsave(m, "out/m.safetensors")\n',
    code: 'model-weight-sum',
    message: ['the model weights sum to 2'],
    range: { line: 1, start: 4, end: 41 },
  },
  {
    file: 'shape-mismatch.tvr',
    text: 'base = load("models/base.safetensors")\nw = load("models/wide.safetensors") - base\nsave(base + w, "out/w.safetensors")\n',
    code: 'shape-mismatch',
    message: ['3 tensors differ', '"encoder.weight" is [4, 3] F32 here but [5, 3] F32'],
    range: { line: 1, start: 38, end: 42 },
  },
  {
    file: 'vocab-mismatch.tvr',
    text: 'base = load("models/gpt2-base")\nv = load("models/gpt2-big") - base\nsave(base + v, "out/v")\n',
    code: 'vocab-mismatch',
    message: ["'base' has 1000 tokens but", 'has 1003', 'their tokenizer.json vocabularies agree on all 1000 shared ids'],
    range: { line: 1, start: 30, end: 34 },
  },
  {
    file: 'missing-file.tvr',
    text: 'base = load("models/base.safetensors")\nx = load("models/nope.safetensors") - base\nsave(base + x, "out/x.safetensors")\n',
    code: 'file-not-found',
    message: ['checkpoint not found: models/nope.safetensors'],
    range: { line: 1, start: 9, end: 34 },
  },
];

/** A tiny GPT-2 Hugging Face folder's files: config.json, weights, tokenizer.json. */
function gpt2FolderFiles(dir: string, vocabSize: number, seed: number): WorkspaceFiles {
  return {
    [`${dir}/config.json`]: JSON.stringify(hfConfig('gpt2', { vocabSize })),
    [`${dir}/model.safetensors`]: safetensorsBytes(hfRandomModel(hfSpecs({ family: 'gpt2', vocabSize }), seed), { metadata: { format: 'pt' } }),
    [`${dir}/tokenizer.json`]: JSON.stringify(hfTokenizerJson(hfVocabulary(vocabSize))),
  };
}

export const errorFiles: WorkspaceFiles = {
  'models/wide.safetensors': safetensorsBytes(wide, { metadata: { format: 'pt' } }),
  ...gpt2FolderFiles('models/gpt2-base', 1000, 41),
  ...gpt2FolderFiles('models/gpt2-big', 1003, 42),
  ...Object.fromEntries(errorFixtures.map((fixture) => [fixture.file, fixture.text])),
};

/** Adding two models: an error whose quick fix ("Average them: mean(a, b)") repairs it. */
export const quickFix = {
  file: 'sum.tvr',
  text: 'a = load("models/sci.safetensors")\nb = load("models/toxic.safetensors")\nm = a + b\nsave(m, "out/m.safetensors")\n',
  title: 'Average them: mean(a, b)',
  fixedLine: 'm = mean(a, b)',
} as const;

// A TensorFlow.js Dense network 4 -> 8 -> 3 (`dense1` the shared encoder, `dense2` the head):
// a base and a fine-tuned descendant with its own head, small enough that `tvr run` evaluates
// every sweep point in about a second.
const mlpSizes = [4, 8, 3];
const mlpBase = makeModel(mlpSpecs(mlpSizes), { seed: 5 });
const mlpFinetuned = perturbModel(mlpBase, { seed: 6, scale: 1 });

/** model.json (a Sequential topology and its weights manifest) and its one weights shard. */
function tfjsModelFiles(dir: string, model: FixtureModel): WorkspaceFiles {
  const shards = model.tensors.map(tensorBytes);
  const weights = new Uint8Array(shards.reduce((sum, shard) => sum + shard.length, 0));
  shards.reduce((at, shard) => { weights.set(shard, at); return at + shard.length; }, 0);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'tvr e2e fixture',
    convertedBy: null,
    modelTopology: mlpTopology(mlpSizes),
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: model.tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: 'float32' })) }],
  };
  return { [`${dir}/model.json`]: JSON.stringify(modelJson), [`${dir}/group1-shard1of1.bin`]: weights };
}

/** The class the network (relu encoder, linear head) gives `x`, in float64. */
function predict(encoder: FixtureModel, head: FixtureModel, x: readonly number[]): number {
  const [w1, b1] = [encoder.tensors[0]!.values, encoder.tensors[1]!.values];
  const [w2, b2] = [head.tensors[2]!.values, head.tensors[3]!.values];
  const [, hidden, classes] = mlpSizes as [number, number, number];
  const h = Array.from({ length: hidden }, (_, j) => Math.max(0, b1[j]! + x.reduce((s, xi, i) => s + xi * w1[i * hidden + j]!, 0)));
  const logits = Array.from({ length: classes }, (_, k) => b2[k]! + h.reduce((s, hj, j) => s + hj * w2[j * classes + k]!, 0));
  return logits.indexOf(Math.max(...logits));
}

/** validation/x, validation/y, test/x, test/y (docs/evaluation.md): random inputs labelled by a network. */
function evaluationData(seed: number, label: (x: readonly number[]) => number): Uint8Array {
  const random = seededRandom(seed);
  const tensors: FixtureTensor[] = [];
  for (const split of ['validation', 'test']) {
    const rows = Array.from({ length: 40 }, () => Array.from({ length: mlpSizes[0]! }, () => Math.fround(2 * random() - 1)));
    tensors.push({ name: `${split}/x`, dtype: 'F32', shape: [rows.length, mlpSizes[0]!], values: Float64Array.from(rows.flat()) });
    tensors.push({ name: `${split}/y`, dtype: 'I32', shape: [rows.length], values: Float64Array.from(rows.map(label)) });
  }
  return safetensorsBytes({ tensors });
}

/** A recipe `tvr run` evaluates in a second or two: task addition swept over 3 points, a target and a control task. */
export const runnableRecipe = {
  file: 'add.tvr',
  text: `# add the fine-tuned task to the base, watching a control task
base = load("mlp/base/model.json", exclude="dense2/*")
ft = load("mlp/finetuned/model.json")
t = exclude(ft, "dense2/*") - base
lam = sweep(0, 1, 0.5)
edited = base + lam*t
target = task("mlp/target.safetensors", head=ft)
control = task("mlp/control.safetensors", head=ft)
evaluate(edited, targets=[target], controls=[control], objective="add")
`,
  resultsFile: 'add.results.json',
  tasks: ['target', 'control'],
} as const;

/** A recipe whose task runs an external evaluator command: refused in an untrusted workspace. */
export const externalRecipe = {
  file: 'external.tvr',
  text: `ft = load("mlp/finetuned/model.json")
scored = task("mlp/target.safetensors", head=ft, command="node eval.js {model}")
evaluate(ft, targets=[scored])
`,
  /** docs/evaluation.md, "Trust": the message `tvr run --untrusted` refuses the recipe with. */
  /** What the evaluator command would write: it must not exist after a refused run. */
  marker: 'evaluated.txt',
  refusal: "line 2: task 'scored' runs an external evaluator command, and this workspace is not trusted: tvr runs no commands from an untrusted recipe. Trust the workspace (or run without --untrusted) to evaluate it",
} as const;

export const runnableFiles: WorkspaceFiles = {
  ...tfjsModelFiles('mlp/base', mlpBase),
  ...tfjsModelFiles('mlp/finetuned', mlpFinetuned),
  'mlp/target.safetensors': evaluationData(21, (x) => predict(mlpFinetuned, mlpFinetuned, x)),
  'mlp/control.safetensors': evaluationData(22, (x) => predict(mlpBase, mlpFinetuned, x)),
  [runnableRecipe.file]: runnableRecipe.text,
  [externalRecipe.file]: externalRecipe.text,
  'eval.js': "require('node:fs').writeFileSync('evaluated.txt', process.argv[2] ?? '');\nconsole.log(JSON.stringify({ accuracy: 1, examples: 1 }));\n",
};

/** Every fixture: the in-extension-host suite's workspace. */
export const allFiles: WorkspaceFiles = { ...errorFiles, [quickFix.file]: quickFix.text, ...runnableFiles };

export function writeWorkspace(dir: string, extra: WorkspaceFiles = {}): string {
  for (const [rel, content] of Object.entries({ ...baseFiles, ...extra })) {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}
