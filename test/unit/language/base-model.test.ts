// One rule for "the base" (server/src/language/base-model.ts): each row is a recipe and
// the base every consumer must name. The quick fix is asked through a probe that needs a
// Vector (its fix subtracts the base); the run's plan gives the base the results table
// uses; the hover's norms use their Gram group's reference checkpoint.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { statsGroups } from '../../../server/src/language/ide/vector-stats.ts';
import type { Analysis } from '../../../server/src/language/analysis.ts';
import { planEvaluations } from '../../../server/src/run/plan.ts';
import { analyzeIn, recipeWorkspace, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';

let ws: RecipeWorkspace;
before(() => { ws = recipeWorkspace(); });
after(() => ws.cleanup());

interface BaseRow {
  readonly name: string;
  /** A recipe defining `m`, the model evaluated. */
  readonly recipe: string;
  /** The binding every consumer must name as the base; undefined: none may name one. */
  readonly base: string | undefined;
}

const rows: BaseRow[] = [
  {
    name: 'task arithmetic on one base',
    recipe: 'base = load("base.safetensors")\nsci = load("sci.safetensors") - base\ntoxic = load("toxic.safetensors") - base\nm = base + 0.5*sci - toxic\n',
    base: 'base',
  },
  {
    name: 'the base need not be called base',
    recipe: 'theta = load("base.safetensors")\na = load("sci.safetensors") - theta\nb = 2*(load("toxic.safetensors") - theta)\nm = theta + a + b\n',
    base: 'theta',
  },
  {
    name: 'subtractions outvote a conventional name',
    recipe: 'base = load("legal.safetensors")\np = load("base.safetensors")\ns = load("sci.safetensors")\na = s - p\nb = load("toxic.safetensors") - p\nc = base - s\nm = p + a + b + c\n',
    base: 'p',
  },
  {
    name: 'a tie goes to the model defined first, whatever order the vectors are used in',
    recipe: 'x = load("base.safetensors")\ny = load("legal.safetensors")\na = load("sci.safetensors") - x\nb = load("toxic.safetensors") - y\nm = y + b + a\n',
    base: 'x',
  },
  {
    name: 'a vector used twice is one task vector',
    recipe: 'x = load("base.safetensors")\ny = load("legal.safetensors")\na = load("sci.safetensors") - y\nb = load("toxic.safetensors") - x\nc = load("sci.safetensors") - x\nm = y + a + a + 0.5*(b + c)\n',
    base: 'x',
  },
  {
    name: 'a soup has no base',
    recipe: 'a = load("sci.safetensors")\nb = load("toxic.safetensors")\nm = mean(a, b)\n',
    base: undefined,
  },
];

const evaluation = 't = task("data.safetensors", head=load("tfjs/model.json"))\nevaluate(m, targets=[t])\n';

/** The base a quick fix subtracts from a Model written where a Vector is needed. */
async function quickFixBase(recipe: string): Promise<string | undefined> {
  const analysis = await analyzeIn(ws, `${recipe}probe = ties(load("half.safetensors"))\n`);
  const fix = analysis.diagnostics.find((d) => d.code === 'type-mismatch')?.fixes?.[0]?.edits[0]?.newText;
  return fix?.match(/ - (\w+)$/)?.[1];
}

/** The base the run evaluates as a reference, and the results table shows. */
function runBase(analysis: Analysis): string | undefined {
  return planEvaluations(analysis.checked.program, { untrusted: true })[0]!.base?.name;
}

/** The binding loading the reference checkpoint of the hover's norms (first path of its group). */
function hoverBase(analysis: Analysis): string | undefined {
  const reference = statsGroups(analysis)[0]?.paths[0];
  if (!reference) return undefined;
  const named = analysis.resolution.bindings.find((b) => {
    const value = analysis.checked.values.get(b);
    return value?.type === 'model' && value.node.op === 'load' && value.node.path === reference;
  });
  return named?.name ?? reference;
}

for (const row of rows) {
  test(`the base: ${row.name}`, async () => {
    const analysis = await analyzeIn(ws, row.recipe + evaluation);
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => d.message), []);
    assert.deepEqual(
      { quickFix: await quickFixBase(row.recipe), run: runBase(analysis), hover: hoverBase(analysis) },
      { quickFix: row.base, run: row.base, hover: row.base },
    );
  });
}
