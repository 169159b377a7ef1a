// The TensorFlow.js namespace networks are evaluated with: the tfjs backend that matches
// the engine's choice (the same one when the engine runs on tfjs), else the fastest tfjs
// CPU path, since the engine's own loops cannot run networks.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { chooseBackend } from '../backends/registry.ts';
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
    const tf = requireNative(`@tensorflow/${name}`) as Tf & { loadLayersModel: TfRuntime['loadLayersModel'] };
    return { name, tf, loadLayersModel: (handler) => tf.loadLayersModel(handler), tfBackend: TF_BACKEND[name], reason };
  }
  const tf = exportsOf<Tf>(await import('@tensorflow/tfjs-core'), 'setBackend');
  const layers = exportsOf<typeof import('@tensorflow/tfjs-layers')>(await import('@tensorflow/tfjs-layers'), 'loadLayersModel');
  if (name === 'tfjs-wasm') {
    const wasm = exportsOf<typeof import('@tensorflow/tfjs-backend-wasm')>(await import('@tensorflow/tfjs-backend-wasm'), 'setWasmPaths');
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

/**
 * A CommonJS package's exports from a dynamic import: Node gives named exports and
 * `default`; a code-split bundle gives only `default`.
 */
function exportsOf<T>(namespace: unknown, probe: string): T {
  const direct = namespace as Record<string, unknown>;
  if (typeof direct[probe] === 'function') return namespace as T;
  const fallback = direct.default as Record<string, unknown> | undefined;
  if (fallback && typeof fallback[probe] === 'function') return fallback as T;
  throw new Error(`the loaded module has no ${probe}()`);
}

/** The .wasm files: beside the bundle (the build copies them to dist/), else in the package (as the engine finds them). */
function wasmDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, join(here, '..')]) if (existsSync(join(dir, 'tfjs-backend-wasm-simd.wasm'))) return `${dir}/`;
  const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return `${join(dirname(pkg), 'dist')}/`;
}

/** Where the engine's probe found the package: the working directory's node_modules, else tvr's own. */
function requireNative(pkg: string): unknown {
  for (const base of [join(process.cwd(), 'package.json'), fileURLToPath(import.meta.url)]) {
    const require = createRequire(base);
    try {
      return require(require.resolve(pkg));
    } catch {
      // not here: try the next place
    }
  }
  throw new Error(`${pkg} passed the engine's probe but cannot be loaded here`);
}

/** Re-selects the runtime's backend: tfjs backends are global, and the engine may have switched it. */
export async function activate(runtime: TfRuntime): Promise<void> {
  if (runtime.tf.getBackend() !== runtime.tfBackend && !(await runtime.tf.setBackend(runtime.tfBackend))) {
    throw new Error(`tfjs backend ${runtime.tfBackend} failed to initialise`);
  }
}
