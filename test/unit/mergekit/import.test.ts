// `tvr import mergekit`: mergekit configurations (written here in mergekit's documented
// shapes) -> the recipe text and the reports (line:column key) of every key that has no
// exact tvr equivalent. The numbers of imported recipes are checked end to end in
// test/e2e-cli/import-mergekit.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { importMergekit } from '../../../server/src/mergekit/import.ts';

interface Case {
  readonly name: string;
  readonly yaml: string;
  /** The recipe's statements (comment lines left out), or null when nothing can be written. */
  readonly recipe: string | null;
  /** `line:column key` of each report, in order. */
  readonly reports: readonly string[];
  /** A fragment each report's message holds, by index. */
  readonly messages?: Readonly<Record<number, RegExp>>;
  readonly malformed?: boolean;
}

const cases: readonly Case[] = [
  {
    name: 'linear: weights normalised by their sum (normalize defaults to true)',
    yaml: `models:
  - model: a.safetensors
    parameters:
      weight: 1.0
  - model: b.safetensors
    parameters:
      weight: 3.0
merge_method: linear
dtype: float32
`,
    recipe: `model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = (model_1 + 3*model_2) / 4
save(merged, "merged.safetensors", dtype="f32")`,
    reports: [],
  },
  {
    name: 'linear with normalize: false; out_dtype is the save dtype',
    yaml: `models:
  - model: a.safetensors
    parameters: {weight: 0.5}
  - model: b.safetensors
    parameters: {weight: 0.25}
merge_method: linear
parameters:
  normalize: false
out_dtype: bfloat16
`,
    recipe: `model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = 0.5*model_1 + 0.25*model_2
save(merged, "merged.safetensors", dtype="bf16")`,
    reports: [],
  },
  {
    name: 'task_arithmetic: lambda, the base listed among the models is skipped, tokenizer_source: base',
    yaml: `base_model: base.safetensors
models:
  - model: base.safetensors
  - model: sci.safetensors
    parameters:
      weight: 0.6
  - model: code.safetensors
    parameters:
      weight: -0.2
merge_method: task_arithmetic
parameters:
  lambda: 0.9
tokenizer_source: base
`,
    recipe: `base = load("base.safetensors")
model_1 = load("sci.safetensors")
model_2 = load("code.safetensors")
merged = base + 0.9*(0.6*(model_1 - base) + -0.2*(model_2 - base))`
      + `\nsave(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'ties with equal weights: density and lambda carried over; the tie-break differences reported',
    yaml: `models:
  - model: a.safetensors
    parameters:
      density: 0.5
      weight: 1
  - model: b.safetensors
    parameters:
      density: 0.5
      weight: 1
merge_method: ties
base_model: base.safetensors
parameters:
  int8_mask: true
  lambda: 1.5
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + 1.5*ties(model_1 - base, model_2 - base, density=0.5)
save(merged, "merged.safetensors")`,
    reports: ['10:1 merge_method'],
    messages: { 0: /mergekit elects \+ \(tvr gives 0\)/ },
  },
  {
    name: 'ties: unequal weights, normalize: false, densities per model differ, a gradient, unknown keys',
    yaml: `models:
  - model: a.safetensors
    parameters:
      density: [0.2, 0.8]
      weight: 0.3
  - model: b.safetensors
    parameters:
      density: 0.4
      weight: 0.7
merge_method: ties
base_model: base.safetensors
parameters:
  normalize: false
  rescale: true
dtype: bfloat16
tokenizer_source: union
chat_template: chatml
`,
    recipe: null,
    reports: ['2:3 models[].parameters.density', '4:7 models[0].parameters.density', '13:3 parameters.normalize', '14:3 parameters.rescale', '15:1 dtype', '16:1 tokenizer_source', '17:1 chat_template'],
    messages: { 0: /density differs between models \(1, 0\.4\)/, 1: /per-layer parameters do not exist/, 2: /sums the weighted deltas/, 4: /computes in bfloat16/ },
  },
  {
    name: 'ties with unequal weights (normalize on): a weighted mean over the agreeing models, not expressible',
    yaml: `models:
  - model: a.safetensors
    parameters: {weight: 0.3}
  - model: b.safetensors
    parameters: {weight: 0.7}
merge_method: ties
base_model: base.safetensors
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + ties(model_1 - base, model_2 - base, density=1)
save(merged, "merged.safetensors")`,
    reports: ['2:3 models[].parameters.weight', '6:1 merge_method'],
    messages: { 0: /unequal weights \(0\.3, 0\.7\)/ },
  },
  {
    name: 'dare_ties: normalize off by default (sum, not mean) and random masks are reported',
    yaml: `models:
  - model: a.safetensors
    parameters: {weight: 1, density: 0.3}
  - model: b.safetensors
    parameters: {weight: 1, density: 0.3}
merge_method: dare_ties
base_model: base.safetensors
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + ties(dare(model_1 - base, p=0.7, seed=0), dare(model_2 - base, p=0.7, seed=1), density=1)
save(merged, "merged.safetensors")`,
    reports: ['6:1 merge_method', '6:1 merge_method'],
    messages: { 0: /sums the weighted deltas/, 1: /torch\.bernoulli/ },
  },
  {
    name: 'breadcrumbs: per-model density and gamma; the sum of the masked deltas',
    yaml: `models:
  - model: a.safetensors
    parameters: {weight: 0.5, density: 0.9, gamma: 0.02}
  - model: b.safetensors
    parameters: {weight: 0.5, density: 0.8}
merge_method: breadcrumbs
base_model: base.safetensors
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + (0.5*breadcrumbs(model_1 - base, density=0.9, gamma=0.02) + 0.5*breadcrumbs(model_2 - base, density=0.8, gamma=0.01))
save(merged, "merged.safetensors")`,
    reports: ['6:1 merge_method'],
    messages: { 0: /floor\(gamma n\) = 0/ },
  },
  {
    name: 'slerp with a scalar t; a model folder saves as a folder',
    yaml: `slices:
merge_method: slerp
base_model: models/base
models:
  - model: models/base
  - model: models/chat
parameters:
  t: 0.25
dtype: float32
`,
    recipe: `base = load("models/base")
model_1 = load("models/chat")
merged = slerp(base, model_1, t=0.25)
save(merged, "merged", dtype="f32")`,
    reports: ['1:1 slices', '2:1 merge_method'],
    messages: { 0: /slices/, 1: /zero/ },
  },
  {
    name: 'slerp with a gradient and a filter list for t: nothing to write',
    yaml: `merge_method: slerp
base_model: a
models:
  - model: a
  - model: b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - value: 0.5
`,
    recipe: null,
    reports: ['7:3 parameters.t'],
    messages: { 0: /filter list/ },
  },
  {
    name: 'a method tvr does not have: reported, nothing written',
    yaml: `models:
  - model: a
merge_method: della
base_model: b
`,
    recipe: null,
    reports: ['3:15 merge_method'],
    messages: { 0: /"della" has no tvr equivalent/ },
  },
  {
    name: 'model+lora and unknown per-model keys',
    yaml: `models:
  - model: a+adapters/x
  - model: b
    parameters: {weight: 1}
    extra: 1
merge_method: linear
`,
    recipe: `model_1 = load("b")
merged = model_1
save(merged, "merged")`,
    reports: ['2:5 models[0].model', '5:5 models[1].extra'],
  },
  {
    name: 'linear: tokenizer_source is imported only where it names the saved model\'s anchor (the first model)',
    yaml: `models:
  - model: a
    parameters: {weight: 1}
  - model: b
    parameters: {weight: 1}
merge_method: linear
tokenizer_source: b
`,
    recipe: `model_1 = load("a")
model_2 = load("b")
merged = (model_1 + model_2) / 2
save(merged, "merged")`,
    reports: ['7:1 tokenizer_source'],
  },
  {
    name: 'dare_linear at density 1 draws no mask: exact',
    yaml: `base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 2}
merge_method: dare_linear
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
merged = base + (2*(model_1 - base))
save(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'not valid YAML',
    yaml: 'models: [a\nmerge_method: linear\n',
    recipe: null,
    reports: [],
    malformed: true,
  },
];

function statements(recipe: string | null): string | null {
  return recipe === null ? null : recipe.split('\n').filter((line) => line !== '' && !line.startsWith('#')).join('\n');
}

describe('tvr import mergekit: configuration -> recipe and reports', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = importMergekit(c.yaml, { configDir: '/w', recipeDir: '/w', configName: 'config.yml' });
      assert.equal(result.malformed, c.malformed === true);
      if (c.malformed) {
        assert.ok(result.reports.length > 0 && result.reports.every((r) => /not valid YAML/.test(r.message)));
        return;
      }
      assert.equal(statements(result.recipe), c.recipe);
      assert.deepEqual(result.reports.map((r) => `${r.line}:${r.column} ${r.key}`), c.reports);
      for (const [i, pattern] of Object.entries(c.messages ?? {})) assert.match(result.reports[Number(i)]!.message, pattern);
      // Every report is written into the recipe as a comment: nothing is dropped silently.
      if (result.recipe !== null) {
        const comments = result.recipe.split('\n').filter((line) => line.startsWith('# not imported: '));
        assert.deepEqual(comments, result.reports.map((r) => `# not imported: ${r.line}:${r.column} ${r.key}: ${r.message}`));
      }
    });
  }

  it('writes load paths relative to the recipe, from the configuration\'s folder', () => {
    const result = importMergekit('merge_method: linear\nmodels:\n  - model: m/a.safetensors\n    parameters: {weight: 1}\n  - model: /abs/b.safetensors\n    parameters: {weight: 1}\n', { configDir: '/w/configs', recipeDir: '/w/recipes', configName: 'c.yml' });
    assert.match(result.recipe!, /model_1 = load\("\.\.\/configs\/m\/a\.safetensors"\)/);
    assert.match(result.recipe!, /model_2 = load\("\/abs\/b\.safetensors"\)/);
  });
});
