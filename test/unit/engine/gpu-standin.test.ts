// The GPU path, as far as a machine without a GPU can check it: a stand-in for
// @tensorflow/tfjs-node-gpu in tvr's node_modules (a CPU backend registered as
// `tensorflow` that reports a GPU device) must be found, chosen first by `auto`, and
// used through the namespace object the package exports, never the bundled tfjs-core.
// Real CUDA is not exercised here.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { useInstallationForTests } from '../../../server/src/own-packages.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { chooseBackend, runProgram } from '../../../server/src/engine/index.ts';
import { ProgramBuilder, readSafetensorsOutput } from './helpers.ts';

const fixture = fixtureDir();
after(() => fixture.cleanup());

const require = createRequire(import.meta.url);
const pkg = join(fixture.dir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
mkdirSync(pkg, { recursive: true });
writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', version: '4.22.0', main: 'index.js' }));
writeFileSync(join(pkg, 'index.js'), `
const core = require(${JSON.stringify(require.resolve('@tensorflow/tfjs-core'))});
const { MathBackendCPU } = require(${JSON.stringify(require.resolve('@tensorflow/tfjs-backend-cpu'))});
class StandIn extends MathBackendCPU {
  constructor() { super(); this.isGPUPackage = true; this.isUsingGpuDevice = true; }
}
core.registerBackend('tensorflow', () => new StandIn(), 0);
for (const kernel of core.getKernelsForBackend('cpu')) core.registerKernel({ ...kernel, backendName: 'tensorflow' });
const calls = globalThis.__standInCalls = { count: 0 };
// The package's own namespace: counts the ops called through it.
module.exports = new Proxy(core, {
  get(target, key) {
    const value = target[key];
    if (typeof value !== 'function' || !['mul', 'add', 'where', 'tensor1d', 'addN'].includes(key)) return value;
    return (...args) => { calls.count++; return value(...args); };
  },
});
`);
// tvr's installation, for this process: optional packages load from its node_modules only.
useInstallationForTests(fixture.dir);
after(() => useInstallationForTests(undefined));

test('auto picks the GPU package first and computes through its namespace', async () => {
  const auto = await chooseBackend('auto');
  assert.equal(auto.name, 'tfjs-node-gpu');
  assert.match(auto.reason, /a GPU is available/);

  const base = makeModel([{ name: 'w', shape: [40, 30] }], { seed: 1 });
  const paths = [base, perturbModel(base, { seed: 2, scale: 0.1 }), perturbModel(base, { seed: 3, scale: 0.1 })]
    .map((m, i) => writeSafetensors(join(fixture.dir, `m${i}.safetensors`), m));
  const outputs: Float64Array[] = [];
  for (const backend of ['auto', 'js'] as const) {
    const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
    const [b, x, y] = await Promise.all(paths.map((p) => pb.load(p)));
    pb.save(pb.combine([[1, b!], [1, pb.ties([pb.diff(x!, b!), pb.diff(y!, b!)], 0.4)]], 'model'), join(fixture.dir, `${backend}.safetensors`));
    const result = await runProgram(pb.program(), { backend, recipeText: 'x' });
    assert.equal(result.backend, backend === 'auto' ? 'tfjs-node-gpu' : 'js');
    outputs.push(readSafetensorsOutput(join(fixture.dir, `${backend}.safetensors`)).tensors.get('w')!.values);
  }
  const calls = (globalThis as { __standInCalls?: { count: number } }).__standInCalls;
  assert.ok(calls && calls.count > 0, 'ops went through the package namespace');
  outputs[0]!.forEach((v, i) => assert.ok(Math.abs(v - outputs[1]![i]!) <= 1e-6 * (Math.abs(v) + 1), `w[${i}]`));
});
