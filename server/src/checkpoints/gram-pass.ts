// One streaming pass over a group of checkpoints with identical tensor tables,
// computing per tensor the Gram matrix of the differences M_i - R from the reference
// R (optionally with R itself) in float64.
// Memory is one chunk buffer per input, whatever the file sizes.
import { DTYPE_BYTES, isFloatDtype, jsConversionForced } from './dtypes.ts';
import { checkpointError } from './errors.ts';
import { createChunkKernel, gramSize, symmetrize } from './gram-kernel.ts';
import type { OperandDtypes } from './gram-wasm.ts';
import { elementCount, TensorReader } from './tensor-reader.ts';
import type { CheckpointHeader, Dtype, TensorEntry } from './types.ts';

export interface SkippedTensor {
  readonly name: string;
  readonly dtype: Dtype;
  readonly reason: string;
}

/** Inner products of one tensor. */
export interface TensorGram {
  readonly name: string;
  readonly elements: number;
  /**
   * Row-major size x size Gram matrix of the vectors [M_1 - R, ..., M_k - R]
   * (G[i][j] = <M_i - R, M_j - R>), or with `includesReference` of [R, M_1 - R, ...],
   * so that index 0 is R itself (gram[0] = ||R||^2).
   */
  readonly gram: Float64Array;
}

export interface GramResult {
  /** Absolute paths of the inputs, the reference R first. */
  readonly paths: readonly string[];
  /** The matrices are size x size: k, or k + 1 with the reference. */
  readonly size: number;
  readonly includesReference: boolean;
  /** Float tensors, in the reference's storage order. */
  readonly tensors: readonly TensorGram[];
  /** Integer, bool and 8-bit float tensors, and tensors not shared alike by every input: not part of any statistic. */
  readonly skipped: readonly SkippedTensor[];
  /** Sum of the tensors' matrices: the whole-model inner products. */
  readonly total: Float64Array;
  /** Tensor bytes read, all inputs together. */
  readonly bytesRead: number;
}

/** 64 Ki float32 per input (256 KiB): a chunk of two inputs stays in L2 between the read and the sums. */
export const DEFAULT_CHUNK_ELEMENTS = 1 << 16;

export interface GramPassOptions {
  /** Float32 elements per input per chunk. */
  readonly chunkElements?: number;
  /** Also take R itself as vector 0 (for ||R|| and ||M_i|| = ||R + D_i||). Default false. */
  readonly includeReference?: boolean;
  /** Checked between chunks; when true the pass stops by throwing `stopError()`. */
  readonly shouldStop?: () => boolean;
  readonly stopError?: () => unknown;
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** This pass covers only part `index` of `count` equal slices of the elements (parallel passes). */
  readonly part?: { readonly index: number; readonly count: number };
}

/**
 * Float tensors that every input has with the same shape (in the reference's order), and
 * the skipped ones: integer/bool tensors, and tensors not shared alike by all inputs (a
 * task's own head, say), which no vector of the group can involve. Throws when the
 * inputs share no float tensor at all.
 */
export function gramTables(headers: readonly CheckpointHeader[]): { float: TensorEntry[][]; skipped: SkippedTensor[] } {
  const reference = headers[0];
  if (!reference) throw new RangeError('the statistics pass needs at least one checkpoint');
  const float: TensorEntry[][] = [];
  const skipped: SkippedTensor[] = [];
  const differences: string[] = [];
  for (const [name, entry] of reference.tensors) {
    if (!isFloatDtype(entry.dtype)) {
      skipped.push({ name, dtype: entry.dtype, reason: 'not a float tensor' });
      continue;
    }
    const problem = headers.slice(1).map((other) => {
      const theirs = other.tensors.get(name);
      if (!theirs) return `"${name}" is missing from ${other.path}`;
      if (theirs.shape.join() !== entry.shape.join()) return `"${name}" has shape [${theirs.shape.join(', ')}] instead of [${entry.shape.join(', ')}] in ${other.path}`;
      if (!isFloatDtype(theirs.dtype)) return `"${name}" is ${theirs.dtype} instead of ${entry.dtype} in ${other.path}`;
      return undefined;
    }).find((p) => p !== undefined);
    if (problem) {
      differences.push(problem);
      skipped.push({ name, dtype: entry.dtype, reason: 'not shared alike by every input' });
    } else {
      float.push(headers.map((h) => h.tensors.get(name)!));
    }
  }
  for (const other of headers.slice(1)) {
    for (const [name, theirs] of other.tensors) {
      if (reference.tensors.has(name) || skipped.some((s) => s.name === name)) continue;
      differences.push(`"${name}" is not in ${reference.path}`);
      skipped.push({ name, dtype: theirs.dtype, reason: 'not shared alike by every input' });
    }
  }
  if (float.length === 0 && differences.length > 0) {
    throw checkpointError('table-mismatch', headers[1]!.path, `no float tensor is shared alike with ${reference.path}: ${differences.slice(0, 3).join('; ')}${differences.length > 3 ? ` (${differences.length} differences)` : ''}`);
  }
  return { float, skipped };
}

interface Piece {
  readonly tensor: number;
  readonly start: number;
  readonly count: number;
  /** Position in the chunk buffers. */
  readonly at: number;
}

/** Packs the element ranges of this part into chunks of at most `chunkElements`. */
function planChunks(counts: readonly number[], chunkElements: number, part: { index: number; count: number }): Piece[][] {
  const total = counts.reduce((a, b) => a + b, 0);
  const from = Math.floor((total * part.index) / part.count);
  const to = Math.floor((total * (part.index + 1)) / part.count);
  const chunks: Piece[][] = [];
  let chunk: Piece[] = [];
  let filled = 0;
  let base = 0;
  for (let tensor = 0; tensor < counts.length; tensor++) {
    const n = counts[tensor]!;
    let start = Math.max(0, from - base);
    const end = Math.min(n, to - base);
    while (start < end) {
      const count = Math.min(end - start, chunkElements - filled);
      chunk.push({ tensor, start, count, at: filled });
      filled += count;
      start += count;
      if (filled === chunkElements) {
        chunks.push(chunk);
        chunk = [];
        filled = 0;
      }
    }
    base += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Runs the pass synchronously in the calling thread: meant for a worker thread, where
 * blocking reads of small cache-resident chunks beat a thread-pool round trip per read.
 */
export function runGramPass(headers: readonly CheckpointHeader[], options: GramPassOptions = {}): GramResult {
  const { float, skipped } = gramTables(headers);
  const includeReference = options.includeReference ?? false;
  const size = gramSize(headers.length, includeReference);
  const chunkElements = Math.max(1, options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS);
  const counts = float.map((entries) => elementCount(entries[0]!));
  const chunks = planChunks(counts, chunkElements, options.part ?? { index: 0, count: 1 });
  const bytesPerElement = float.map((entries) => entries.reduce((sum, e) => sum + DTYPE_BYTES[e.dtype], 0));
  const bytesTotal = chunks.flat().reduce((sum, p) => sum + p.count * bytesPerElement[p.tensor]!, 0);
  const grams = float.map(() => new Float64Array(size * size));

  const reader = new TensorReader(headers);
  const largest = chunks.reduce((most, chunk) => Math.max(most, chunk.reduce((sum, p) => sum + p.count, 0)), 0);
  const kernel = createChunkKernel(headers.length, Math.max(1, largest), includeReference);
  const stored = jsConversionForced() ? undefined : kernel.stored;
  let bytesDone = 0;
  try {
    for (const chunk of chunks) {
      if (options.shouldStop?.()) throw options.stopError?.() ?? new Error('statistics pass stopped');
      for (const p of chunk) {
        const entries = float[p.tensor]!;
        const dtypes = entries.map((e) => e.dtype);
        if (stored && isStoredPair(dtypes)) {
          // The kernel decodes these itself: the file's bytes go straight to where it sums.
          entries.forEach((entry, i) => reader.readBytesSync(entry, p.start * DTYPE_BYTES[entry.dtype], stored.target(i, p.at, p.count, dtypes[i]!)));
          stored.accumulate(p.at, p.count, dtypes, grams[p.tensor]!);
        } else {
          for (let i = 0; i < entries.length; i++) {
            const buffer = kernel.buffers[i]!;
            // A piece filling the whole buffer (the common case) needs no view of its own.
            reader.readFloat32Sync(entries[i]!, p.start, p.at === 0 && p.count === buffer.length ? buffer : buffer.subarray(p.at, p.at + p.count));
          }
          kernel.accumulate(p.at, p.count, grams[p.tensor]!);
        }
        bytesDone += p.count * bytesPerElement[p.tensor]!;
      }
      options.onProgress?.(bytesDone, bytesTotal);
    }
  } finally {
    void reader.close();
  }

  const total = new Float64Array(size * size);
  for (const gram of grams) {
    symmetrize(gram, size);
    for (let i = 0; i < gram.length; i++) total[i] = total[i]! + gram[i]!;
  }
  return {
    paths: headers.map((h) => h.path),
    size,
    includesReference: includeReference,
    tensors: float.map((entries, t) => ({ name: entries[0]!.name, elements: counts[t]!, gram: grams[t]! })),
    skipped,
    total,
    bytesRead: bytesDone,
  };
}

/** Two operands that the stored-bytes kernel reads as they are (float32, bfloat16 or float16). */
function isStoredPair(dtypes: readonly Dtype[]): dtypes is OperandDtypes {
  return dtypes.length === 2 && dtypes.every((d) => d === 'F32' || d === 'BF16' || d === 'F16');
}

/** Adds the results of passes over different parts of the same inputs. */
export function mergeGramResults(parts: readonly GramResult[]): GramResult {
  const [first, ...rest] = parts;
  if (!first) throw new RangeError('nothing to merge');
  const tensors = first.tensors.map((t) => ({ ...t, gram: Float64Array.from(t.gram) }));
  const total = Float64Array.from(first.total);
  let bytesRead = first.bytesRead;
  for (const part of rest) {
    part.tensors.forEach((t, i) => {
      const sum = tensors[i]!.gram;
      for (let j = 0; j < t.gram.length; j++) sum[j] = sum[j]! + t.gram[j]!;
    });
    for (let j = 0; j < total.length; j++) total[j] = total[j]! + part.total[j]!;
    bytesRead += part.bytesRead;
  }
  return { ...first, tensors, total, bytesRead };
}
