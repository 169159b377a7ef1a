// Frobenius norms of LoRA adapters' ΔW = scale · B·A from the two factors alone:
// ‖B·A‖² = tr(Aᵀ·Bᵀ·B·A) = tr(BᵀB · AAᵀ) = Σ_ij (BᵀB)_ij (AAᵀ)_ij, two r x r Gram matrices
// in float64 at (in + out)·r²/2 multiply-adds where forming ΔW would cost out·in·r and
// out·in memory. Transposing ΔW (fan_in_fan_out, embeddings) leaves its norm unchanged.
import type { LoraModule } from './peft-adapter.ts';
import { TensorReader } from './tensor-reader.ts';
import type { FileIdentity } from './types.ts';

/** What the pass needs of a module: its factors in the adapter file and its scale (peft-adapter.ts's, rank_pattern, alpha_pattern and rsLoRA applied). */
export type LoraNormModule = Pick<LoraModule, 'tensor' | 'a' | 'b' | 'scale'>;

export interface LoraNorms {
  /** ‖ΔW‖² and ΔW's elements (out·in) per module, in the order asked for, by the base tensor ΔW adds to. */
  readonly modules: readonly { readonly tensor: string; readonly squaredNorm: number; readonly elements: number }[];
}

/**
 * Upper triangle (and diagonal) of the r x r Gram matrix of the rows of `m`, row-major
 * [rows, columns]: AAᵀ for A = lora_A [r, in] (rows = r), dot products along A's
 * contiguous rows.
 */
function rowGram(m: Float32Array, rows: number, columns: number): Float64Array {
  const gram = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    const ri = i * columns;
    for (let j = i; j < rows; j++) {
      const rj = j * columns;
      let sum = 0;
      for (let k = 0; k < columns; k++) sum += m[ri + k]! * m[rj + k]!;
      gram[i * rows + j] = sum;
    }
  }
  return gram;
}

/**
 * Upper triangle (and diagonal) of the Gram matrix of the columns of `m`, row-major
 * [rows, columns]: BᵀB for B = lora_B [out, r] (columns = r), accumulated row by row so
 * B is read in storage order.
 */
function columnGram(m: Float32Array, rows: number, columns: number): Float64Array {
  const gram = new Float64Array(columns * columns);
  for (let o = 0; o < rows; o++) {
    const row = o * columns;
    for (let i = 0; i < columns; i++) {
      const bi = m[row + i]!;
      const out = i * columns;
      for (let j = i; j < columns; j++) gram[out + j]! += bi * m[row + j]!;
    }
  }
  return gram;
}

/** ‖scale · B·A‖² for A = lora_A [rank, in] and B = lora_B [out, rank], row-major, without forming B·A. */
export function loraNormSquared(a: Float32Array, b: Float32Array, rank: number, scale: number): number {
  const aat = rowGram(a, rank, a.length / rank);
  const btb = columnGram(b, b.length / rank, rank);
  // Both symmetric: the diagonal once, each off-diagonal pair twice.
  let diagonal = 0;
  let offDiagonal = 0;
  for (let i = 0; i < rank; i++) {
    diagonal += aat[i * rank + i]! * btb[i * rank + i]!;
    for (let j = i + 1; j < rank; j++) offDiagonal += aat[i * rank + j]! * btb[i * rank + j]!;
  }
  return scale * scale * (diagonal + 2 * offDiagonal);
}

export interface LoraNormPassOptions {
  /** Checked between modules; when true the pass stops by throwing `stopError()`. */
  readonly shouldStop?: () => boolean;
  readonly stopError?: () => unknown;
  readonly onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/**
 * ‖ΔW‖² of each module, reading its factors whole (decoded to float32: exact for F32, F16
 * and BF16) with blocking reads: for a worker thread. `files` are the adapter file's
 * identities as its header recorded them; a file changed since is a CheckpointError.
 */
export function runLoraNormPass(files: readonly FileIdentity[], modules: readonly LoraNormModule[], options: LoraNormPassOptions = {}): LoraNorms {
  const reader = new TensorReader([{ files }]);
  const bytesTotal = modules.reduce((sum, m) => sum + m.a.byteLength + m.b.byteLength, 0);
  let bytesDone = 0;
  const out: LoraNorms['modules'][number][] = [];
  try {
    for (const m of modules) {
      if (options.shouldStop?.()) throw options.stopError?.() ?? new Error('stopped');
      const [rank, inputs] = m.a.shape as [number, number];
      const outputs = m.b.shape[0]!;
      const a = new Float32Array(rank * inputs);
      const b = new Float32Array(outputs * rank);
      reader.readFloat32Sync(m.a, 0, a);
      reader.readFloat32Sync(m.b, 0, b);
      out.push({ tensor: m.tensor, squaredNorm: loraNormSquared(a, b, rank, m.scale), elements: outputs * inputs });
      bytesDone += m.a.byteLength + m.b.byteLength;
      options.onProgress?.(bytesDone, bytesTotal);
    }
  } finally {
    void reader.close();
  }
  return { modules: out };
}
