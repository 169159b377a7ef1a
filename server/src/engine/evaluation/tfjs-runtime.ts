// The TensorFlow.js namespace networks are evaluated with: the tfjs backend that matches
// the engine's choice (the same one when the engine runs on tfjs), else the fastest tfjs
// CPU path, since the engine's own loops cannot run networks.
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadOwnPackage } from '../../own-packages.ts';
import { chooseBackend, wasmDirectory } from '../backends/registry.ts';
import type { Tf } from '../backends/tfjs.ts';
import type { BackendName } from '../backends/types.ts';

export type TfjsBackendName = Extract<BackendName, 'tfjs-node-gpu' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu'>;

export interface TfRuntime {
  readonly name: TfjsBackendName;
  readonly tf: Tf;
  readonly loadLayersModel: (handler: ReturnType<Tf['io']['fromMemory']>) => Promise<LayersModel>;
  /** tfjs's own name of the backend to activate (`tensorflow`, `wasm`, `cpu`). */
  readonly tfBackend: string;
  /** Why this one, for the results' notes. */
  readonly reason: string;
}

const TF_BACKEND: Record<TfjsBackendName, string> = { 'tfjs-node-gpu': 'tensorflow', 'tfjs-node': 'tensorflow', 'tfjs-wasm': 'wasm', 'tfjs-cpu': 'cpu' };

/** Tried in order when the engine computes with its own loops (js, js-workers). */
const CPU_ORDER: readonly TfjsBackendName[] = ['tfjs-node', 'tfjs-wasm', 'tfjs-cpu'];

function isTfjs(name: BackendName): name is TfjsBackendName {
  return Object.hasOwn(TF_BACKEND, name);
}

/** The runtime for an engine backend; throws when no tfjs backend is usable, with every reason. */
export async function tfRuntimeFor(engineBackend: BackendName): Promise<TfRuntime> {
  if (isTfjs(engineBackend)) return create(engineBackend, `the engine's backend, ${engineBackend}`);
  const skipped: string[] = [];
  for (const name of CPU_ORDER) {
    try {
      const why = `${name}: networks run on tfjs, and the engine's ${engineBackend} backend computes weights only`;
      return await create(name, skipped.length > 0 ? `${why}; skipped ${skipped.join('; ')}` : why);
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no TensorFlow.js backend is usable to evaluate networks: ${skipped.join('; ')}`);
}

async function create(name: TfjsBackendName, reason: string): Promise<TfRuntime> {
  if (name === 'tfjs-node' || name === 'tfjs-node-gpu') {
    // The engine's probe says whether the native package loads (and finds a GPU); it brings
    // its own tfjs, core and layers, in one namespace.
    await chooseBackend(name);
    const loaded = loadOwnPackage(`@tensorflow/${name}`);
    if (!loaded.ok) throw new Error(loaded.reason);
    const tf = loaded.value as Tf & { loadLayersModel: TfRuntime['loadLayersModel'] };
    return { name, tf, loadLayersModel: (handler) => tf.loadLayersModel(handler), tfBackend: TF_BACKEND[name], reason };
  }
  const tf: Tf = await import('@tensorflow/tfjs-core');
  const layers = await import('@tensorflow/tfjs-layers');
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
  const runtime: TfRuntime = { name, tf, loadLayersModel: (handler) => layers.loadLayersModel(handler), tfBackend: TF_BACKEND[name], reason };
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
