// The TensorFlow.js namespace networks are evaluated with: the tfjs backend that matches
// the engine's choice (the same one when the engine runs on tfjs), WebGPU where it was
// asked for or (under `auto`) a hardware adapter is found, else the fastest tfjs CPU
// path, since the engine's own loops cannot run networks. Also how `--backend` splits
// into the engine's backend (merges) and the evaluator's (planCompute).
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadOwnPackage } from '../../own-packages.ts';
import { BACKEND_NAMES, chooseBackend, wasmDirectory } from '../backends/registry.ts';
import type { BackendChoice } from '../backends/registry.ts';
import type { Tf } from '../backends/tfjs.ts';
import type { BackendName } from '../backends/types.ts';
import type { MaterializedTensor } from '../materialize.ts';
import { EngineError } from '../errors.ts';
import { EvaluationError } from './errors.ts';
import { describeAdapter, probeWebGpu, softwareAdapterSkipped, webGpuCompute } from './webgpu.ts';
import type { AdapterSummary } from './webgpu.ts';

export type TfjsBackendName = Extract<BackendName, 'tfjs-node-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu'> | 'webgpu';

export interface TfRuntime {
  readonly name: TfjsBackendName;
  readonly tf: Tf;
  readonly loadLayersModel: (handler: ReturnType<Tf['io']['fromMemory']>) => Promise<LayersModel>;
  /** tfjs's own name of the backend to activate (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  readonly tfBackend: string;
  /** Why this one, for the results' notes. */
  readonly reason: string;
  /** The WebGPU adapter computed on (webgpu only). */
  readonly adapter?: AdapterSummary;
  /**
   * Runs one step of work (a batch: inputs up, outputs read back) named by `operation`. On
   * WebGPU a device error during the step (validation, out of memory, lost device) rejects
   * with EvaluationError('device') naming it, so no metric is computed from its outputs.
   */
  readonly step: <T>(operation: string, work: () => Promise<T>) => Promise<T>;
  /** The most bytes one tensor may take (a GPU's storage binding limit); Infinity on the CPU backends. */
  readonly maxTensorBytes: number;
}

const TF_BACKEND: Record<TfjsBackendName, string> = { 'tfjs-node-gpu': 'tensorflow', 'tfjs-node': 'tensorflow', webgpu: 'webgpu', 'tfjs-wasm': 'wasm', 'tfjs-cpu': 'cpu' };

/** Tried in order when the engine computes with its own loops (js, js-workers). */
const CPU_ORDER: readonly TfjsBackendName[] = ['tfjs-node', 'tfjs-wasm', 'tfjs-cpu'];

function isTfjs(name: BackendName | 'webgpu'): name is TfjsBackendName {
  return Object.hasOwn(TF_BACKEND, name);
}

/** What `--backend` may name: the engine's choices, or `webgpu` (networks on WebGPU, merges on the CPU threads). */
export type RunBackendChoice = BackendChoice | 'webgpu';

/** Where networks go when the engine computes with its own loops: WebGPU on a hardware adapter first (auto), WebGPU always, or the CPU. */
export type EvaluationChoice = 'auto' | 'webgpu' | 'cpu';

export interface ComputePlan {
  /** The engine's backend choice: merges and saves. */
  readonly engine: BackendChoice;
  readonly evaluation: EvaluationChoice;
  /** Said beside the engine's reason when the choice splits the work. */
  readonly note?: string;
}

/**
 * Splits a `--backend` choice into the engine's and the evaluator's. WebGPU evaluates
 * networks only: merges stay on the CPU threads (docs/engine.md, GPU paths). `gpu` is
 * tfjs-node-gpu for both, else WebGPU on a hardware adapter; neither usable is an
 * EngineError('backend') giving both reasons, before anything runs.
 */
export async function planCompute(choice: RunBackendChoice): Promise<ComputePlan> {
  const networksOn = (adapter: AdapterSummary, why: string): ComputePlan => ({
    engine: 'cpu',
    evaluation: 'webgpu',
    note: `networks are evaluated on webgpu (${describeAdapter(adapter)}), ${why}; merges stay on the CPU threads`,
  });
  switch (choice) {
    case 'auto':
    case 'cpu':
      return { engine: choice, evaluation: choice };
    case 'webgpu': {
      const webgpu = await probeWebGpu();
      if (!webgpu.ok) throw new EngineError('backend', `backend webgpu is not usable: ${webgpu.reason}`);
      return networksOn(webgpu.adapter, 'as asked');
    }
    case 'gpu': {
      try {
        await chooseBackend('gpu');
        return { engine: 'gpu', evaluation: 'auto' };
      } catch (error) {
        if (!(error instanceof EngineError)) throw error;
        const webgpu = await probeWebGpu();
        if (webgpu.ok && webgpu.adapter.hardware) return networksOn(webgpu.adapter, 'the GPU found');
        throw new EngineError('backend', `${error.message}; webgpu: ${webgpu.ok ? softwareAdapterSkipped(webgpu.adapter) : webgpu.reason}`);
      }
    }
    default:
      if (!BACKEND_NAMES.includes(choice)) throw new EngineError('backend', `unknown backend "${choice}"; choose one of auto, gpu, cpu, webgpu, ${BACKEND_NAMES.join(', ')}`);
      return { engine: choice, evaluation: 'cpu' };
  }
}

/**
 * The runtime for an engine backend (or `webgpu` itself); throws when no tfjs backend is
 * usable, with every reason. `evaluation` applies when the engine runs its own loops.
 */
export async function tfRuntimeFor(backend: BackendName | 'webgpu', evaluation: EvaluationChoice = 'cpu'): Promise<TfRuntime> {
  if (backend === 'webgpu') return create('webgpu', 'webgpu was asked for');
  if (isTfjs(backend)) return create(backend, `the engine's backend, ${backend}`);
  const why = `networks run on tfjs, and the engine's ${backend} backend computes weights only`;
  if (evaluation === 'webgpu') return create('webgpu', `webgpu: ${why}`);
  const skipped: string[] = [];
  if (evaluation === 'auto') {
    const webgpu = await probeWebGpu();
    if (webgpu.ok && webgpu.adapter.hardware) return create('webgpu', `webgpu (a GPU: ${describeAdapter(webgpu.adapter)}): ${why}`);
    skipped.push(`webgpu: ${webgpu.ok ? softwareAdapterSkipped(webgpu.adapter) : webgpu.reason}`);
  }
  for (const name of CPU_ORDER) {
    try {
      const because = `${name}: ${why}`;
      return await create(name, skipped.length > 0 ? `${because}; skipped ${skipped.join('; ')}` : because);
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no TensorFlow.js backend is usable to evaluate networks: ${skipped.join('; ')}`);
}

/** A step on a backend that reports its errors by throwing: just the work. */
const unguarded = <T>(_operation: string, work: () => Promise<T>): Promise<T> => work();

async function create(name: TfjsBackendName, reason: string): Promise<TfRuntime> {
  if (name === 'tfjs-node' || name === 'tfjs-node-gpu') {
    // The engine's probe says whether the native package loads (and finds a GPU); it brings
    // its own tfjs, core and layers, in one namespace.
    await chooseBackend(name);
    const loaded = loadOwnPackage(`@tensorflow/${name}`);
    if (!loaded.ok) throw new Error(loaded.reason);
    const tf = loaded.value as Tf & { loadLayersModel: TfRuntime['loadLayersModel'] };
    return { name, tf, loadLayersModel: (handler) => tf.loadLayersModel(handler), tfBackend: TF_BACKEND[name], reason, step: unguarded, maxTensorBytes: Infinity };
  }
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const layers = await import('@tensorflow/tfjs-layers');
  const common = { name, tf, loadLayersModel: (handler: ReturnType<Tf['io']['fromMemory']>) => layers.loadLayersModel(handler), tfBackend: TF_BACKEND[name], reason };
  let runtime: TfRuntime;
  if (name === 'webgpu') {
    const { adapter, guard } = await webGpuCompute(tf);
    runtime = { ...common, adapter, step: (operation, work) => guard.run(operation, work), maxTensorBytes: adapter.maxStorageBufferBindingSize };
  } else {
    if (name === 'tfjs-wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      try {
        wasm.setWasmPaths(wasmDirectory());
      } catch (error) {
        // The engine's probe initialised wasm already (with the same files): nothing to set.
        if (!/already initialized/i.test((error as Error).message)) throw error;
      }
    } else {
      await import('@tensorflow/tfjs-backend-cpu');
    }
    runtime = { ...common, step: unguarded, maxTensorBytes: Infinity };
  }
  // Production mode: no per-op debug checks, and no console banners that would mix into JSON output.
  tf.enableProdMode();
  await activate(runtime);
  return runtime;
}

/** Re-selects the runtime's backend: tfjs backends are global, and the engine may have switched it. */
export async function activate(runtime: TfRuntime): Promise<void> {
  if (runtime.tf.getBackend() !== runtime.tfBackend && !(await runtime.tf.setBackend(runtime.tfBackend))) {
    throw new Error(`tfjs backend ${runtime.tfBackend} failed to initialise`);
  }
}

/**
 * Refuses, before it is uploaded, a tensor larger than the backend can compute on (a GPU's
 * storage binding limit: past it WebGPU fails validation). Every tfjs dtype evaluated here
 * takes 4 bytes an element on the GPU.
 */
export function checkTensorFits(runtime: TfRuntime, name: string, shape: readonly number[], what: string): void {
  const bytes = 4 * shape.reduce((a, b) => a * b, 1);
  if (bytes <= runtime.maxTensorBytes) return;
  throw new EvaluationError('device', `${what}: tensor ${name} [${shape.join(', ')}] takes ${mebibytes(bytes)}, more than the ${mebibytes(runtime.maxTensorBytes)} one tensor may take on ${runtime.name}${runtime.adapter ? ` (${describeAdapter(runtime.adapter)}: its maxStorageBufferBindingSize)` : ''}; evaluate with --backend cpu, or on a GPU whose limit is larger`);
}

/** checkTensorFits for every tensor of a model about to be uploaded. */
export function checkTensorsFit(runtime: TfRuntime, tensors: ReadonlyMap<string, MaterializedTensor>, what: string): void {
  for (const [name, tensor] of tensors) checkTensorFits(runtime, name, tensor.shape, what);
}

/** How many rows of `bytesPerRow` one tensor of the runtime can hold (at least 1, so an oversized row fails in checkTensorFits or the device step). */
export function rowsThatFit(runtime: TfRuntime, bytesPerRow: number): number {
  return Math.max(1, Math.floor(runtime.maxTensorBytes / bytesPerRow));
}

function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1)} MiB`;
}
