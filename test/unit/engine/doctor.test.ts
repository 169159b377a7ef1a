// `doctor`: every backend listed, usable or with the exact reason it is not. An optional
// native package that is installed but broken (as tfjs-node-gpu is without its
// libtensorflow) is found in tvr's node_modules and reported with its load error.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { useInstallationForTests } from '../../../server/src/own-packages.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { BACKEND_NAMES, chooseBackend, doctor, EngineError } from '../../../server/src/engine/index.ts';
import { doctorReport } from '../../../server/src/cli/doctor.ts';
import { planCompute } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';

const fixture = fixtureDir();
after(() => fixture.cleanup());

// An installation whose tfjs-node-gpu fails to load, like one whose install could not fetch libtensorflow.
const pkg = join(fixture.dir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
mkdirSync(pkg, { recursive: true });
writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', version: '4.22.0', main: 'index.js' }));
writeFileSync(join(pkg, 'index.js'), "throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');\n");
// tvr's installation, for this process: optional packages load from its node_modules only.
useInstallationForTests(fixture.dir);
after(() => useInstallationForTests(undefined));

test('doctor lists every backend, with the exact reason for each one that cannot be used', async () => {
  const report = await doctor();
  assert.deepEqual(report.backends.map((b) => b.name), [...BACKEND_NAMES]);
  for (const b of report.backends) {
    if (b.usable) assert.ok(b.device, `${b.name} says where it computes`);
    else assert.ok(b.reason && b.reason.length > 10, `${b.name} says why not`);
  }
  const gpu = report.backends.find((b) => b.name === 'tfjs-node-gpu')!;
  assert.equal(gpu.usable, false);
  assert.match(gpu.reason!, /is installed \(.*node_modules\/@tensorflow\/tfjs-node-gpu\) but failed to load: libtensorflow\.so\.2: cannot open shared object file/);
  for (const name of ['js', 'js-workers', 'tfjs-wasm', 'tfjs-cpu']) assert.ok(report.backends.find((b) => b.name === name)!.usable, name);
});

test('auto picks the fastest CPU path here and says what it skipped; gpu fails with the reason', async () => {
  const auto = await chooseBackend('auto');
  assert.equal(auto.name, 'js-workers');
  assert.match(auto.reason, /skipped tfjs-node-gpu: .*libtensorflow/);
  await assert.rejects(chooseBackend('gpu'), (e: unknown) => e instanceof EngineError && e.code === 'backend' && /libtensorflow/.test(e.message));
  assert.equal((await chooseBackend('cpu')).name, 'js-workers');
});

test('without the webgpu package in tvr\'s folder: doctor says why, --backend webgpu fails with it, gpu names both reasons', async () => {
  const report = await doctorReport();
  assert.equal(report.webgpu.usable, false);
  assert.match(report.webgpu.reason, /^webgpu is not installed in tvr's folder .*--omit=optional/);
  assert.match(report.evaluation.reason, /skipped webgpu: webgpu is not installed/);
  assert.equal(report.gpu.usable, false);
  await assert.rejects(planCompute('webgpu'), (e: unknown) => e instanceof EngineError && e.code === 'backend' && /^backend webgpu is not usable: webgpu is not installed in tvr's folder/.test(e.message));
  await assert.rejects(planCompute('gpu'), (e: unknown) => e instanceof EngineError && e.code === 'backend'
    && /^no GPU backend is usable: tfjs-node-gpu: .*libtensorflow\.so\.2.*; webgpu: webgpu is not installed in tvr's folder/.test(e.message));
  await assert.rejects(planCompute('webgpu-please' as 'webgpu'), /unknown backend "webgpu-please"; choose one of auto, gpu, cpu, webgpu, /);
});
