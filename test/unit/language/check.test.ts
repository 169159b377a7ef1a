// The checker on real checkpoint headers: each row is a recipe and exactly the
// diagnostics it must produce: annotated under the lines they point at (the type system's
// rows, test/helpers/annotated-recipes.ts), or as line:column severity code with message
// fragments that any diagnostic may contain (the others, still to convert).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as P from '../../../server/src/language/poly.ts';
import { analysisDiagnostics, assertAnnotatedDiagnostics, recipe } from '../../helpers/annotated-recipes.ts';
import { analyzeIn, assertCheckRow, assertTypes, recipeWorkspace, type CheckRow, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';

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

// The type system: weight sums, Models against Vectors, operations, bases, shapes.
const annotatedRows: AnnotatedRow[] = [
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
];

for (const row of annotatedRows) {
  test(row.name, async () => {
    const analysis = await analyzeIn(ws, row.recipe);
    assertAnnotatedDiagnostics(row.recipe, analysisDiagnostics(analysis));
    assertTypes(analysis, row.types ?? {});
  });
}

const rows: CheckRow[] = [
  {
    name: 'selection narrows tables so different heads can be excluded',
    recipe: 'a = exclude(load("base.safetensors"), "dense2/*")\nb = load("sci.safetensors", exclude="dense2/*")\nv = b - a\nw = select(v, "*bias", "nothing*")\nsave(w, "w.safetensors")\n',
    diagnostics: ['4:24 warning empty-selection'],
    messages: ['pattern "nothing*" matches no tensor'],
    types: { v: 'Vector', w: 'Vector' },
  },
  {
    name: 'a selection that keeps nothing is an error',
    recipe: 'a = select(load("base.safetensors"), "zzz")\nsave(a, "a.safetensors")\n',
    diagnostics: ['1:38 warning empty-selection', '1:38 error empty-selection'],
  },
  {
    name: 'missing and broken files are reported on the path string',
    recipe: 'a = load("nope.safetensors")\nb = load("broken.safetensors")\nc = load("data.safetensors")\n',
    diagnostics: ['1:10 error file-not-found', '2:10 error bad-checkpoint', '3:10 info non-float-tensors'],
    messages: ['checkpoint not found: nope.safetensors', 'shape [2] x F32 needs 8 [span-mismatch]', '2 integer/bool tensors (validation/y (I32), test/y (I32)) are not combined'],
  },
  {
    name: 'names: undefined with a suggestion, use before definition, duplicates, shadowing a built-in',
    recipe: `${header}e = base + sci + toxci\nf = g\ng = 1\nbase = 2\nmean = 3\n`,
    diagnostics: ['4:18 error undefined-name', '5:5 error use-before-definition', '7:1 error duplicate-binding', '8:1 warning builtin-shadowed'],
    messages: ["'toxci' is not defined; did you mean 'toxic'?", "'g' is used before its definition on line 6", "'base' is already defined on line 1"],
  },
  {
    name: 'calls: unknown function, unknown and duplicate keywords, missing and extra arguments, bad choices and ranges',
    recipe: `${header}a = tie(sci, toxic)\nb = ties(sci, toxic, densty=0.2)\nc = dare(sci, p=1)\nd = load()\ne = slerp(base, base, 0.5, 3)\nsave(base, "o.safetensors", dtype="f8")\nf = dare(sci, p=0.5, p=0.6)\n`,
    diagnostics: ['4:5 error unknown-function', '5:22 error unknown-argument', '6:17 error invalid-value', '7:5 error argument-count', '8:28 error argument-count', '9:35 error invalid-value', '10:22 error duplicate-argument'],
    messages: ["did you mean 'ties'?", "did you mean 'density'?", "'p' of dare() must be < 1, but is 1", 'load() needs', 'takes 3 positional arguments', 'must be one of "f32", "f16", "bf16"', "'p' is given twice"],
  },
  {
    name: 'an evaluation chooses the sweep; tasks check their data and heads',
    recipe: `${header}lam = sweep()\ne = base - lam*toxic\nt1 = task("data.safetensors", head=load("toxic.safetensors"))\nt2 = task("nodata.safetensors", head=base)\nt3 = task("gone.safetensors", head=base)\nevaluate(e, targets=[t1], controls=[t2, t3], objective="forget")\nsave(e, "e.safetensors")\n`,
    diagnostics: ['7:11 error missing-evaluation-data', '8:11 error file-not-found'],
    messages: ['lacks the tensors validation/x, validation/y, test/x, test/y', 'data file not found'],
    types: { t1: 'Task' },
  },
  {
    name: 'scalars fold: division by zero, division by a sweep',
    recipe: `${header}k = 1/(2 - 2)\nlam = sweep()\nx = base + sci/lam\n`,
    diagnostics: ['4:7 error division-by-zero', '6:16 error sweep-nonlinear'],
  },
  {
    name: 'an output must not overwrite an input',
    recipe: `${header}save(base + sci, "sci.safetensors")\nsave(base + sci, "out.safetensors")\nsave(base, "out.safetensors")\n`,
    diagnostics: ['4:18 error output-is-input', '6:12 error output-is-input'],
  },
  {
    name: 'folding that overflows or leaves the numbers is an error naming the value and the expression',
    recipe: `${header}a = 1e308*1e308\nb = base + 1e400*sci\nc = base + sci/1e-320\nd = 2*(1e308*10 - 1)\nlam = sweep(0, 1e300, 1e299)\ne = base + 1e10*lam*sci\n`,
    diagnostics: ['4:5 error non-finite', '5:12 error non-finite', '6:12 error non-finite', '7:8 error non-finite', '9:12 error non-finite'],
    messages: ["'1e308*1e308' folds to Infinity", '1e400 is beyond the largest number', "'sci/1e-320' scales weights by Infinity", "'1e308*10' folds to Infinity", "'1e10*lam' reaches Infinity at some sweep point"],
  },
  {
    name: 'coefficients that multiply along a chain of bindings past the largest number, and weights that sum to Infinity',
    recipe: `${header}v1 = 1e100*sci\nv2 = 1e100*v1\nv3 = 1e100*v2\nv4 = 1e100*v3\nm = mean(base, base, weights=[1e308, 1e308])\n`,
    diagnostics: ['7:6 error non-finite', '8:30 error non-finite'],
    messages: ["'1e100*v3' scales the weights it is built from by Infinity", 'these weights sum to Infinity'],
  },
  {
    name: 'integer arguments are safe integers (exact as 64-bit floats)',
    recipe: `${header}d = dare(sci, seed=1e20)\nr = random_like(sci, seed=1.5)\nok = dare(sci, seed=9007199254740991)\nsave(base + ok, "o.safetensors")\n`,
    diagnostics: ['4:20 error invalid-value', '5:27 error invalid-value'],
    messages: ["'seed' of dare() must be at most 9007199254740991 (2^53 - 1", "'seed' of random_like() must be a whole number, but is 1.5"],
  },
  {
    name: 'a sweep grid over the evaluation limit is an error with the count, on the evaluate(...)',
    recipe: `${header}a = sweep(0, 1, 0.01)\nb = sweep(0, 1, 0.01)\nm = base + a*sci + b*toxic\nt = task("data.safetensors", head=base)\nevaluate(m, targets=[t])\n`,
    diagnostics: ['8:1 error too-many-evaluations'],
    messages: ['this evaluate(...) runs up to 10,206 evaluations (10,201 sweep points x 1 task on the validation split, plus the chosen points\' tests and the references), more than the limit of 10,000. Use fewer sweep points (a coarser step, or fewer sweeps per model), or raise the limit with max_evaluations=10206'],
  },
  {
    name: 'max_evaluations= raises the limit for the run, up to its ceiling',
    recipe: `${header}a = sweep(0, 1, 0.01)\nb = sweep(0, 1, 0.01)\nm = base + a*sci + b*toxic\nt = task("data.safetensors", head=base)\nevaluate(m, targets=[t], max_evaluations=20000)\nevaluate(base + a*sci, targets=[t], max_evaluations=2000000)\n`,
    diagnostics: ['9:53 error invalid-value'],
    messages: ["'max_evaluations' of evaluate() must be <= 100000, but is 2000000"],
  },
  {
    name: 'the limit counts every evaluate(...) of the run; ten sweeps summed into one model are 25,937,424,601 points',
    recipe: `${header}t = task("data.safetensors", head=base)\n${Array.from({ length: 10 }, (_, i) => `l${i} = sweep(0, 1, 0.1)`).join('\n')}\nm = base + (${Array.from({ length: 10 }, (_, i) => `l${i}`).join(' + ')})*sci\nevaluate(base + l0*sci, targets=[t])\nevaluate(m, targets=[t])\n`,
    diagnostics: ['17:1 error too-many-evaluations'],
    messages: ['the evaluate(...) statements up to this one run up to 25,937,424,622 evaluations, more than the limit of 10,000; this one runs up to 25,937,424,606 (25,937,424,601 sweep points x 1 task', '(max_evaluations= allows at most 100,000)'],
  },
  {
    name: 'a chain of weight operations through names deeper than the limit is an error at the binding that exceeds it',
    recipe: `${header}v0 = sci\n${Array.from({ length: 300 }, (_, i) => `v${i + 1} = dare(v${i}, p=0.1, seed=${i})`).join('\n')}\n`,
    diagnostics: ['259:8 error chain-too-deep'],
    messages: ['this value is the end of a chain of 257 operations (through names and nested calls), more than the 256 tvr evaluates'],
  },
  {
    name: 'statistics applied to statistics: each one more pass over the inputs, at most 16 one after another',
    recipe: `${header}v0 = sci\n${Array.from({ length: 20 }, (_, i) => `v${i + 1} = magnitude_prune(v${i})`).join('\n')}\nw = ties(v16, toxic)\n`,
    diagnostics: ['21:7 error chain-too-deep', '25:5 error chain-too-deep'],
    messages: ['this value needs 17 passes over its inputs, one after another, more than the 16 tvr makes', 'this value needs 17 passes over its inputs'],
  },
  {
    name: 'syntax errors do not stop checking the other lines',
    recipe: `${header}x = base +\ny = base + load("sci.safetensors")\nsave(y, "y.safetensors")\n`,
    diagnostics: ['4:11 error syntax', '5:5 error model-weight-sum'],
  },
];

for (const row of rows) test(row.name, () => assertCheckRow(ws, row));

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
