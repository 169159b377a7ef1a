// Compiles a Kernel into one specialised JS loop (`new Function`): every node becomes a
// local, so a chunk is evaluated in a single pass with no intermediate arrays and no
// per-element interpretation. The same source runs on the main thread and in workers;
// random draws call the shared counter-based functions, so they are bit-identical.
import { bitsAt, normalAt } from '../rng.ts';
import { kernelRoots, liveNodes } from '../plan/schedule.ts';
import type { Kernel, Op } from '../plan/types.ts';

/**
 * Evaluates elements [from, to) of a chunk. `start` is the tensor index of chunk element 0
 * (the RNG counter); sums are added into `acc[r]`, histogram counts into `buffers[r]`
 * (a Uint32Array), kept values stored into `buffers[r]` (a Float32Array over the chunk).
 */
export type KernelFn = (
  inputs: readonly (Float32Array | null)[],
  out: Float32Array | null,
  from: number,
  to: number,
  start: number,
  params: Float64Array,
  acc: Float64Array,
  buffers: readonly (Uint32Array | Float32Array | null)[],
) => void;

/**
 * The loop body. Selections (trim, TIES agreement, DARE) are branch-free integer
 * arithmetic on float32 bit patterns, taken through a one-element Float32Array /
 * Uint32Array pair: with random data a branch per element mispredicts often, and
 * V8 compiles float conditionals to branches (measured 4-12 ns per element against
 * about 1 ns for the bit form).
 */
export function kernelSource(kernel: Kernel): string {
  const emit = new Emitter();
  for (const n of liveNodes(kernel.nodes, kernelRoots(kernel))) emit.node(n, kernel.nodes[n]!);
  if (kernel.output !== null) emit.body.push(`out[i] = v${kernel.output};`);
  const sums: string[] = [];
  const buffers: string[] = [];
  kernel.reductions.forEach((r, index) => {
    switch (r.kind) {
      case 'sumsq':
        sums.push(`a${index}`);
        emit.body.push(`a${index} += v${r.node} * v${r.node};`);
        break;
      case 'dot':
        sums.push(`a${index}`);
        emit.body.push(`a${index} += v${r.a} * v${r.b};`);
        break;
      case 'hist-hi':
        buffers.push(`h${index}`);
        emit.body.push(`h${index}[(${emit.bits(r.node)} >>> 16) & 0x7fff]++;`);
        break;
      case 'hist-lo': {
        buffers.push(`h${index}`);
        const b = `${emit.bits(r.node)} & 0x7fffffff`;
        emit.body.push(`if (((${b}) >>> 16) === ${emit.param(r.bucket)}) h${index}[(${b}) & 0xffff]++;`);
        break;
      }
      case 'hist-top': {
        // NaN (|bits| > 0x7f800000) goes to the last bin, which selection ignores.
        buffers.push(`h${index}`);
        const a = `(${emit.bits(r.node)} & 0x7fffffff)`;
        emit.body.push(`h${index}[(${a} >>> 20) | (((0x7f800000 - ${a}) >> 31) & 0x7ff)]++;`);
        break;
      }
      case 'values':
        buffers.push(`h${index}`);
        emit.body.push(`h${index}[i] = v${r.node};`);
        break;
    }
  });
  const head = [
    ...[...emit.slots].map((s) => `const in${s} = inputs[${s}];`),
    ...[...emit.params].sort((a, b) => a - b).map((ref) => `const p${ref} = params[${ref}];`),
    ...emit.prologue,
    ...sums.map((a) => `let ${a} = 0;`),
    ...buffers.map((h) => `const ${h} = buffers[${h.slice(1)}];`),
  ];
  const tail = sums.map((a) => `acc[${a.slice(1)}] += ${a};`);
  return [...head, 'for (let i = from; i < to; i++) {', ...emit.body.map((l) => `  ${l}`), '}', ...tail].join('\n');
}

class Emitter {
  readonly body: string[] = [];
  readonly prologue: string[] = [];
  readonly params = new Set<number>();
  readonly slots = new Set<number>();
  readonly #bits = new Set<number>();
  readonly #paramBits = new Set<number>();
  #slot = 0;

  /**
   * A scratch slot of its own for each conversion site: conversions through one shared
   * slot would be serialised by the CPU (store, then dependent load, at one address).
   */
  scratch(): number {
    const slot = this.#slot;
    this.#slot = (this.#slot + 1) % SCRATCH_SLOTS;
    return slot;
  }

  param(ref: number): string {
    this.params.add(ref);
    return `p${ref}`;
  }

  /** The float32 bit pattern of a param, computed once before the loop. */
  paramBits(ref: number): string {
    if (!this.#paramBits.has(ref)) {
      this.#paramBits.add(ref);
      this.prologue.push(`f[0] = ${this.param(ref)}; const q${ref} = u[0] | 0;`);
    }
    return `q${ref}`;
  }

  /** The bit pattern of node n's value (an int32 local), emitted once per element. */
  bits(n: number): string {
    if (!this.#bits.has(n)) {
      this.#bits.add(n);
      const k = this.scratch();
      this.body.push(`f[${k}] = v${n}; const b${n} = u[${k}] | 0;`);
    }
    return `b${n}`;
  }

  node(n: number, op: Op): void {
    const v = `v${n}`;
    switch (op.op) {
      case 'input':
        this.slots.add(op.slot);
        this.body.push(`const ${v} = in${op.slot}[i];`);
        return;
      case 'lin':
        this.body.push(op.terms.length === 0 ? `const ${v} = 0;` : `const ${v} = Math.fround(${op.terms.map((t) => `${this.param(t.coef)} * v${t.arg}`).join(' + ')});`);
        return;
      case 'trim': {
        // Keep when |bits| >= threshold bits (order of non-negative floats = order of their bits):
        // (|b| - t) >> 31 is -1 exactly when |b| < t, and masks the value to +0.
        const b = this.bits(op.arg);
        this.#bits.add(n);
        const k = this.scratch();
        this.body.push(`const b${n} = ${b} & ~(((${b} & 0x7fffffff) - ${this.paramBits(op.threshold)}) >> 31); u[${k}] = b${n}; const ${v} = f[${k}];`);
        return;
      }
      case 'ties': {
        // An argument agrees when it is non-zero and has the sign of the sum, which must be
        // non-zero and not NaN (no sign elected otherwise): on bit patterns, with a = |bits|,
        // non-zero is (0 - a) >>> 31, not NaN is (a - 0x7f800001) >>> 31, same sign 1 ^ ((x ^ s) >>> 31).
        const sb = `t${n}`;
        const k = this.scratch();
        this.body.push(`const s${n} = ${op.args.map((a) => `v${a}`).join(' + ')}; f[${k}] = s${n}; const ${sb} = u[${k}] | 0;`);
        this.body.push(`const z${n} = ((0 - (${sb} & 0x7fffffff)) >>> 31) & (((${sb} & 0x7fffffff) - 0x7f800001) >>> 31);`);
        const agree = op.args.map((a, k) => {
          const b = this.bits(a);
          return `const g${n}_${k} = z${n} & ((0 - (${b} & 0x7fffffff)) >>> 31) & (1 ^ ((${b} ^ ${sb}) >>> 31));`;
        });
        this.body.push(...agree);
        this.body.push(`const c${n} = ${op.args.map((_, k) => `g${n}_${k}`).join(' + ')};`);
        this.body.push(`const ${v} = Math.fround((${op.args.map((a, k) => `g${n}_${k} * v${a}`).join(' + ')}) / (c${n} + ((c${n} - 1) >>> 31)));`);
        return;
      }
      case 'dare':
        // Kept when the 24-bit draw >= keep: ((draw - keep) >> 31) is -1 exactly when dropped.
        this.body.push(`const ${v} = Math.fround(v${op.arg} * ${this.param(op.scale)} * (1 + (((bitsAt(${this.param(op.key)}, ${this.param(op.key + 1)}, start + i) >>> 8) - ${this.param(op.keep)}) >> 31)));`);
        return;
      case 'noise':
        this.body.push(`const ${v} = normalAt(${this.param(op.key)}, ${this.param(op.key + 1)}, ${this.param(op.key + 2)}, ${this.param(op.key + 3)}, start + i);`);
        return;
      case 'vote': {
        // Comparisons as torch makes them (the scaled magnitude rounded to float32); NaN never votes.
        const votes = op.pairs.map(({ a, b }) => `(Math.abs(v${a}) > ${b === undefined ? '0' : `Math.fround(${this.param(op.scale)} * Math.abs(v${b}))`} ? 1 : 0)`);
        this.body.push(`const ${v} = ${votes.join(' + ')} >= ${this.param(op.min)} ? v${op.arg} : 0;`);
        return;
      }
      case 'variance': {
        // Two-pass form in float64: the mean first, then squared deviations (absent args are zeros).
        const count = this.param(op.count);
        this.body.push(`const m${n} = (${op.args.map((a) => `v${a}`).join(' + ')}) / ${count};`);
        this.body.push(`const ${v} = Math.fround((${op.args.map((a) => `(v${a} - m${n}) * (v${a} - m${n})`).join(' + ')} + (${count} - ${op.args.length}) * m${n} * m${n}) / ${count});`);
        return;
      }
      case 'elect': {
        // As torch computes it: weight times value for every arg (0 * NaN is NaN there too), the
        // weight zeroed where the arg's sign is not the elected one (a zero has neither).
        const sum = `(${op.args.map((a) => `v${a}`).join(' + ')})`;
        this.body.push(op.strict ? `const s${n} = ${sum}; const e${n} = s${n} > 0 ? 1 : s${n} < 0 ? -1 : NaN;` : `const e${n} = ${sum} >= 0 ? 1 : -1;`);
        op.args.forEach((a, k) => this.body.push(`const g${n}_${k} = Math.sign(v${a}) === e${n};`));
        const weights = op.args.map((_, k) => `(g${n}_${k} ? ${this.param(op.weights[k]!)} : 0)`);
        const divisors = op.divisors ? op.args.map((_, k) => `(g${n}_${k} ? ${this.param(op.divisors![k]!)} : 0)`) : weights;
        this.body.push(`const ${v} = Math.fround((${op.args.map((a, k) => `${weights[k]} * v${a}`).join(' + ')}) / Math.max(${divisors.join(' + ')}, ${this.param(op.floor)}));`);
        return;
      }
    }
  }
}

const SCRATCH_SLOTS = 16;

const sources = new WeakMap<Kernel, string>();

/** `kernelSource`, computed once per kernel object (a pass runs the same kernel on every chunk). */
export function sourceOf(kernel: Kernel): string {
  let source = sources.get(kernel);
  if (source === undefined) {
    source = kernelSource(kernel);
    sources.set(kernel, source);
  }
  return source;
}

const compiled = new Map<string, KernelFn>();
const MAX_CACHED = 256;

/** Compiles (or reuses) the loop for `source`; kernels differing only in params share one. */
export function compileKernel(source: string): KernelFn {
  let fn = compiled.get(source);
  if (fn) return fn;
  if (compiled.size >= MAX_CACHED) compiled.clear();
  const factory = new Function('bitsAt', 'normalAt', `
    "use strict";
    const f = new Float32Array(${SCRATCH_SLOTS});
    const u = new Uint32Array(f.buffer);
    return function kernel(inputs, out, from, to, start, params, acc, buffers) {
      ${source}
    };`) as (bits: typeof bitsAt, normal: typeof normalAt) => KernelFn;
  fn = factory(bitsAt, normalAt);
  compiled.set(source, fn);
  return fn;
}
