// Building typed programs as plain data (what the checker would produce), reading
// outputs back with an independent parser, and float64 reference implementations of
// every merge method, written from the papers rather than from the engine's code.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { EngineError } from '../../../server/src/engine/errors.ts';
import type { Dtype } from '../../../server/src/checkpoints/types.ts';
import { constant } from '../../../server/src/language/poly.ts';
import type { Poly } from '../../../server/src/language/poly.ts';
import type {
  LoadNode, Range, SaveStatement, SweepVar, TensorSpec, TensorTable, TypedProgram, WeightKind, WeightNode,
} from '../../../server/src/language/program.ts';

const RANGE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };

export function lineRange(line: number): Range {
  return { start: { line, character: 0 }, end: { line, character: 10 } };
}

/** Assembles a TypedProgram node by node, as the checker would (ids unique, nodes shared). */
export class ProgramBuilder {
  private nextId = 1;
  readonly loads: LoadNode[] = [];
  readonly saves: SaveStatement[] = [];
  readonly sweeps: SweepVar[] = [];
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  async load(path: string, line = 0): Promise<LoadNode> {
    const header = await readCheckpointHeader(path);
    const table: TensorTable = new Map([...header.tensors].map(([name, e]): [string, TensorSpec] => [name, { dtype: e.dtype, shape: e.shape }]));
    const node: LoadNode = { id: this.nextId++, op: 'load', kind: 'model', table, range: lineRange(line), path, header };
    this.loads.push(node);
    return node;
  }

  sweep(name: string, values: readonly number[]): SweepVar {
    const sweep: SweepVar = { id: this.sweeps.length + 1, name, values, range: RANGE };
    this.sweeps.push(sweep);
    return sweep;
  }

  /** sum(coef * node); a Model when the model weights sum to 1, else a Vector. */
  combine(terms: readonly (readonly [number | Poly, WeightNode])[], kind?: WeightKind, line = 0): WeightNode {
    const polyTerms = terms.map(([coef, node]) => ({ coef: typeof coef === 'number' ? constant(coef) : coef, node }));
    const modelWeight = terms.reduce((sum, [coef, node]) => sum + (node.kind === 'model' && typeof coef === 'number' ? coef : 0), 0);
    return { id: this.nextId++, op: 'combine', kind: kind ?? (Math.abs(modelWeight - 1) < 1e-9 ? 'model' : 'vector'), table: terms[0]![1].table, range: lineRange(line), terms: polyTerms };
  }

  diff(a: WeightNode, b: WeightNode): WeightNode {
    return this.combine([[1, a], [-1, b]], 'vector');
  }

  ties(inputs: readonly WeightNode[], density: number): WeightNode {
    return { id: this.nextId++, op: 'ties', kind: 'vector', table: inputs[0]!.table, range: RANGE, inputs, density };
  }

  dare(input: WeightNode, p: number, seed: number): WeightNode {
    return { id: this.nextId++, op: 'dare', kind: 'vector', table: input.table, range: RANGE, input, p, seed };
  }

  prune(input: WeightNode, density: number): WeightNode {
    return { id: this.nextId++, op: 'magnitude_prune', kind: 'vector', table: input.table, range: RANGE, input, density };
  }

  slerp(a: WeightNode, b: WeightNode, t: number | Poly): WeightNode {
    return { id: this.nextId++, op: 'slerp', kind: a.kind, table: a.table, range: RANGE, a, b, t: typeof t === 'number' ? constant(t) : t };
  }

  randomLike(input: WeightNode, seed: number): WeightNode {
    return { id: this.nextId++, op: 'random_like', kind: 'vector', table: input.table, range: RANGE, input, seed };
  }

  select(input: WeightNode, include: readonly string[] | null, exclude: readonly string[]): WeightNode {
    const matches = (name: string, glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(name);
    const table = new Map([...input.table!].filter(([name]) => (include === null || include.some((g) => matches(name, g))) && !exclude.some((g) => matches(name, g))));
    return { id: this.nextId++, op: 'select', kind: input.kind, table, range: RANGE, input, include, exclude };
  }

  save(node: WeightNode, path: string, options: { dtype?: Dtype; shardBytes?: number; overwrite?: boolean; line?: number } = {}): SaveStatement {
    const save: SaveStatement = {
      node,
      path,
      overwrite: options.overwrite ?? false,
      range: lineRange(options.line ?? 0),
      ...(options.dtype ? { dtype: options.dtype } : {}),
      ...(options.shardBytes ? { shardBytes: options.shardBytes } : {}),
    };
    this.saves.push(save);
    return save;
  }

  program(): TypedProgram {
    return { file: this.file, sweeps: this.sweeps, saves: this.saves, evaluations: [], loads: this.loads, methodInputs: [], posteriors: [] };
  }
}

export interface ReadTensor {
  readonly dtype: string;
  readonly shape: number[];
  readonly values: Float64Array;
  readonly bytes: Uint8Array;
}

/**
 * An independent safetensors reader (DataView, no tvr code): a single file, a sharded
 * directory (index + shards), returning each tensor's exact stored values.
 */
export function readSafetensorsOutput(path: string): { tensors: Map<string, ReadTensor>; metadata: Record<string, string>; order: string[] } {
  if (statSync(path).isDirectory()) {
    const index = JSON.parse(readFileSync(join(path, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const tensors = new Map<string, ReadTensor>();
    const order: string[] = [];
    let metadata: Record<string, string> = {};
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    for (const shard of shards) {
      const read = readSafetensorsOutput(join(path, shard));
      for (const name of read.order) {
        tensors.set(name, read.tensors.get(name)!);
        order.push(name);
      }
      metadata = read.metadata;
    }
    return { tensors, metadata, order };
  }
  const file = readFileSync(path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const tensors = new Map<string, ReadTensor>();
  const order: string[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    const bytes = new Uint8Array(file.buffer, file.byteOffset + base + begin, end - begin);
    tensors.set(name, { dtype: entry.dtype, shape: entry.shape, values: decode(entry.dtype, bytes), bytes: bytes.slice() });
    order.push(name);
  }
  return { tensors, metadata: (header.__metadata__ ?? {}) as unknown as Record<string, string>, order };
}

/** Reads a tfjs model directory written by tvr: model.json and its concatenated shards. */
export function readTfjsOutput(dir: string): { tensors: Map<string, ReadTensor>; modelJson: Record<string, unknown> } {
  const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Record<string, unknown> & { weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[] };
  const tensors = new Map<string, ReadTensor>();
  for (const group of modelJson.weightsManifest) {
    const all = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let at = 0;
    for (const w of group.weights) {
      const dtype = { float32: 'F32', int32: 'I32', bool: 'BOOL' }[w.dtype]!;
      const size = w.shape.reduce((a, b) => a * b, 1) * (dtype === 'BOOL' ? 1 : 4);
      const bytes = new Uint8Array(all.subarray(at, at + size));
      tensors.set(w.name, { dtype, shape: w.shape, values: decode(dtype, bytes), bytes });
      at += size;
    }
  }
  return { tensors, modelJson };
}

function decode(dtype: string, bytes: Uint8Array): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 }[dtype];
  if (size === undefined) throw new Error(`test reader: dtype ${dtype}`);
  const out = new Float64Array(bytes.byteLength / size);
  for (let i = 0; i < out.length; i++) {
    switch (dtype) {
      case 'F64': out[i] = view.getFloat64(i * 8, true); break;
      case 'F32': out[i] = view.getFloat32(i * 4, true); break;
      case 'F16': out[i] = view.getFloat16(i * 2, true); break;
      case 'BF16': {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = scratch.getFloat32(0, true);
        break;
      }
      case 'I64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = view.getInt32(i * 4, true); break;
      default: out[i] = view.getUint8(i);
    }
  }
  return out;
}

/** Asserts that `run` rejects with an EngineError, then runs `check` on it. */
export async function fails(run: Promise<unknown>, check: (e: EngineError) => void): Promise<void> {
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof EngineError, `an EngineError, got ${String(e)}`);
    check(e);
    return true;
  });
}

/** Files left in a directory tree (to prove a failed run left nothing). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTree(path));
    out.push(path);
  }
  return out.sort();
}

// ---- float64 references, from the papers ----

export function linear(terms: readonly (readonly [number, Float64Array])[]): Float64Array {
  const out = new Float64Array(terms[0]![1].length);
  for (const [c, x] of terms) for (let i = 0; i < out.length; i++) out[i]! += c * x[i]!;
  return out;
}

/** Keep the k = floor(density * n) largest |x| (and anything tied with the k-th), zero the rest. */
export function magnitudePrune(x: Float64Array, density: number): Float64Array {
  const k = Math.floor(density * x.length + 1e-9);
  if (k === 0) return new Float64Array(x.length);
  const sorted = Array.from(x, Math.abs).sort((a, b) => b - a);
  const kth = sorted[k - 1]!;
  return x.map((v) => (Math.abs(v) >= kth ? v : 0));
}

/** TIES (Yadav et al. 2023): trim each vector, elect the sign of the summed mass, disjoint mean. */
export function ties(vectors: readonly Float64Array[], density: number): Float64Array {
  const trimmed = vectors.map((v) => magnitudePrune(v, density));
  const out = new Float64Array(vectors[0]!.length);
  for (let i = 0; i < out.length; i++) {
    const mass = trimmed.reduce((s, t) => s + t[i]!, 0);
    const sign = Math.sign(mass);
    const agreeing = trimmed.map((t) => t[i]!).filter((v) => v !== 0 && Math.sign(v) === sign);
    out[i] = agreeing.length === 0 ? 0 : agreeing.reduce((a, b) => a + b, 0) / agreeing.length;
  }
  return out;
}

/** SLERP between two tensors (angle of the normalised tensors; linear when nearly colinear). */
export function slerp(a: Float64Array, b: Float64Array, t: number): Float64Array {
  let aa = 0, bb = 0, ab = 0;
  for (let i = 0; i < a.length; i++) { aa += a[i]! ** 2; bb += b[i]! ** 2; ab += a[i]! * b[i]!; }
  const cos = ab / Math.sqrt(aa * bb);
  if (Math.abs(cos) > 0.9995) return linear([[1 - t, a], [t, b]]);
  const omega = Math.acos(cos);
  return linear([[Math.sin((1 - t) * omega) / Math.sin(omega), a], [Math.sin(t * omega) / Math.sin(omega), b]]);
}

export function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! ** 2;
  return Math.sqrt(s);
}

/** Relative precision of a stored dtype (half an ulp at 1, with margin for float32 arithmetic before rounding). */
export function tolerance(dtype: string): number {
  return { F64: 1e-6, F32: 1e-6, F16: 2 ** -10, BF16: 2 ** -7 }[dtype] ?? 0;
}

/** Largest |got - want| / (|want| + scale) over a tensor, for error messages. */
export function worstError(got: ArrayLike<number>, want: ArrayLike<number>, scale: number): { error: number; index: number } {
  let error = 0, index = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + scale);
    if (!(e <= error)) { error = e; index = i; }
  }
  return { error, index };
}
