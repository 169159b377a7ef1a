// Scalars fold at check time into polynomials over sweep variables, so that
// `lam*a + (1-lam)*b` is recognised as a Model for every lambda, and a weight sum
// that is off can be printed symbolically ("1 + lam").

/** Monomial key: sorted sweep ids joined by '*'; '' is the constant term. */
export type Poly = ReadonlyMap<string, number>;

const EPS = 1e-9;

const zero: Poly = new Map();
const one: Poly = new Map([['', 1]]);

export function constant(value: number): Poly {
  if (value === 0) return zero;
  if (value === 1) return one;
  return new Map([['', value]]);
}

export function variable(sweepId: number): Poly {
  return new Map([[String(sweepId), 1]]);
}

export function add(a: Poly, b: Poly): Poly {
  if (a.size === 0) return b;
  if (b.size === 0) return a;
  const ca = asConstant(a);
  const cb = ca === undefined ? undefined : asConstant(b);
  if (ca !== undefined && cb !== undefined) return constant(ca + cb);
  const out = new Map(a);
  for (const [k, v] of b) out.set(k, (out.get(k) ?? 0) + v);
  return prune(out);
}

export function scale(a: Poly, k: number): Poly {
  if (k === 1) return a;
  const c = asConstant(a);
  if (c !== undefined) return constant(c * k);
  const out = new Map<string, number>();
  for (const [m, v] of a) out.set(m, v * k);
  return prune(out);
}

export function mul(a: Poly, b: Poly): Poly {
  const ca = asConstant(a);
  if (ca !== undefined) return scale(b, ca);
  const cb = asConstant(b);
  if (cb !== undefined) return scale(a, cb);
  const out = new Map<string, number>();
  for (const [ma, va] of a) {
    for (const [mb, vb] of b) {
      const key = [...split(ma), ...split(mb)].sort((x, y) => Number(x) - Number(y)).join('*');
      out.set(key, (out.get(key) ?? 0) + va * vb);
    }
  }
  return prune(out);
}

/** The value when the polynomial does not depend on any sweep, else undefined. */
export function asConstant(a: Poly): number | undefined {
  if (a.size === 0) return 0;
  if (a.size > 1) return undefined;
  return a.get('');
}

/**
 * The largest magnitude the polynomial takes over the sweep ranges (`maxAbs(id)`: the
 * largest |value| of each sweep), bounded from above; NaN when a coefficient is NaN.
 */
export function magnitude(a: Poly, maxAbs: (sweepId: number) => number): number {
  let bound = 0;
  for (const [m, v] of a) {
    let term = Math.abs(v);
    for (const id of split(m)) term *= maxAbs(Number(id));
    bound += term;
  }
  return bound;
}

export function isConstant(a: Poly, value: number): boolean {
  const c = asConstant(a);
  return c !== undefined && Math.abs(c - value) <= EPS * Math.max(1, Math.abs(value));
}

export function sweepIds(a: Poly): number[] {
  const ids = new Set<number>();
  for (const k of a.keys()) for (const id of split(k)) ids.add(Number(id));
  return [...ids].sort((x, y) => x - y);
}

export function evaluate(a: Poly, point: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [m, v] of a) {
    let term = v;
    for (const id of split(m)) {
      const x = point.get(Number(id));
      if (x === undefined) throw new Error(`sweep ${id} has no value at this point`);
      term *= x;
    }
    total += term;
  }
  return total;
}

/** Human form, e.g. `1 - 0.5*lam`, using `names` for sweep ids. */
export function format(a: Poly, names: (id: number) => string): string {
  const terms = [...a.entries()].sort(([x], [y]) => split(x).length - split(y).length || x.localeCompare(y));
  if (terms.length === 0) return '0';
  let out = '';
  for (const [m, v] of terms) {
    const vars = split(m).map((id) => names(Number(id)));
    const magnitude = Math.abs(v);
    const body = vars.length === 0 ? formatNumber(magnitude) : (magnitude === 1 ? '' : `${formatNumber(magnitude)}*`) + vars.join('*');
    out += out === '' ? (v < 0 ? `-${body}` : body) : v < 0 ? ` - ${body}` : ` + ${body}`;
  }
  return out;
}

export function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

function split(m: string): string[] {
  return m === '' ? [] : m.split('*');
}

function prune(m: Map<string, number>): Poly {
  for (const [k, v] of m) if (Math.abs(v) <= EPS) m.delete(k);
  return m;
}
