// Hovers over one binding of each kind, compared with the text kept in __snapshots__/
// (UPDATE_SNAPSHOTS=1 rewrites it: test/helpers/snapshots.ts).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { hover } from '../../../server/src/language/ide/hover.ts';
import { recipe } from '../../helpers/annotated-recipes.ts';
import { analyzeIn, recipeWorkspace, type RecipeWorkspace } from '../../helpers/recipe-workspace.ts';
import { assertSnapshot } from '../../helpers/snapshots.ts';

let ws: RecipeWorkspace;
before(() => { ws = recipeWorkspace(); });
after(() => ws.cleanup());

const snapshots = fileURLToPath(new URL('./__snapshots__/', import.meta.url));

const text = recipe`
  base = load("base.safetensors")
  sci = load("sci.safetensors") - base
  lam = sweep(0, 1, 0.25)
  t = task("data.safetensors", head=base)
  both = ensemble(base, base + 0.5*sci)
  evaluate(base + lam*sci, both, targets=[t])
`;

const kinds: [binding: string, kind: string][] = [['base', 'model'], ['sci', 'vector'], ['lam', 'sweep'], ['t', 'task'], ['both', 'ensemble']];

for (const [binding, kind] of kinds) {
  test(`hover on a ${kind} binding`, async () => {
    const analysis = await analyzeIn(ws, text);
    const contents = hover(analysis, text.indexOf(`${binding} =`))?.contents;
    assert.ok(contents !== undefined, `no hover on ${binding}`);
    // The workspace is a fresh temporary folder each run.
    assertSnapshot(snapshots, `hover-${kind}`, `${contents.replaceAll(ws.dir, '<workspace>')}\n`);
  });
}
