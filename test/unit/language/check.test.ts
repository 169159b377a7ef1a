// The checker on real checkpoint headers: each row is a recipe and exactly the
// diagnostics it must produce, annotated under the lines they point at, each with a
// fragment of its message and some with their quick fixes (test/helpers/annotated-recipes.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as P from '../../../server/src/language/poly.ts';
import { analysisDiagnostics, assertAnnotatedDiagnostics, recipe } from '../../helpers/annotated-recipes.ts';
import { analyzeIn, assertTypes, recipeWorkspace, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';

let ws: RecipeWorkspace;
before(() => { ws = recipeWorkspace(); });
after(() => ws.cleanup());

const header = 'base = load("base.safetensors")\nsci = load("sci.safetensors") - base\ntoxic = load("toxic.safetensors") - base\n';

/** A recipe with its expected diagnostics annotated under the lines they point at (test/helpers/annotated-recipes.ts). */
interface AnnotatedRow {
  readonly name: string;
  readonly recipe: string;
  /** binding -> type name. */
  readonly types?: Readonly<Record<string, string>>;
}

/** Lines `v<from> = dare(v<from - 1>, ...)` to `v<to> = ...`: a chain of weight operations through names. */
function dareChain(from: number, to: number): string {
  return Array.from({ length: to - from + 1 }, (_, i) => `v${from + i} = dare(v${from + i - 1}, p=0.1, seed=${from + i - 1})`).join('\n');
}

/** Lines `v<from> = magnitude_prune(v<from - 1>)` to `v<to> = ...`: statistics of statistics. */
function pruneChain(from: number, to: number): string {
  return Array.from({ length: to - from + 1 }, (_, i) => `v${from + i} = magnitude_prune(v${from + i - 1})`).join('\n');
}

/** Ten sweeps of 11 points each, l0 to l9, and their sum. */
const tenSweeps = Array.from({ length: 10 }, (_, i) => `l${i} = sweep(0, 1, 0.1)`).join('\n');
const tenSweepsSum = Array.from({ length: 10 }, (_, i) => `l${i}`).join(' + ');

// The type system (weight sums, Models against Vectors, operations, bases, shapes), then
// names, calls, files, folding and the limits.
const rows: AnnotatedRow[] = [
  {
    name: 'task arithmetic: negation, addition, scaling',
    recipe: recipe`
      ${header}edited = base + 0.5*sci - toxic
      save(edited, "out/e.safetensors")
    `,
    types: { base: 'Model', sci: 'Vector', toxic: 'Vector', edited: 'Model' },
  },
  {
    name: 'a + b of two models is the classic mistake',
    recipe: recipe`
      ${header}m = base + load("sci.safetensors")
      #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[model-weight-sum]: the model weights sum to 2 ('base': 1, 'sci.safetensors': 1)
      #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ fix: Average them: mean(base, load("sci.safetensors"))
      save(m, "o.safetensors")
    `,
  },
  {
    name: 'a soup written by hand balances',
    recipe: recipe`
      a = load("sci.safetensors")
      b = load("toxic.safetensors")
      soup = (a + b)/2
      w = 0.3*a + 0.7*b
      save(soup, "s.safetensors")
      save(w, "w.safetensors")
    `,
    types: { soup: 'Model', w: 'Model' },
  },
  {
    name: 'weights summing to something else name the sum',
    recipe: recipe`
      a = load("sci.safetensors")
      b = load("toxic.safetensors")
      x = 0.5*a + 0.6*b
      #   ^^^^^^^^^^^^^ error[model-weight-sum]: sum to 1.1
      #   ^^^^^^^^^^^^^ fix: Divide by 1.1 so the weights sum to 1
      save(x, "x.safetensors")
    `,
  },
  {
    name: 'an analogy C + (B - A) is a Model, with a foreign-base warning',
    recipe: recipe`
      a = load("sci.safetensors")
      b = load("toxic.safetensors")
      c = load("legal.safetensors")
      d = c + (b - a)
      #   ^^^^^^^^^^^ warning[foreign-base]: computed from 'a' is applied to 'c'
      save(d, "d.safetensors")
    `,
    types: { d: 'Model' },
  },
  {
    name: 'an analogy over task vectors on one base has no warning',
    recipe: recipe`
      ${header}legal = load("legal.safetensors") - base
      new = legal + (toxic - sci)
      edited = base + new
      save(edited, "o.safetensors")
    `,
    types: { new: 'Vector', edited: 'Model' },
  },
  {
    name: 'vectors cannot stand where models are needed, and the reverse',
    recipe: recipe`
      ${header}t = ties(load("sci.safetensors"), toxic)
      #        ^^^^^^^^^^^^^^^^^^^^^^^ error[type-mismatch]: but this is a Model (a point, not a direction): subtract the base
      #        ^^^^^^^^^^^^^^^^^^^^^^^ fix: Use the task vector load("sci.safetensors") - base
      evaluate(sci, targets=[])
      #        ^^^ error[type-mismatch]: but this is a Vector (a task Vector): add it to a base model
      s = save(base, "s.safetensors")
      #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[type-mismatch]: save() returns nothing; it cannot be assigned to 's'
    `,
  },
  {
    name: 'multiplying two models, adding numbers to models',
    recipe: recipe`
      ${header}x = base * base
      #   ^^^^^^^^^^^ error[invalid-operation]: cannot multiply a Model by a Model
      y = base + 1
      #   ^^^^^^^^ error[invalid-operation]: cannot add a number to a Model
      z = 2 / sci
      #       ^^^ error[invalid-operation]: cannot divide by a Vector
      save(x, "x.safetensors")
      save(y, "y.safetensors")
      save(z, "z.safetensors")
    `,
  },
  {
    name: 'shape mismatch names the tensors and counts',
    recipe: recipe`
      ${header}w = load("wide.safetensors") - base
      #                              ^^^^ error[shape-mismatch]: 3 tensors differ; "dense1/kernel" is [6, 4] F32 here but [6, 5] F32
      save(w, "w.safetensors")
    `,
  },
  {
    name: 'f16 and bf16 checkpoints combine with f32 ones (computed in float32)',
    recipe: recipe`
      a = load("half.safetensors")
      b = load("brain.safetensors")
      c = load("base.safetensors")
      m = mean(a, b, c)
      save(m, "m.safetensors")
    `,
    types: { m: 'Model' },
  },
  {
    name: 'sharded and tfjs checkpoints have the same table as single files',
    recipe: recipe`
      ${header}s = load("sharded/model.safetensors.index.json")
      t = load("tfjs/model.json")
      e = s + sci + (t - base)
      #   ^^^^^^^^^^^^^^^^^^^^ warning[foreign-base]: a task vector computed from 'base' is applied to 's'
      save(e, "e.safetensors")
    `,
  },
  {
    name: 'integer tensors: reported once, and a mismatch when mixed with tables lacking them',
    recipe: recipe`
      a = load("ids.safetensors")
      #        ^^^^^^^^^^^^^^^^^ info[non-float-tensors]: one integer/bool tensor (position_ids (I64)) is not combined
      b = load("ids.safetensors")
      c = load("base.safetensors")
      v = a - c
      #       ^ error[shape-mismatch]: "position_ids" is missing here
      save(v, "v.safetensors")
    `,
  },
  {
    name: 'sweeps keep weights affine for every lambda and must be chosen by an evaluation before saving',
    recipe: recipe`
      ${header}lam = sweep(0, 1, 0.1)
      e = base + lam*sci
      soup = lam*load("sci.safetensors") + (1 - lam)*load("toxic.safetensors")
      bad = lam*base
      #     ^^^^^^^^ error[model-weight-sum]: sum to lam
      save(e, "e.safetensors")
      #       ^^^^^^^^^^^^^^^ error[unsaved-sweep]: depends on the sweep lam
    `,
    types: { lam: 'Sweep', e: 'Model', soup: 'Model' },
  },
  {
    name: 'selection narrows tables so different heads can be excluded',
    recipe: recipe`
      a = exclude(load("base.safetensors"), "dense2/*")
      b = load("sci.safetensors", exclude="dense2/*")
      v = b - a
      w = select(v, "*bias", "nothing*")
      #                      ^^^^^^^^^^ warning[empty-selection]: pattern "nothing*" matches no tensor of 'v'
      save(w, "w.safetensors")
    `,
    types: { v: 'Vector', w: 'Vector' },
  },
  {
    name: 'a selection that keeps nothing is an error',
    recipe: recipe`
      a = select(load("base.safetensors"), "zzz")
      #                                    ^^^^^ warning[empty-selection]: pattern "zzz" matches no tensor
      #                                    ^^^^^ error[empty-selection]: this selection keeps none of the 4 tensors of 'base.safetensors'
      save(a, "a.safetensors")
    `,
  },
  {
    name: 'missing and broken files are reported on the path string',
    recipe: recipe`
      a = load("nope.safetensors")
      #        ^^^^^^^^^^^^^^^^^^ error[file-not-found]: checkpoint not found: nope.safetensors
      b = load("broken.safetensors")
      #        ^^^^^^^^^^^^^^^^^^^^ error[bad-checkpoint]: shape [2] x F32 needs 8 [span-mismatch]
      c = load("data.safetensors")
      #        ^^^^^^^^^^^^^^^^^^ info[non-float-tensors]: 2 integer/bool tensors (validation/y (I32), test/y (I32)) are not combined
    `,
  },
  {
    name: 'names: undefined with a suggestion, use before definition, duplicates, shadowing a built-in',
    recipe: recipe`
      ${header}e = base + sci + toxci
      #                ^^^^^ error[undefined-name]: 'toxci' is not defined; did you mean 'toxic'?
      #                ^^^^^ fix: Change to 'toxic'
      f = g
      #   ^ error[use-before-definition]: 'g' is used before its definition on line 9
      g = 1
      base = 2
      #^^^ error[duplicate-binding]: 'base' is already defined on line 1
      mean = 3
      #^^^ warning[builtin-shadowed]: 'mean' hides the built-in function mean()
    `,
  },
  {
    name: 'per-tensor arguments: a gradient (a list) or by_tensor(...) where a method marks a number per-tensor; each number in range; anywhere else a type error',
    recipe: recipe`
      ${header}a = ties(sci, toxic, density=[0.2, 0.8])
      b = slerp(base, base + sci, t=by_tensor("self_attn", [0, 1], "mlp", 0.3, default=0.5))
      c = ties(sci, toxic, density=[0.2, 1.5])
      #                                  ^^^ error[invalid-value]: 'density' of ties() must be <= 1, but is 1.5
      d = dare(sci, p=by_tensor("mlp", 0.5, default=1))
      #               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[invalid-value]: 'p' of dare() must be < 1, but is 1
      e = dare(sci, p=0.5, seed=[1, 2])
      #                         ^^^^^^ error[type-mismatch]: 'seed'
      f = ties(sci, toxic, density=[])
      #                            ^^ error[invalid-value]: 'density' is an empty list
      g = by_tensor("mlp")
      #             ^^^^^ error[argument-count]: by_tensor() has no value for filter "mlp"
      h = by_tensor(0.3, "mlp")
      #             ^^^ error[type-mismatch]: argument 1 should be a filter such as "self_attn"
      i = by_tensor("mlp", "attn")
      #                    ^^^^^^ error[type-mismatch]: a number or a list of numbers, not another filter
      lam = sweep(0, 1, 0.5)
      j = ties(sci, toxic, density=[0.2, lam])
      #                                  ^^^ error[type-mismatch]: 'density'
      k = by_tensor("mlp", [0.1, lam])
      #                          ^^^ error[type-mismatch]: 'the value of "mlp"' must hold fixed numbers
      save(base + a + 0*b, "o.safetensors")
    `,
    types: { a: 'Vector', b: 'Model', g: 'unknown' },
  },
  {
    name: 'ties with mergekit\'s choices: one weight per vector, each > 0; zero_sum and rounding take their choices; normalize a bool',
    recipe: recipe`
      ${header}a = ties(sci, toxic, weights=[0.3, 0.7], zero_sum="plus", normalize=false, rounding="float")
      b = ties(sci, toxic, weights=[1])
      #                            ^^^ error[invalid-value]: weights has 1 number for 2 vectors
      c = ties(sci, toxic, weights=[1, 0])
      #                            ^^^^^^ error[invalid-value]: weights must all be > 0
      d = ties(sci, toxic, zero_sum="plu")
      #                             ^^^^^ error[invalid-value]: 'zero_sum' must be one of "none", "plus"
      #                             ^^^^^ fix: Change to "plus"
      e = ties(sci, toxic, normalize=1)
      #                              ^ error[type-mismatch]: 'normalize'
      save(base + a, "o.safetensors")
    `,
  },
  {
    name: 'calls: unknown function, unknown and duplicate keywords, missing and extra arguments, bad choices and ranges',
    recipe: recipe`
      ${header}a = tie(sci, toxic)
      #   ^^^ error[unknown-function]: did you mean 'ties'?
      #   ^^^ fix: Change to 'ties'
      b = ties(sci, toxic, densty=0.2)
      #                    ^^^^^^ error[unknown-argument]: did you mean 'density'?
      #                    ^^^^^^ fix: Change to 'density'
      c = dare(sci, p=1)
      #               ^ error[invalid-value]: 'p' of dare() must be < 1, but is 1
      d = load()
      #   ^^^^^^ error[argument-count]: load() needs 'path'
      e = slerp(base, base, 0.5, 3)
      #                          ^ error[argument-count]: takes 3 positional arguments (a, b, t)
      save(base, "o.safetensors", dtype="f8")
      #                                 ^^^^ error[invalid-value]: 'dtype' must be one of "f32", "f16", "bf16"
      f = dare(sci, p=0.5, p=0.6)
      #                    ^^^^^ error[duplicate-argument]: 'p' is given twice
    `,
  },
  {
    name: 'merge methods of several inputs: counts, list lengths and kinds',
    recipe: recipe`
      ${header}ft = load("sci.safetensors")
      a = model_stock(base, ft)
      #                     ^^ error[argument-count]: model_stock() needs at least two fine-tuned models besides the base
      b = multislerp(sci, toxic, weights=[1, 2, 3])
      #                                  ^^^^^^^^^ error[invalid-value]: multislerp() takes a weight per input: it was given 3 weights for 2 inputs
      c = multislerp(sci, toxic, weights=[1, -1])
      #                                  ^^^^^^^ error[invalid-value]: the weights of multislerp() sum to 0
      d = karcher(ft, sci)
      #               ^^^ error[type-mismatch]: karcher() averages values of one kind: the first is a Model but this is a Vector
      e = tall(sci, toxic)
      #        ^^^ warning[invalid-value]: this task vector is not one of the vectors merged
    `,
  },
  {
    name: 'DELLA: density ± epsilon in (0, 1) for every density strictly between 0 and 1 (said at the first vector)',
    recipe: recipe`
      ${header}a = della_prune(sci, density=0.1)
      #               ^^^ error[invalid-value]: della_prune(): density - epsilon must lie strictly between 0 and 1 (the keep probabilities run from density - epsilon to density + epsilon), but density 0.1 - epsilon 0.15 = -0.05 is not above 0
      b = della(sci, toxic, density=[0.5, 0.9], epsilon=0.1)
      #         ^^^ error[invalid-value]: della(): density + epsilon must lie strictly between 0 and 1
      c = della_linear(sci, toxic, epsilon=0.5)
      #                                    ^^^ error[invalid-value]: 'epsilon' of della_linear() must be < 0.5, but is 0.5
      d = della(sci, toxic, density=1, epsilon=0.3) + della_prune(sci, density=0) + della_linear(sci, toxic, density=0.2)
    `,
  },
  {
    name: 'an evaluation chooses the sweep; tasks check their data and heads',
    recipe: recipe`
      ${header}lam = sweep()
      e = base - lam*toxic
      t1 = task("data.safetensors", head=load("toxic.safetensors"))
      t2 = task("nodata.safetensors", head=base)
      #         ^^^^^^^^^^^^^^^^^^^^ error[missing-evaluation-data]: lacks the tensors validation/x, validation/y, test/x, test/y
      t3 = task("gone.safetensors", head=base)
      #         ^^^^^^^^^^^^^^^^^^ error[file-not-found]: data file not found: gone.safetensors
      evaluate(e, targets=[t1], controls=[t2, t3], objective="forget")
      save(e, "e.safetensors")
    `,
    types: { t1: 'Task' },
  },
  {
    name: 'scalars fold: division by zero, division by a sweep',
    recipe: recipe`
      ${header}k = 1/(2 - 2)
      #     ^^^^^^^ error[division-by-zero]: division by zero
      lam = sweep()
      x = base + sci/lam
      #              ^^^ error[sweep-nonlinear]: cannot divide by a sweep value
    `,
  },
  {
    name: 'an output must not overwrite an input',
    recipe: recipe`
      ${header}save(base + sci, "sci.safetensors")
      #                ^^^^^^^^^^^^^^^^^ error[output-is-input]: an input of the recipe (loaded at line 2): saving would replace it
      save(base + sci, "out.safetensors")
      save(base, "out.safetensors")
      #          ^^^^^^^^^^^^^^^^^ error[output-is-input]: another save(...) writes the same path
    `,
  },
  {
    name: 'folding that overflows or leaves the numbers is an error naming the value and the expression',
    recipe: recipe`
      ${header}a = 1e308*1e308
      #   ^^^^^^^^^^^ error[non-finite]: '1e308*1e308' folds to Infinity
      b = base + 1e400*sci
      #          ^^^^^ error[non-finite]: 1e400 is beyond the largest number
      c = base + sci/1e-320
      #          ^^^^^^^^^^ error[non-finite]: 'sci/1e-320' scales weights by Infinity
      d = 2*(1e308*10 - 1)
      #      ^^^^^^^^ error[non-finite]: '1e308*10' folds to Infinity
      lam = sweep(0, 1e300, 1e299)
      e = base + 1e10*lam*sci
      #          ^^^^^^^^ error[non-finite]: '1e10*lam' reaches Infinity at some sweep point
    `,
  },
  {
    name: 'coefficients that multiply along a chain of bindings past the largest number, and weights that sum to Infinity',
    recipe: recipe`
      ${header}v1 = 1e100*sci
      v2 = 1e100*v1
      v3 = 1e100*v2
      v4 = 1e100*v3
      #    ^^^^^^^^ error[non-finite]: '1e100*v3' scales the weights it is built from by Infinity
      m = mean(base, base, weights=[1e308, 1e308])
      #                            ^^^^^^^^^^^^^^ error[non-finite]: these weights sum to Infinity
    `,
  },
  {
    name: 'integer arguments are safe integers (exact as 64-bit floats)',
    recipe: recipe`
      ${header}d = dare(sci, seed=1e20)
      #                  ^^^^ error[invalid-value]: 'seed' of dare() must be at most 9007199254740991 (2^53 - 1
      r = random_like(sci, seed=1.5)
      #                         ^^^ error[invalid-value]: 'seed' of random_like() must be a whole number, but is 1.5
      ok = dare(sci, seed=9007199254740991)
      save(base + ok, "o.safetensors")
    `,
  },
  {
    name: 'a sweep grid over the evaluation limit is an error with the count, on the evaluate(...)',
    recipe: recipe`
      ${header}a = sweep(0, 1, 0.01)
      b = sweep(0, 1, 0.01)
      m = base + a*sci + b*toxic
      t = task("data.safetensors", head=base)
      evaluate(m, targets=[t])
      #^^^^^^^^^^^^^^^^^^^^^^^ error[too-many-evaluations]: this evaluate(...) runs up to 10,206 evaluations (10,201 sweep points x 1 task on the validation split, plus the chosen points' tests and the references), more than the limit of 10,000. Use fewer sweep points (a coarser step, or fewer sweeps per model), or raise the limit with max_evaluations=10206
    `,
  },
  {
    name: 'max_evaluations= raises the limit for the run, up to its ceiling',
    recipe: recipe`
      ${header}a = sweep(0, 1, 0.01)
      b = sweep(0, 1, 0.01)
      m = base + a*sci + b*toxic
      t = task("data.safetensors", head=base)
      evaluate(m, targets=[t], max_evaluations=20000)
      evaluate(base + a*sci, targets=[t], max_evaluations=2000000)
      #                                                   ^^^^^^^ error[invalid-value]: 'max_evaluations' of evaluate() must be <= 100000, but is 2000000
    `,
  },
  {
    name: 'the limit counts every evaluate(...) of the run; ten sweeps summed into one model are 25,937,424,601 points',
    recipe: recipe`
      ${header}t = task("data.safetensors", head=base)
      ${tenSweeps}
      m = base + (${tenSweepsSum})*sci
      evaluate(base + l0*sci, targets=[t])
      evaluate(m, targets=[t])
      #^^^^^^^^^^^^^^^^^^^^^^^ error[too-many-evaluations]: the evaluate(...) statements up to this one run up to 25,937,424,622 evaluations, more than the limit of 10,000; this one runs up to 25,937,424,606 (25,937,424,601 sweep points x 1 task on the validation split, plus the chosen points' tests and the references). Use fewer sweep points (a coarser step, or fewer sweeps per model) (max_evaluations= allows at most 100,000)
    `,
  },
  {
    name: 'a chain of weight operations through names deeper than the limit is an error at the binding that exceeds it',
    recipe: recipe`
      ${header}v0 = sci
      ${dareChain(1, 254)}
      v255 = dare(v254, p=0.1, seed=254)
      #      ^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[chain-too-deep]: this value is the end of a chain of 257 operations (through names and nested calls), more than the 256 tvr evaluates
      ${dareChain(256, 300)}
    `,
  },
  {
    name: 'statistics applied to statistics: each one more pass over the inputs, at most 16 one after another',
    recipe: recipe`
      ${header}v0 = sci
      ${pruneChain(1, 16)}
      v17 = magnitude_prune(v16)
      #     ^^^^^^^^^^^^^^^^^^^^ error[chain-too-deep]: this value needs 17 passes over its inputs, one after another, more than the 16 tvr makes
      ${pruneChain(18, 20)}
      w = ties(v16, toxic)
      #   ^^^^^^^^^^^^^^^^ error[chain-too-deep]: this value needs 17 passes over its inputs
    `,
  },
  {
    name: 'syntax errors do not stop checking the other lines',
    recipe: recipe`
      ${header}x = base +
      #         | error[syntax]: expected an expression but found the end of the line
      y = base + load("sci.safetensors")
      #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error[model-weight-sum]: the model weights sum to 2
      #   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ fix: Average them: mean(base, load("sci.safetensors"))
      save(y, "y.safetensors")
    `,
  },
];

for (const row of rows) {
  test(row.name, async () => {
    const analysis = await analyzeIn(ws, row.recipe);
    assertAnnotatedDiagnostics(row.recipe, analysisDiagnostics(analysis));
    assertTypes(analysis, row.types ?? {});
  });
}

test('unused bindings are hints with a removal fix', async () => {
  const analysis = await analyzeIn(ws, `${header}save(base + sci, "o.safetensors")\n`);
  const hints = analysis.diagnostics.filter((d) => d.code === 'unused-binding');
  assert.deepEqual(hints.map((h) => h.message), ["'toxic' is never used"]);
  assert.equal(hints[0]!.unnecessary, true);
  assert.equal(hints[0]!.fixes![0]!.edits[0]!.newText, '');
});

test('quick fixes for a + b offer mean() and adding both task vectors to the base', async () => {
  const analysis = await analyzeIn(ws, `${header}m = load("legal.safetensors") + load("sci.safetensors")\nsave(m, "m.safetensors")\n`);
  const [d] = analysis.diagnostics.filter((x) => x.code === 'model-weight-sum');
  assert.deepEqual(d!.fixes!.map((f) => f.edits[0]!.newText), [
    'mean(load("legal.safetensors"), load("sci.safetensors"))',
    'base + (load("legal.safetensors") - base) + (load("sci.safetensors") - base)',
  ]);
});

test('the typed program: saves, loads shared by path, combination coefficients', async () => {
  const analysis = await analyzeIn(ws, `${header}lam = sweep(0, 1, 0.5)\ne = base + lam*sci - 0.5*toxic\nt = task("data.safetensors", head=base)\nevaluate(e, targets=[t])\nsave(e, "out/e.safetensors", dtype="bf16", shard_size="1MB")\n`);
  const program = analysis.checked.program;
  assert.equal(program.loads.length, 3);
  assert.deepEqual(program.sweeps.map((s) => [s.name, s.values]), [['lam', [0, 0.5, 1]]]);
  const [save] = program.saves;
  assert.equal(save!.path, `${ws.dir}/out/e.safetensors`);
  assert.equal(save!.dtype, 'BF16');
  assert.equal(save!.shardBytes, 1_000_000);
  assert.equal(save!.overwrite, false);
  const node = save!.node;
  assert.equal(node.op, 'combine');
  if (node.op !== 'combine') return;
  const names = (id: number) => program.sweeps.find((s) => s.id === id)!.name;
  assert.deepEqual(node.terms.map((t) => [t.node.name, P.format(t.coef, names)]), [['base', '1'], ['sci', 'lam'], ['toxic', '-0.5']]);
  assert.equal(program.evaluations[0]!.models[0]!.name, "'e'");
});
