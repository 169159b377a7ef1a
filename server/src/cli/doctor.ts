// `tvr doctor`: what this machine can compute with. Each engine backend, usable or not
// and the exact reason; which one `auto` picks; the WebGPU adapter (hardware or software,
// its limits) and whether `auto` and `gpu` use it; the backend networks are evaluated on;
// the Node version; whether the optional GPU package is installed.
import { doctor } from '../engine/backends/registry.ts';
import type { DoctorReport } from '../engine/backends/registry.ts';
import { planCompute, tfRuntimeFor } from '../engine/evaluation/tfjs-runtime.ts';
import { describeAdapter, probeWebGpu, softwareAdapterSkipped } from '../engine/evaluation/webgpu.ts';
import type { AdapterSummary } from '../engine/evaluation/webgpu.ts';
import { ownPackageDir } from '../own-packages.ts';

export interface DoctorJson extends DoctorReport {
  readonly node: { readonly version: string; readonly platform: string; readonly arch: string };
  /** The optional GPU package: installed (where), or not. */
  readonly gpuPackage: { readonly name: string; readonly installed: boolean; readonly path?: string };
  /** WebGPU (the built-in evaluator's other GPU path): the adapter, or why there is none; whether `auto` uses it. */
  readonly webgpu: { readonly usable: boolean; readonly adapter?: AdapterSummary; readonly reason: string };
  /** What `--backend gpu` would compute with, or why it cannot run. */
  readonly gpu: { readonly usable: boolean; readonly reason: string };
  /** The tfjs backend the built-in evaluator would use with `auto`, or why none can. */
  readonly evaluation: { readonly name?: string; readonly reason: string };
}

const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

export async function doctorReport(): Promise<DoctorJson> {
  const report = await doctor();
  const probe = await probeWebGpu();
  const webgpu: DoctorJson['webgpu'] = probe.ok
    ? { usable: true, adapter: probe.adapter, reason: probe.adapter.hardware ? 'a hardware adapter: auto evaluates networks on it when tfjs-node-gpu is not usable' : softwareAdapterSkipped(probe.adapter) }
    : { usable: false, reason: probe.reason };
  let gpu: DoctorJson['gpu'];
  try {
    const plan = await planCompute('gpu');
    gpu = { usable: true, reason: plan.note ?? 'tfjs-node-gpu merges and evaluates' };
  } catch (error) {
    gpu = { usable: false, reason: (error as Error).message };
  }
  let evaluation: DoctorJson['evaluation'];
  try {
    const runtime = await tfRuntimeFor(report.auto.name, 'auto');
    evaluation = { name: runtime.name, reason: runtime.reason };
  } catch (error) {
    evaluation = { reason: (error as Error).message };
  }
  const gpuPath = ownPackageDir(GPU_PACKAGE);
  return {
    ...report,
    node: { version: process.versions.node, platform: process.platform, arch: process.arch },
    gpuPackage: { name: GPU_PACKAGE, installed: gpuPath !== undefined, ...(gpuPath ? { path: gpuPath } : {}) },
    webgpu,
    gpu,
    evaluation,
  };
}

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20).toLocaleString('en')} MiB`;
}

export async function doctorCommand(options: { readonly json: boolean }): Promise<number> {
  const report = await doctorReport();
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [`Node ${report.node.version} (${report.node.platform}-${report.node.arch})`, '', 'Backends:'];
  const width = Math.max(...report.backends.map((b) => b.name.length));
  for (const b of report.backends) {
    out.push(`  ${b.usable ? 'yes' : 'no '}  ${b.name.padEnd(width)}  ${b.kind}  ${b.usable ? `${b.device}: ${b.description}` : `${b.description}\n${' '.repeat(width + 11)}why not: ${b.reason}`}`);
  }
  out.push('', 'WebGPU (networks only; merges stay on the CPU threads):');
  const { adapter } = report.webgpu;
  if (adapter) {
    out.push(`  adapter: ${describeAdapter(adapter)}`);
    out.push(`  limits: maxBufferSize ${mebibytes(adapter.maxBufferSize)}, maxStorageBufferBindingSize ${mebibytes(adapter.maxStorageBufferBindingSize)} (the largest tensor)`);
    out.push(`  ${report.webgpu.reason}`);
  } else {
    out.push(`  not usable: ${report.webgpu.reason}`);
  }
  out.push('', `auto picks: ${report.auto.reason}`);
  out.push(`gpu: ${report.gpu.usable ? report.gpu.reason : `not usable: ${report.gpu.reason}`}`);
  out.push(`networks (built-in evaluator): ${report.evaluation.name ? report.evaluation.reason : `none usable: ${report.evaluation.reason}`}`);
  out.push(`GPU package ${report.gpuPackage.name}: ${report.gpuPackage.installed ? `installed (${report.gpuPackage.path})` : 'not installed (optional; its install downloads libtensorflow and needs network access)'}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
