// Which backends exist here, which one `auto` picks and why, and the exact reason a
// backend cannot be used (what `tvr doctor` prints). The native TensorFlow packages
// are optional: they are looked up at run time in tvr's own node_modules only (never the
// workspace's: docs/security.md), and a failure to load is a reason, not a crash.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOwnPackage } from '../../own-packages.ts';
import { EngineError } from '../errors.ts';
import { createJsBackend } from './js.ts';
import { createJsWorkersBackend } from './js-workers.ts';
import { createTfjsBackend } from './tfjs.ts';
import type { Tf } from './tfjs.ts';
import type { Backend, BackendName } from './types.ts';

/**
 * Every backend, in the order `auto` tries them (and `tvr doctor` lists them): a GPU first;
 * then the generated loops on worker threads (compute-heavy kernels split over every core;
 * in the engine benchmark 2-4x faster than tfjs wasm, which is single-threaded and copies
 * every chunk into its heap); tfjs-node's CPU kernels allocate a tensor per op, so they
 * come after the fused loops.
 */
export const BACKEND_NAMES: readonly BackendName[] = ['tfjs-node-gpu', 'js-workers', 'tfjs-node', 'tfjs-wasm', 'js', 'tfjs-cpu'];

/** What a user may ask for: a backend, `auto`, or `gpu` / `cpu` (the best of that kind). */
export type BackendChoice = BackendName | 'auto' | 'gpu' | 'cpu';

export interface BackendStatus {
  readonly name: BackendName;
  readonly kind: 'gpu' | 'cpu';
  readonly usable: boolean;
  /** Where it computes when usable. */
  readonly device?: string;
  /** Why it cannot be used (the import or initialisation error, verbatim). */
  readonly reason?: string;
  readonly description: string;
}

export interface DoctorReport {
  readonly backends: readonly BackendStatus[];
  /** What `auto` picks here, and why. */
  readonly auto: { readonly name: BackendName; readonly reason: string };
}

const DESCRIPTIONS: Record<BackendName, string> = {
  'tfjs-node-gpu': 'TensorFlow (libtensorflow with CUDA) through @tensorflow/tfjs-node-gpu',
  'js-workers': 'generated Float32Array loops on worker threads over shared memory',
  'tfjs-node': 'TensorFlow (libtensorflow, CPU) through @tensorflow/tfjs-node',
  'tfjs-wasm': 'TensorFlow.js WebAssembly backend (SIMD)',
  js: 'generated Float32Array loops on the main thread (the reference)',
  'tfjs-cpu': 'TensorFlow.js plain JavaScript backend (portable, slowest)',
};

type Probe = { ok: true; create: () => Backend; device: string } | { ok: false; reason: string };

const probes = new Map<BackendName, Promise<Probe>>();

function probe(name: BackendName): Promise<Probe> {
  let known = probes.get(name);
  if (!known) {
    known = probeNew(name).catch((error: unknown): Probe => ({ ok: false, reason: messageOf(error) }));
    probes.set(name, known);
  }
  return known;
}

async function probeNew(name: BackendName): Promise<Probe> {
  switch (name) {
    case 'js':
      return { ok: true, create: createJsBackend, device: 'main thread' };
    case 'js-workers': {
      // Made only to learn its device: closed at once (each run makes its own).
      const backend = createJsWorkersBackend();
      await backend.close();
      return { ok: true, create: () => createJsWorkersBackend(), device: backend.device };
    }
    case 'tfjs-cpu': {
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-cpu');
      await activate(tf, 'cpu');
      return { ok: true, create: () => createTfjsBackend({ name, tf, tfBackend: 'cpu', device: 'CPU (tfjs cpu)' }), device: 'CPU (tfjs cpu)' };
    }
    case 'tfjs-wasm': {
      const tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDirectory());
      await activate(tf, 'wasm');
      const device = 'CPU (tfjs wasm, 1 thread)';
      return { ok: true, create: () => createTfjsBackend({ name, tf, tfBackend: 'wasm', device }), device };
    }
    case 'tfjs-node':
    case 'tfjs-node-gpu': {
      const loaded = loadOwnPackage(`@tensorflow/${name}`);
      if (!loaded.ok) return loaded;
      const tf = loaded.value as Tf;
      await activate(tf, 'tensorflow');
      const native = tf.backend() as { isUsingGpuDevice?: boolean };
      if (name === 'tfjs-node-gpu' && native.isUsingGpuDevice !== true) {
        return { ok: false, reason: '@tensorflow/tfjs-node-gpu loaded, but TensorFlow found no usable CUDA GPU (check the CUDA and cuDNN libraries it needs)' };
      }
      const device = name === 'tfjs-node-gpu' ? 'CUDA GPU (TensorFlow)' : 'CPU (TensorFlow)';
      return { ok: true, create: () => createTfjsBackend({ name, tf, tfBackend: 'tensorflow', device }), device };
    }
  }
}

async function activate(tf: Tf, backend: string): Promise<void> {
  // Production mode: no per-op debug checks, and no console banners that would mix into `--json` output.
  tf.enableProdMode();
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs could not initialise its ${backend} backend`);
}

/** The .wasm files: beside the bundle (the build copies them to dist/), else in the package. */
export function wasmDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, join(here, '..')]) if (existsSync(join(dir, 'tfjs-backend-wasm-simd.wasm'))) return `${dir}/`;
  const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return `${join(dirname(pkg), 'dist')}/`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const KIND: Record<BackendName, 'gpu' | 'cpu'> = { 'tfjs-node-gpu': 'gpu', 'js-workers': 'cpu', 'tfjs-node': 'cpu', 'tfjs-wasm': 'cpu', js: 'cpu', 'tfjs-cpu': 'cpu' };

export async function listBackends(): Promise<BackendStatus[]> {
  const statuses: BackendStatus[] = [];
  // One at a time: the tfjs probes switch the global tfjs backend.
  for (const name of BACKEND_NAMES) {
    const p = await probe(name);
    statuses.push(p.ok
      ? { name, kind: KIND[name], usable: true, device: p.device, description: DESCRIPTIONS[name] }
      : { name, kind: KIND[name], usable: false, reason: p.reason, description: DESCRIPTIONS[name] });
  }
  return statuses;
}

export async function doctor(): Promise<DoctorReport> {
  const backends = await listBackends();
  const { name, reason } = await chooseBackend('auto');
  return { backends, auto: { name, reason } };
}

/** Picks a backend for a choice, with a sentence saying why; throws EngineError('backend') when none fits. */
export async function chooseBackend(choice: BackendChoice): Promise<{ name: BackendName; reason: string }> {
  if (choice !== 'auto' && choice !== 'gpu' && choice !== 'cpu') {
    if (!BACKEND_NAMES.includes(choice)) throw new EngineError('backend', `unknown backend "${choice}"; choose one of auto, gpu, cpu, ${BACKEND_NAMES.join(', ')}`);
    const p = await probe(choice);
    if (!p.ok) throw new EngineError('backend', `backend ${choice} is not usable: ${p.reason}`);
    return { name: choice, reason: `${choice} was asked for` };
  }
  const order = BACKEND_NAMES.filter((n) => choice === 'auto' || KIND[n] === choice);
  const skipped: string[] = [];
  for (const name of order) {
    const p = await probe(name);
    if (p.ok) {
      const why = KIND[name] === 'gpu' ? 'a GPU is available' : `${p.device}: the fastest CPU path measured`;
      return { name, reason: `${name} (${why})${skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : ''}` };
    }
    skipped.push(`${name}: ${p.reason}`);
  }
  throw new EngineError('backend', `no ${choice === 'gpu' ? 'GPU ' : ''}backend is usable: ${skipped.join('; ')}`);
}

/** A ready backend for a choice, and why it was picked; close it when done. */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<{ backend: Backend; reason: string }> {
  const { name, reason } = await chooseBackend(choice);
  const p = await probe(name);
  if (!p.ok) throw new EngineError('backend', `backend ${name} is not usable: ${p.reason}`);
  return { backend: p.create(), reason };
}
