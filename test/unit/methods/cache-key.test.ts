// The results cache keys an evaluation by the model's structure (run/nodes.ts). Before the
// method table, a node op missing from structureAt's switch described itself as
// `undefined`, written as null into the key, so two models differing only in that op's
// parameters shared a key and the cache returned one model's metrics for the other. These
// tests call every method of the table with each of its parameters varied in turn, from
// recipes written from the parameters' own descriptions, so a method added later is covered
// without editing this file.
import { isVarying } from '../../../server/src/language/tensor-numbers.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Param } from '../../../server/src/language/builtins.ts';
import type { WeightNode } from '../../../server/src/language/program.ts';
import { methods, methodTable } from '../../../server/src/methods/registry.ts';
import { pointFor, structureAt } from '../../../server/src/run/nodes.ts';
import { writeAdapter } from '../../helpers/lora-fixtures.ts';
import { analyzeIn, recipeWorkspace, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';

let ws: RecipeWorkspace;
before(() => {
  ws = recipeWorkspace();
  for (const [name, seed] of [['adapter', 1], ['adapter2', 2]] as const) {
    writeAdapter(join(ws.dir, name), { r: 2, lora_alpha: 4 }, [{ module: 'dense1', rank: 2, inputs: 6, outputs: 4 }], { seed });
  }
});
after(() => ws.cleanup());

const header = 'base = load("base.safetensors")\nsci = load("sci.safetensors") - base\ntoxic = load("toxic.safetensors") - base\nlegal = load("legal.safetensors") - base\nlam = sweep(0, 1, 0.5)\n'
  + 'ft_sci = load("sci.safetensors")\nft_toxic = load("toxic.safetensors")\nft_legal = load("legal.safetensors")\n';

/** A value in the parameter's range other than its default (the checker must accept both). */
function otherValue(param: Param): number {
  const fallback = Number(param.default);
  const candidates = [fallback / 2, fallback + 1, (fallback + (param.max ?? fallback + 2)) / 2, 0.5, 0.25, 1];
  const valid = candidates.filter((x) => x !== fallback
    && (param.min === undefined || x >= param.min) && (param.max === undefined || x <= param.max)
    && (param.above === undefined || x > param.above) && (param.below === undefined || x < param.below)
    && (!param.integer || Number.isInteger(x)));
  assert.ok(valid.length > 0, `no other valid value for ${param.name}`);
  return valid[0]!;
}

/** Task vectors of the workspace for a method's Vector or Model-or-Vector arguments, in order. */
const vectors = ['sci', 'toxic'];
/** Models of the workspace for a method's Model arguments, in order. */
const models = ['ft_sci', 'ft_toxic'];

/** Another argument for a Model or Vector parameter than `call` gives it. */
function otherWeights(param: Param): string {
  const other = param.type === 'model' ? 'ft_legal' : 'legal';
  return param.variadic ? `${param.type === 'model' ? models[0] : vectors[0]}, ${other}` : other;
}

/** A list for a numbers parameter other than its default (omitted): one number per variadic argument, not all equal. */
const otherNumbers = `[${vectors.map((_, i) => i + 1).join(', ')}]`;

/** Files of the workspace for a method's string parameters (`method.param`): the default, and another. */
const files: Readonly<Record<string, readonly [string, string]>> = {
  'lora.path': ['"adapter"', '"adapter2"'],
};

function fileArgument(method: string, param: Param, which: 0 | 1): string {
  const known = files[`${method}.${param.name}`];
  assert.ok(known, `no file in this test for ${method}(${param.name}=...): add one to \`files\``);
  return known[which];
}

/** Model-or-Vector and file parameters are given in place; numbers, lists, choices and flags by keyword. */
function isPositional(p: Param): boolean {
  return p.type === 'model' || p.type === 'vector' || p.type === 'weights' || (p.type === 'string' && !p.choices);
}

/**
 * `name(...)` with its Model-or-Vector parameters given positionally (a variadic one two
 * vectors), every other parameter at its default, and `changed` given by keyword or in place.
 */
function call(name: string, params: readonly Param[], changed?: { readonly name: string; readonly text: string }): string {
  let next = 0;
  const args = params.flatMap((p): string[] => {
    const positional = isPositional(p);
    if (p.name === changed?.name) return [positional ? changed.text : `${p.name}=${changed.text}`];
    if (p.type === 'string' && !p.choices) return [fileArgument(name, p, 0)];
    if (!positional) return [];
    const pool = p.type === 'model' ? models : vectors;
    return p.variadic ? pool : [pool[next++ % pool.length]!];
  });
  return `${name}(${args.join(', ')})`;
}

/** The cache key of `m = expression` (with the sweep `lam` at `lam`), and its steps. */
async function keyOf(expression: string, lam = 0): Promise<{ key: string; steps: unknown[]; node: WeightNode }> {
  const analysis = await analyzeIn(ws, `${header}m = ${expression}\n`);
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors.map((d) => d.message), [], expression);
  const binding = analysis.resolution.bindings.find((b) => b.name === 'm')!;
  const value = analysis.checked.values.get(binding) as { node: WeightNode };
  const sweep = analysis.checked.program.sweeps.find((s) => s.name === 'lam')!;
  const steps = structureAt(value.node, pointFor(value.node, new Map([[sweep.id, lam]])));
  return { key: JSON.stringify(steps), steps, node: value.node };
}

describe('results-cache keys of merge methods', () => {
  test('the table holds each method under its own op', () => {
    for (const method of methods) assert.equal(methodTable[method.name], method);
  });

  for (const method of methods) {
    const params = method.builtin.params;
    test(`${method.name}: every step names its op, and each parameter changes the key`, async () => {
      const reference = await keyOf(call(method.name, params));
      for (const step of reference.steps) {
        assert.ok(step !== null && typeof step === 'object' && typeof (step as { op?: unknown }).op === 'string', `a step of ${method.name} is ${JSON.stringify(step)}`);
      }
      assert.equal((await keyOf(call(method.name, params))).key, reference.key, 'the same call, the same key');
      for (const param of params.filter((p) => p.type === 'number' || p.type === 'scalar')) {
        const changed = await keyOf(call(method.name, params, { name: param.name, text: String(otherValue(param)) }));
        assert.notEqual(changed.key, reference.key, `${param.name}=${otherValue(param)} shares the key of the default ${param.default}`);
      }
      for (const param of params.filter((p) => p.perTensor)) {
        const gradient = `[${param.default}, ${otherValue(param)}]`;
        const changed = await keyOf(call(method.name, params, { name: param.name, text: gradient }));
        assert.notEqual(changed.key, reference.key, `${param.name}=${gradient} shares the key of the default ${param.default}`);
        // Hover finds a per-tensor argument on the node under the parameter's name.
        assert.ok(isVarying((changed.node as unknown as Record<string, unknown>)[param.name]), `${method.name}'s node keeps ${param.name} under its name`);
      }
      for (const param of params.filter((p) => p.type === 'numbers')) {
        const changed = await keyOf(call(method.name, params, { name: param.name, text: otherNumbers }));
        assert.notEqual(changed.key, reference.key, `${param.name}=${otherNumbers} shares the key of leaving it out`);
      }
      for (const param of params.filter((p) => p.type === 'string' && p.choices)) {
        for (const choice of param.choices!.filter((c) => JSON.stringify(c) !== param.default)) {
          const changed = await keyOf(call(method.name, params, { name: param.name, text: JSON.stringify(choice) }));
          assert.notEqual(changed.key, reference.key, `${param.name}="${choice}" shares the key of the default ${param.default}`);
        }
      }
      for (const param of params.filter((p) => p.type === 'bool')) {
        const changed = await keyOf(call(method.name, params, { name: param.name, text: String(param.default !== 'true') }));
        assert.notEqual(changed.key, reference.key, `${param.name} changed shares the key of the default ${param.default}`);
      }
      for (const param of params.filter(isPositional)) {
        const text = param.type === 'string' ? fileArgument(method.name, param, 1) : otherWeights(param);
        const other = call(method.name, params, { name: param.name, text });
        assert.notEqual((await keyOf(other)).key, reference.key, `${other} shares the key of ${call(method.name, params)}`);
      }
    });

    for (const param of params.filter((p) => p.type === 'scalar')) {
      test(`${method.name}: ${param.name} given by a sweep keys each point apart`, async () => {
        const expression = call(method.name, params, { name: param.name, text: 'lam' });
        assert.notEqual((await keyOf(expression, 0)).key, (await keyOf(expression, 0.5)).key);
      });
    }
  }

  test('different methods on the same inputs never share a key', async () => {
    const keys = new Map<string, string>();
    for (const method of methods) {
      const { key } = await keyOf(call(method.name, method.builtin.params));
      assert.ok(!keys.has(key), `${method.name} has the key of ${keys.get(key)}`);
      keys.set(key, method.name);
    }
  });
});
