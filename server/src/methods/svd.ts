// Dense linear algebra in float64 for the merge methods that need a whole matrix (Iso-C,
// Iso-CTS, TSV-M): the thin singular value decomposition by one-sided Jacobi rotations
// (Hestenes), accurate for small singular values too, and what the methods build from it.
// Matrices are row-major Float64Arrays with their row and column counts.

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export interface Svd {
  /** rows x r, orthonormal columns (a column is zero where its singular value is). */
  readonly u: Matrix;
  /** r singular values, largest first. */
  readonly s: Float64Array;
  /** r x cols: the right singular vectors as rows (torch's Vh). */
  readonly vh: Matrix;
}

export function matrix(rows: number, cols: number, data = new Float64Array(rows * cols)): Matrix {
  return { rows, cols, data };
}

export function transpose(a: Matrix): Matrix {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out[j * a.rows + i] = a.data[i * a.cols + j]!;
  return matrix(a.cols, a.rows, out);
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) {
    const row = i * b.cols;
    for (let k = 0; k < a.cols; k++) {
      const x = a.data[i * a.cols + k]!;
      if (x === 0) continue;
      const from = k * b.cols;
      for (let j = 0; j < b.cols; j++) out[row + j]! += x * b.data[from + j]!;
    }
  }
  return matrix(a.rows, b.cols, out);
}

/** Sweeps are stopped after this many; Jacobi converges quadratically, in well under 30 for any matrix met here. */
const MAX_SWEEPS = 60;

/**
 * The thin SVD a = u diag(s) vh, r = min(rows, cols). One-sided Jacobi on the columns of a
 * (of its transpose when it is wide): pairs of columns are rotated until every pair is
 * orthogonal to machine precision; the column norms are then the singular values.
 */
export function svd(a: Matrix): Svd {
  if (a.rows < a.cols) {
    const t = svd(transpose(a));
    return { u: transpose(t.vh), s: t.s, vh: transpose(t.u) };
  }
  const m = a.rows;
  const n = a.cols;
  // Columns stored contiguously: work[j] is column j of a, v[j] column j of the rotations.
  const work = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => a.data[i * n + j]!));
  const v = Array.from({ length: n }, (_, j) => {
    const column = new Float64Array(n);
    column[j] = 1;
    return column;
  });
  const eps = Number.EPSILON;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const x = work[p]!;
        const y = work[q]!;
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          alpha += x[i]! * x[i]!;
          beta += y[i]! * y[i]!;
          gamma += x[i]! * y[i]!;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(x, y, c, s);
        rotate(v[p]!, v[q]!, c, s);
      }
    }
    if (!rotated) break;
  }
  const norms = work.map((column) => Math.sqrt(column.reduce((sum, x) => sum + x * x, 0)));
  const order = norms.map((_, j) => j).sort((i, j) => norms[j]! - norms[i]! || i - j);
  const u = new Float64Array(m * n);
  const vh = new Float64Array(n * n);
  const s = new Float64Array(n);
  order.forEach((j, k) => {
    s[k] = norms[j]!;
    const scale = norms[j]! > 0 ? 1 / norms[j]! : 0;
    for (let i = 0; i < m; i++) u[i * n + k] = work[j]![i]! * scale;
    vh.set(v[j]!, k * n);
  });
  return { u: matrix(m, n, u), s, vh: matrix(n, n, vh) };
}

function rotate(x: Float64Array, y: Float64Array, c: number, s: number): void {
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = y[i]!;
    x[i] = c * a - s * b;
    y[i] = s * a + c * b;
  }
}

/** u vh of a's SVD: the orthogonal (polar) factor nearest to a. */
export function orthogonalFactor(a: Matrix): Matrix {
  const { u, vh } = svd(a);
  return multiply(u, vh);
}

/** u diag(s) vh. */
export function compose(u: Matrix, s: ArrayLike<number>, vh: Matrix): Matrix {
  const scaled = new Float64Array(u.data.length);
  for (let i = 0; i < u.rows; i++) for (let k = 0; k < u.cols; k++) scaled[i * u.cols + k] = u.data[i * u.cols + k]! * s[k]!;
  return multiply(matrix(u.rows, u.cols, scaled), vh);
}
