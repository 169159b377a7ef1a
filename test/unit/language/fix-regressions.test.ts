import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { codeActions } from '../../../server/src/language/ide/code-actions.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { writeRecipeWorkspace } from '../../helpers/recipe-fixtures.ts';

it("the quick fix that adds task vectors to the base gives a recipe without warnings", async (t) => {
  const { dir, cleanup } = fixtureDir();
  t.after(cleanup);
  writeRecipeWorkspace(dir);
  const text = 'base = load("base.safetensors")\nsci = load("sci.safetensors")\ntoxic = load("toxic.safetensors")\nx = sci + toxic\nsave(x, "o.safetensors")\n';
  const analysis = await analyzeFile(text, join(dir, 'r.tvr'), new HeaderCache());
  const fix = codeActions(analysis, { start: text.indexOf('sci +'), end: text.indexOf('sci +') }).find((a) => a.fix.title.endsWith('(toxic - base)'))!.fix;
  const edit = fix.edits[0]!;
  const fixed = text.slice(0, edit.span.start) + edit.newText + text.slice(edit.span.end);
  const after = await analyzeFile(fixed, join(dir, 'r.tvr'), new HeaderCache());
  assert.deepEqual(after.diagnostics.filter((d) => d.severity !== 'hint').map((d) => `${d.code}: ${d.message}`), []);
});

it('a missing shard is reported as such, not as a missing index', async (t) => {
  const { dir, cleanup } = fixtureDir();
  t.after(cleanup);
  writeRecipeWorkspace(dir);
  rmSync(join(dir, 'sharded/model-00002-of-00002.safetensors'));
  const text = 's = load("sharded/model.safetensors.index.json")\nsave(s, "o.safetensors")\n';
  const analysis = await analyzeFile(text, join(dir, 'r.tvr'), new HeaderCache());
  assert.equal(analysis.diagnostics.length, 1);
  assert.match(analysis.diagnostics[0]!.message, /model-00002-of-00002\.safetensors/);
});
