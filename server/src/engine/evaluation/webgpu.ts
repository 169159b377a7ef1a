// WebGPU for the built-in evaluators: Dawn for Node (the optional `webgpu` package, which
// ships dawn.node prebuilt; loaded from tvr's own installation only) finds a GPU adapter
// through Vulkan (Metal, D3D12 on other systems), and @tensorflow/tfjs-backend-webgpu
// computes on a device of it. Dawn reports errors asynchronously and tfjs-backend-webgpu
// never looks at them: after a validation error it carries on and returns wrong numbers.
// So every step of work runs inside error scopes, uncaptured errors and a lost device are
// recorded, and any of them fails the step with a message naming it.
import { loadOwnPackage } from '../../own-packages.ts';
import type { Tf } from '../backends/tfjs.ts';
import { EvaluationError } from './errors.ts';

/** The adapter, as `tvr doctor` shows it and results record it. */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** False for a software rasteriser (Mesa's lavapipe/llvmpipe, SwiftShader, WARP): `auto` never picks one. */
  readonly hardware: boolean;
  readonly maxBufferSize: number;
  /** The largest buffer a kernel can bind, so the largest tensor tfjs-backend-webgpu can compute on. */
  readonly maxStorageBufferBindingSize: number;
}

export type WebGpuProbe = { readonly ok: true; readonly adapter: AdapterSummary } | { readonly ok: false; readonly reason: string };

/** The part of a WebGPU device the guard and the tfjs backend use. */
interface GpuDevice {
  readonly lost: Promise<{ readonly reason: string; readonly message: string }>;
  pushErrorScope(filter: ErrorFilter): void;
  popErrorScope(): Promise<{ readonly message: string } | null>;
  addEventListener(type: 'uncapturederror', listener: (event: { readonly error: { readonly message: string }; preventDefault(): void }) => void): void;
}

interface GpuAdapter {
  readonly info: { readonly vendor: string; readonly architecture: string; readonly device: string; readonly description: string; readonly isFallbackAdapter?: boolean };
  readonly limits: Readonly<Record<(typeof REQUIRED_LIMITS)[number], number>>;
  requestDevice(descriptor: { readonly requiredLimits: Record<string, number> }): Promise<GpuDevice>;
}

interface Gpu {
  requestAdapter(options: { readonly powerPreference: 'high-performance' }): Promise<GpuAdapter | null>;
}

interface Dawn {
  create(flags: string[]): Gpu;
  readonly globals: Readonly<Record<string, unknown>>;
}

type ErrorFilter = 'validation' | 'out-of-memory' | 'internal';
const ERROR_FILTERS: readonly ErrorFilter[] = ['validation', 'out-of-memory', 'internal'];

/**
 * Limits the device is asked for at the adapter's maximum rather than WebGPU's defaults:
 * the buffer sizes bound the tensors, the workgroup limits the kernels tfjs compiles.
 */
const REQUIRED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup',
] as const;

/** The WebGPU interfaces tfjs-backend-webgpu reads as globals, as a browser has them. */
const TFJS_WEBGPU_GLOBALS = ['GPUBufferUsage', 'GPUMapMode', 'GPUTextureUsage', 'GPUBuffer', 'GPUTexture'];

const SOFTWARE_DESCRIPTIONS = /llvmpipe|lavapipe|swiftshader|microsoft basic render|\bwarp\b/i;

interface Found {
  readonly dawn: Dawn;
  readonly gpu: Gpu;
  readonly adapter: GpuAdapter;
  readonly summary: AdapterSummary;
}

let found: Promise<Found | { readonly reason: string }> | undefined;

function findAdapter(): Promise<Found | { readonly reason: string }> {
  found ??= (async () => {
    const loaded = loadOwnPackage('webgpu');
    if (!loaded.ok) return { reason: loaded.reason };
    const dawn = loaded.value as Dawn;
    const gpu = dawn.create([]);
    let adapter: GpuAdapter | null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (error) {
      return { reason: `Dawn could not look for a GPU adapter: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (!adapter) return { reason: `Dawn found no GPU adapter${process.platform === 'linux' ? VULKAN_HINT : ''}` };
    return { dawn, gpu, adapter, summary: summarize(adapter) };
  })();
  return found;
}

const VULKAN_HINT = ': no Vulkan driver it accepts. It needs the Vulkan loader (Debian: libvulkan1) and a driver: the GPU vendor\'s, '
  + "or Mesa's lavapipe 23 or later for a software one (Debian 12's 22.3 is refused; bookworm-backports has 25). "
  + 'Where the driver is installed but not found, VK_DRIVER_FILES can name its ICD file (NVIDIA: nvidia_icd.json)';

function summarize(adapter: GpuAdapter): AdapterSummary {
  const { vendor, architecture, device, description } = adapter.info;
  const software = adapter.info.isFallbackAdapter === true || architecture === 'software' || SOFTWARE_DESCRIPTIONS.test(`${device} ${description}`);
  return {
    vendor,
    architecture,
    description: description || device,
    hardware: !software,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

/** Whether WebGPU is usable here and on which adapter; looked up once per process. */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const result = await findAdapter();
  return 'summary' in result ? { ok: true, adapter: result.summary } : { ok: false, reason: result.reason };
}

/** "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6); vendor mesa, architecture software, a software adapter": the adapter in messages. */
export function describeAdapter(adapter: AdapterSummary): string {
  return `${adapter.description || 'no description'}; vendor ${adapter.vendor || 'unknown'}, architecture ${adapter.architecture || 'unknown'}, a ${adapter.hardware ? 'hardware' : 'software'} adapter`;
}

/** Why `auto` and `gpu` pass over a software adapter. */
export function softwareAdapterSkipped(adapter: AdapterSummary): string {
  return `only a software adapter was found (${describeAdapter(adapter)}): it computes on the CPU, slower than tfjs-wasm, so only --backend webgpu uses it`;
}

/** The tfjs `webgpu` backend on a device of the adapter, and the guard every step of work on it must run in. */
export interface WebGpuCompute {
  readonly adapter: AdapterSummary;
  readonly guard: DeviceGuard;
}

let compute: Promise<WebGpuCompute> | undefined;

/**
 * Registers tfjs's `webgpu` backend (once per process) on a device of the adapter, with
 * the adapter's limits. Throws EvaluationError('device') with the reason when WebGPU is not usable.
 */
export function webGpuCompute(tf: Tf): Promise<WebGpuCompute> {
  compute ??= (async () => {
    const result = await findAdapter();
    if (!('summary' in result)) throw new EvaluationError('device', `WebGPU is not usable: ${result.reason}`);
    const { dawn, gpu, adapter, summary } = result;
    const requiredLimits = Object.fromEntries(REQUIRED_LIMITS.map((name) => [name, adapter.limits[name]]));
    const device = await adapter.requestDevice({ requiredLimits });
    const guard = new DeviceGuard(device, describeAdapter(summary));
    // Imported only now: importing it where navigator.gpu exists would register a backend of its own, on another device.
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    for (const name of TFJS_WEBGPU_GLOBALS) {
      if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value: dawn.globals[name], configurable: true, writable: true });
    }
    // Dawn's objects are the full WebGPU ones; the interfaces above name only what tvr itself calls.
    type Parameters = ConstructorParameters<typeof WebGPUBackend>;
    const backend = withNavigatorGpu(gpu, () => new WebGPUBackend(device as unknown as Parameters[0], adapter.info as unknown as Parameters[1]));
    // Priority 0: never tfjs's default, only where a runtime selects it.
    tf.registerBackend('webgpu', () => backend, 0);
    return { adapter: summary, guard };
  })();
  // A failed attempt is not kept: the next run asks again (and gets the same reason unless something changed).
  compute.catch(() => { compute = undefined; });
  return compute;
}

/** tfjs-backend-webgpu's constructor insists on a browser's navigator.gpu: it exists only while the backend is built. */
function withNavigatorGpu<T>(gpu: Gpu, build: () => T): T {
  const navigator = globalThis.navigator as object;
  Object.defineProperty(navigator, 'gpu', { value: gpu, configurable: true });
  try {
    return build();
  } finally {
    delete (navigator as { gpu?: unknown }).gpu;
  }
}

/**
 * Runs steps of GPU work one at a time, each inside validation, out-of-memory and internal
 * error scopes, and fails a step when its scopes caught an error, when an error arrived
 * outside any scope (it may have spoiled buffers this step reads), or when the device was
 * lost. Failures are sticky: once the device misbehaved, no later step is trusted.
 */
export class DeviceGuard {
  readonly #device: GpuDevice;
  readonly #adapter: string;
  /** The first error seen outside a step, or the loss of the device. */
  #failure: string | undefined;
  readonly #lost: Promise<never>;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(device: GpuDevice, adapter: string) {
    this.#device = device;
    this.#adapter = adapter;
    device.addEventListener('uncapturederror', (event) => {
      // Handled here: Dawn would otherwise print it and go on.
      event.preventDefault();
      this.#failure ??= `an error outside any evaluation step: ${event.error.message}`;
    });
    this.#lost = device.lost.then((info) => {
      this.#failure ??= `the device was lost (${info.reason}): ${info.message}`;
      throw new Error(this.#failure);
    });
    // Nobody may be waiting when the device goes (at exit, say).
    this.#lost.catch(() => {});
  }

  /** Runs `work` as the step `operation` (a phrase naming it in the failure: "task 'digits', validation examples 1-512"). */
  run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    const step = this.#queue.then(() => this.#step(operation, work));
    this.#queue = step.catch(() => {});
    return step;
  }

  async #step<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (this.#failure) throw this.#error(operation, this.#failure);
    for (const filter of ERROR_FILTERS) this.#device.pushErrorScope(filter);
    let outcome: { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };
    try {
      const pending = work();
      // A lost device may never answer a pending read: the loss ends the wait (and the work's own failure, if it comes later, is moot).
      pending.catch(() => {});
      outcome = { ok: true, value: await Promise.race([pending, this.#lost]) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const caught: string[] = [];
    for (const filter of [...ERROR_FILTERS].reverse()) {
      try {
        const error = await this.#device.popErrorScope();
        if (error) caught.push(`a${filter === 'internal' ? 'n' : ''} ${filter} error: ${error.message}`);
      } catch (error) {
        // Popping fails only on a lost device, which #failure already says.
        if (!this.#failure) caught.push(`a failure to read the ${filter} errors: ${(error as Error).message}`);
      }
    }
    const problem = caught[0] ?? this.#failure;
    if (problem) throw this.#error(operation, problem, outcome.ok ? undefined : outcome.error);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  #error(operation: string, problem: string, cause?: unknown): EvaluationError {
    return new EvaluationError('device', `${operation}: the WebGPU device (${this.#adapter}) reported ${problem.trim()}; the run stops rather than use numbers computed after the error`, cause === undefined ? {} : { cause });
  }
}
