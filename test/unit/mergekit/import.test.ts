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
merged = base + 1.5*ties(model_1 - base, model_2 - base, density=0.5, rounding="float", zero_sum="plus")
save(merged, "merged.safetensors")`,
    reports: ['10:1 merge_method'],
    messages: { 0: /unstable sort \(torch\.argsort\), which cannot be reproduced/ },
  },
  {
    name: 'ties: densities per model differ (a gradient and a number), unknown keys; unequal weights and normalize: false are carried over',
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
    reports: ['2:3 models[].parameters.density', '14:3 parameters.rescale', '15:1 dtype', '16:1 tokenizer_source', '17:1 chat_template'],
    messages: { 0: /density differs between models \(\[0\.2, 0\.8\], 0\.4\)/, 2: /computes in bfloat16/ },
  },
  {
    name: 'ties with unequal weights (normalize on): the weighted mean over the agreeing models, exactly (density 1: no trimming, nothing to report)',
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
merged = base + ties(model_1 - base, model_2 - base, density=1, weights=[0.3, 0.7], zero_sum="plus")
save(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'dare_ties: normalize off by default (the sum, carried over); random masks are reported',
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
merged = base + ties(dare(model_1 - base, p=0.7, seed=0, rescale="l1"), dare(model_2 - base, p=0.7, seed=1, rescale="l1"), density=1, zero_sum="plus", normalize=false)
save(merged, "merged.safetensors")`,
    reports: ['6:1 merge_method'],
    messages: { 0: /torch\.bernoulli/ },
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
merged = slerp(base, model_1, t=0.25, zero="angle")
save(merged, "merged", dtype="f32")`,
    reports: ['1:1 slices'],
    messages: { 0: /slices/ },
  },
  {
    name: 'slerp with a filter list of gradients for t (the common mergekit slerp): by_tensor, entries after the unfiltered one never apply',
    yaml: `merge_method: slerp
base_model: a
models:
  - model: a
  - model: b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
    - filter: never
      value: 0.9
`,
    recipe: `base = load("a")
model_1 = load("b")
merged = slerp(base, model_1, t=by_tensor("self_attn", [0, 0.5, 0.3, 0.7, 1], "mlp", [1, 0.5, 0.7, 0.3, 0], default=0.5), zero="angle")
save(merged, "merged")`,
    reports: [],
  },
  {
    name: 'ties with a gradient density shared by the models and a filter list without a default',
    yaml: `merge_method: ties
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 1}
  - model: b.safetensors
    parameters: {weight: 1}
parameters:
  density:
    - filter: "*"
      value: [0.2, 0.8]
  lambda: 0.5
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + 0.5*ties(model_1 - base, model_2 - base, density=[0.2, 0.8], rounding="float", zero_sum="plus")
save(merged, "merged.safetensors")`,
    reports: ['1:1 merge_method'],
  },
  {
    name: 'dare_linear with a per-tensor density: the drop probability is 1 - density filter by filter; tensors no filter matches keep mergekit\'s default density 1',
    yaml: `merge_method: dare_linear
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters:
      weight: 1
      density:
        - filter: mlp
          value: [0.2, 0.6]
parameters: {normalize: false}
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
merged = base + (dare(model_1 - base, p=by_tensor("mlp", [0.8, 0.4], default=0), seed=0, rescale="l1"))
save(merged, "merged.safetensors")`,
    reports: ['1:1 merge_method'],
    messages: { 0: /torch\.bernoulli/ },
  },
  {
    name: 'a weight that varies by tensor, a malformed filter entry: reported',
    yaml: `merge_method: task_arithmetic
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters:
      weight: [0.2, 0.8]
  - model: b.safetensors
    parameters:
      weight: 1
      density:
        - filter: mlp
          value: fast
`,
    recipe: null,
    reports: ['6:7 models[0].parameters.weight', '12:18 models[1].parameters.density[0].value'],
    messages: { 0: /varies by tensor has no tvr equivalent/, 1: /a list of numbers/ },
  },
  {
    name: 'model_stock: the base and the fine-tuned models; filter_wise is reported',
    yaml: `merge_method: model_stock
base_model: base.safetensors
models:
  - model: a.safetensors
  - model: b.safetensors
  - model: c.safetensors
parameters:
  filter_wise: true
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
model_3 = load("c.safetensors")
merged = model_stock(base, model_1, model_2, model_3)
save(merged, "merged.safetensors")`,
    reports: ['8:3 parameters.filter_wise'],
    messages: { 0: /one angle per tensor/ },
  },
  {
    name: 'karcher over every listed model and a base_model missing from them (mergekit adds it, last), with its iteration settings',
    yaml: `merge_method: karcher
base_model: c.safetensors
models:
  - model: a.safetensors
  - model: b.safetensors
parameters:
  max_iter: 20
  tol: 0.000001
`,
    recipe: `model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
model_3 = load("c.safetensors")
merged = karcher(model_1, model_2, model_3, max_iter=20, tol=0.000001)
save(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'multislerp about a base: task vectors with their weights',
    yaml: `merge_method: multislerp
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 1}
  - model: b.safetensors
    parameters: {weight: 3}
  - model: c.safetensors
    parameters: {weight: 2}
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
model_3 = load("c.safetensors")
merged = base + multislerp(model_1 - base, model_2 - base, model_3 - base, weights=[1, 3, 2])
save(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'nuslerp of two models: t = w_b / (w_a + w_b); row-wise is reported',
    yaml: `merge_method: nuslerp
models:
  - model: a.safetensors
    parameters: {weight: 1}
  - model: b.safetensors
    parameters: {weight: 3}
parameters:
  nuslerp_row_wise: true
`,
    recipe: `model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = nuslerp(model_1, model_2, t=0.75)
save(merged, "merged.safetensors")`,
    reports: ['8:3 parameters.nuslerp_row_wise'],
  },
  {
    name: 'della: each delta pruned with its own density and epsilon and seed, then mergekit\'s weighted consensus; random masks reported',
    yaml: `merge_method: della
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 1, density: 0.5, epsilon: 0.1}
  - model: b.safetensors
    parameters: {weight: 2, density: 0.7}
parameters:
  lambda: 0.8
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + 0.8*ties(della_prune(model_1 - base, density=0.5, epsilon=0.1, seed=0), della_prune(model_2 - base, density=0.7, epsilon=0.15, seed=1), density=1, weights=[1, 2], zero_sum="plus")
save(merged, "merged.safetensors")`,
    reports: ['1:1 merge_method'],
    messages: { 0: /della: mergekit draws each element's mask with torch\.bernoulli/ },
  },
  {
    name: 'della_linear: the weighted sum of the pruned deltas (normalize off), rescale off carried over',
    yaml: `merge_method: della_linear
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 0.5, density: 1}
  - model: b.safetensors
    parameters: {weight: 0.25, density: 1}
parameters:
  rescale: false
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + (0.5*della_prune(model_1 - base, density=1, epsilon=0.15, rescale=false, seed=0) + 0.25*della_prune(model_2 - base, density=1, epsilon=0.15, rescale=false, seed=1))
save(merged, "merged.safetensors")`,
    reports: [],
  },
  {
    name: 'sce: the deltas, select_topk carried over; its count of non-zero variances reported',
    yaml: `merge_method: sce
base_model: base.safetensors
models:
  - model: a.safetensors
  - model: b.safetensors
parameters:
  select_topk: 0.3
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + sce(model_1 - base, model_2 - base, select_topk=0.3)
save(merged, "merged.safetensors")`,
    reports: ['1:1 merge_method'],
    messages: { 0: /non-zero variance/ },
  },
  {
    name: 'breadcrumbs_ties: weights, + at a zero sum and the sum (normalize off by default) carried over; tie-break and the empty slice reported',
    yaml: `merge_method: breadcrumbs_ties
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 1, density: 0.8, gamma: 0.02}
  - model: b.safetensors
    parameters: {weight: 2, density: 0.8, gamma: 0.02}
`,
    recipe: `base = load("base.safetensors")
model_1 = load("a.safetensors")
model_2 = load("b.safetensors")
merged = base + breadcrumbs_ties(model_1 - base, model_2 - base, density=0.8, gamma=0.02, weights=[1, 2], zero_sum="plus", normalize=false)
save(merged, "merged.safetensors")`,
    reports: ['1:1 merge_method'],
    messages: { 0: /floor\(gamma n\) = 0/ },
  },
  {
    name: 'a method tvr does not have: reported, nothing written',
    yaml: `models:
  - model: a
merge_method: passthrough
base_model: b
`,
    recipe: null,
    reports: ['3:15 merge_method'],
    messages: { 0: /"passthrough" has no tvr equivalent/ },
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
