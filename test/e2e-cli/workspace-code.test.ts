// An untrusted workspace may hold any file, including a package planted where Node would
// look for tvr's optional native backends. tvr loads optional packages from its own
// installation only, so nothing planted beside a recipe or in the working directory runs,
// whatever the command (docs/security.md).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureDir } from '../helpers/checkpoint-fixtures.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';
import { makeScenario, MULTI_RECIPE, writeRecipe } from '../unit/run/scenario.ts';

const PLANTED = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'webgpu', '@tensorflow/tfjs-backend-webgpu'];

/** A package that, when loaded, leaves a marker file beside itself (and loads nothing else). */
function plant(dir: string, pkg: string): string {
  const folder = join(dir, 'node_modules', pkg);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: pkg, version: '4.22.0', main: 'index.js' }));
  const marker = join(folder, 'RAN');
  writeFileSync(join(folder, 'index.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'planted code ran');\nthrow new Error('planted');\n`);
  return marker;
}

describe('packages planted in the workspace never run', () => {
  const { dir, cleanup } = fixtureDir();
  let markers: string[];
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    makeScenario(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'workspace', private: true }));
    markers = PLANTED.map((pkg) => plant(dir, pkg));
  });
  after(cleanup);

  const ranMarkers = () => markers.filter((m) => existsSync(m));

  const cases: { readonly name: string; readonly args: (recipe: string) => string[] }[] = [
    { name: 'tvr run --untrusted (auto backend, built-in evaluator)', args: (r) => ['run', r, '--untrusted', '--json'] },
    { name: 'tvr run --backend js with evaluate()', args: (r) => ['run', r, '--backend', 'js', '--json'] },
    { name: 'tvr run --backend tfjs-node-gpu', args: (r) => ['run', r, '--backend', 'tfjs-node-gpu', '--json'] },
    { name: 'tvr run --backend webgpu', args: (r) => ['run', r, '--backend', 'webgpu', '--json'] },
    { name: 'tvr doctor', args: () => ['doctor', '--json'] },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${c.name}: the planted package is not loaded`, async () => {
      const recipe = writeRecipe(dir, `planted${i}.tvr`, MULTI_RECIPE.replace('out/multi', `out/planted${i}`));
      const { stdout, stderr } = await runTvr(c.args(recipe), dir);
      assert.deepEqual(ranMarkers(), [], `planted code ran under ${c.name}\n${stderr}`);
      // Doctor reports the package of tvr's own folder (installed there or not), never the workspace's.
      if (c.name.startsWith('tvr doctor')) {
        const report = JSON.parse(stdout) as { gpuPackage: { installed: boolean; path?: string }; backends: { name: string; reason?: string }[] };
        if (existsSync(join(root, 'node_modules', '@tensorflow/tfjs-node-gpu'))) {
          assert.ok(report.gpuPackage.path?.startsWith(join(root, 'node_modules')), `doctor names ${report.gpuPackage.path}`);
        } else {
          assert.equal(report.gpuPackage.installed, false);
          assert.match(report.backends.find((b) => b.name === 'tfjs-node-gpu')!.reason!, /not installed in tvr's folder/);
        }
      }
    });
  }
});
