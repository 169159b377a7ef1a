// A folder of real checkpoints that recipes in tests refer to by name, and helpers to
// analyze recipe text against it with the real header reader.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeaderCache } from '../../server/src/checkpoints/read-header.ts';
import { analyzeFile, type Analysis } from '../../server/src/language/analysis.ts';
import { typeName } from '../../server/src/language/values.ts';
import {
  fixtureDir, makeModel, mlpSpecs, perturbModel, rawSafetensors, writeSafetensors, writeShardedSafetensors, writeTfjsModel,
  mlpTopology, type FixtureModel,
} from './checkpoint-fixtures.ts';

export interface RecipeWorkspace {
  readonly dir: string;
  readonly models: Readonly<Record<string, FixtureModel>>;
  readonly cleanup: () => void;
}

/**
 * base/sci/toxic/legal: one MLP table (sci, toxic, legal fine-tuned from base);
 * half/brain: the same table in F16 and BF16; wide: other shapes; ids: base plus an I64 tensor;
 * sharded: base's values in 2 shards; tfjs/: a TensorFlow.js model; broken: not a checkpoint;
 * data.safetensors: evaluation data with validation/test splits.
 */
export function recipeWorkspace(): RecipeWorkspace {
  const { dir, cleanup } = fixtureDir();
  const specs = mlpSpecs([6, 4, 3]);
  const base = makeModel(specs, { seed: 1 });
  const models: Record<string, FixtureModel> = {
    base,
    sci: perturbModel(base, { seed: 2, scale: 0.1 }),
    toxic: perturbModel(base, { seed: 3, scale: 0.1 }),
    legal: perturbModel(base, { seed: 4, scale: 0.1 }),
    wide: makeModel(mlpSpecs([6, 5, 3]), { seed: 5 }),
    half: makeModel(specs.map((s) => ({ ...s, dtype: 'F16' as const })), { seed: 6 }),
    brain: makeModel(specs.map((s) => ({ ...s, dtype: 'BF16' as const })), { seed: 7 }),
    ids: makeModel([...specs, { name: 'position_ids', shape: [3], dtype: 'I64' }], { seed: 8 }),
  };
  for (const [name, model] of Object.entries(models)) writeSafetensors(join(dir, `${name}.safetensors`), model);
  writeShardedSafetensors(join(dir, 'sharded'), base, { shards: 2 });
  writeTfjsModel(join(dir, 'tfjs'), base, { topology: mlpTopology([6, 4, 3]) });
  writeFileSync(join(dir, 'broken.safetensors'), rawSafetensors('{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}', 12));
  const data = makeModel([
    { name: 'validation/x', shape: [4, 6] }, { name: 'validation/y', shape: [4], dtype: 'I32' },
    { name: 'test/x', shape: [4, 6] }, { name: 'test/y', shape: [4], dtype: 'I32' },
  ], { seed: 9 });
  writeSafetensors(join(dir, 'data.safetensors'), data);
  writeFileSync(join(dir, 'notes.txt'), 'not a checkpoint\n');
  writeSafetensors(join(dir, 'nodata.safetensors'), makeModel([{ name: 'x', shape: [2] }], { seed: 10 }));
  return { dir, models, cleanup };
}

const headers = new HeaderCache();

export function analyzeIn(workspace: RecipeWorkspace, text: string): Promise<Analysis> {
  return analyzeFile(text, join(workspace.dir, 'recipe.tvr'), headers);
}

/** Removes the cursor marker `|` and returns the text and its offset. */
export function cursor(textWithMarker: string): { text: string; offset: number } {
  const offset = textWithMarker.indexOf('|');
  if (offset < 0 || textWithMarker.indexOf('|', offset + 1) >= 0) throw new Error(`exactly one | marker expected in ${JSON.stringify(textWithMarker)}`);
  return { text: textWithMarker.slice(0, offset) + textWithMarker.slice(offset + 1), offset };
}

/** `line:col code` of each diagnostic (1-based, like editors show), hints excluded unless asked. */
export function summary(analysis: Analysis, withHints = false): string[] {
  return analysis.diagnostics
    .filter((d) => withHints || d.severity !== 'hint')
    .map((d) => {
      const p = analysis.lines.position(d.span.start);
      return `${p.line + 1}:${p.character + 1} ${d.severity} ${d.code}`;
    });
}

/** A checker test as data: a recipe and what the checker must say about it. */
export interface CheckRow {
  readonly name: string;
  readonly recipe: string;
  /** `line:col severity code`, hints left out. */
  readonly diagnostics: readonly string[];
  /** Fragments the messages must contain. */
  readonly messages?: readonly string[];
  /** binding -> type name. */
  readonly types?: Readonly<Record<string, string>>;
}

/** Analyzes a row's recipe in `ws` and asserts its diagnostics, message fragments and binding types. */
export async function assertCheckRow(ws: RecipeWorkspace, row: CheckRow): Promise<void> {
  const analysis = await analyzeIn(ws, row.recipe);
  assert.deepEqual(summary(analysis), row.diagnostics, analysis.diagnostics.map((d) => d.message).join('\n'));
  const shown = analysis.diagnostics.filter((d) => d.severity !== 'hint');
  for (const fragment of row.messages ?? []) {
    assert.ok(shown.some((d) => d.message.includes(fragment)), `no message contains ${JSON.stringify(fragment)}:\n${shown.map((d) => d.message).join('\n')}`);
  }
  assertTypes(analysis, row.types ?? {});
}

/** Asserts the type of each named binding (binding -> type name). */
export function assertTypes(analysis: Analysis, types: Readonly<Record<string, string>>): void {
  for (const [name, type] of Object.entries(types)) {
    const binding = analysis.resolution.bindings.find((b) => b.name === name);
    assert.ok(binding, `no binding ${name}`);
    assert.equal(typeName(analysis.checked.values.get(binding)!), type, `type of ${name}`);
  }
}
