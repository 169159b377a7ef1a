// mergekit configurations out: a checked recipe whose one saved value mergekit can compute
// (a weighted sum of models, base + lambda*ties(m_i - base, ...), slerp, nuslerp, model_stock,
// karcher and multislerp of loaded models)
// becomes a mergekit YAML configuration; every statement it cannot express is reported
// with its line and column. See docs/mergekit.md.
import { isVarying } from '../language/tensor-numbers.ts';
import { toMergekit } from './settings.ts';
import { relative, sep } from 'node:path';
import { stringify } from 'yaml';
import { asConstant } from '../language/poly.ts';
import type { LoadNode, Range, TypedProgram, WeightNode } from '../language/program.ts';

export interface ExportReport {
  /** One-based. */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export interface ExportResult {
  /** The YAML text, or null when the saved value has no mergekit equivalent. */
  readonly yaml: string | null;
  readonly reports: readonly ExportReport[];
}

const DTYPES: Readonly<Record<string, string>> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

export function exportMergekit(program: TypedProgram, options: { readonly configDir: string }): ExportResult {
  const reports: ExportReport[] = [];
  const at = (range: Range, message: string) => reports.push({ line: range.start.line + 1, column: range.start.character + 1, message });
  for (const evaluation of program.evaluations) at(evaluation.range, 'evaluate(...) has no mergekit equivalent: the configuration only merges');
  const [save, ...extra] = program.saves;
  for (const other of extra) at(other.range, 'a mergekit configuration writes one model: only the first save(...) is exported');
  if (save === undefined) {
    reports.push({ line: 1, column: 1, message: 'the recipe saves nothing: there is no merge to export' });
    return { yaml: null, reports };
  }
  const path = (load: LoadNode) => {
    const rel = relative(options.configDir, load.path);
    return sep === '/' ? rel : rel.split(sep).join('/');
  };
  /** A value as sum coef x term, nested combinations flattened and repeated loads merged (as the engine lowers them); null where a coefficient is a sweep. */
  const flatten = (node: WeightNode): { loads: Map<string, { load: LoadNode; coef: number }>; others: { node: WeightNode; coef: number }[] } | null => {
    const loads = new Map<string, { load: LoadNode; coef: number }>();
    const others: { node: WeightNode; coef: number }[] = [];
    let swept = false;
    const walk = (n: WeightNode, k: number) => {
      if (n.op === 'load') {
        const known = loads.get(n.path);
        loads.set(n.path, { load: n, coef: (known?.coef ?? 0) + k });
      } else if (n.op === 'combine') {
        for (const term of n.terms) {
          const c = asConstant(term.coef);
          if (c === undefined) swept = true;
          else walk(term.node, k * c);
        }
      } else others.push({ node: n, coef: k });
    };
    walk(node, 1);
    if (swept) {
      at(node.range, 'a sweep coefficient has no mergekit equivalent: mergekit takes numbers');
      return null;
    }
    for (const [key, entry] of loads) if (entry.coef === 0) loads.delete(key);
    return { loads, others };
  };
  /** `m - base` as the loaded model m, or null. */
  const deltaOf = (node: WeightNode, base: LoadNode): LoadNode | null => {
    const flat = flatten(node);
    if (flat === null || flat.others.length > 0 || flat.loads.size !== 2) return null;
    const minus = flat.loads.get(base.path);
    const plus = [...flat.loads.values()].find((entry) => entry.load.path !== base.path);
    return minus?.coef === -1 && plus?.coef === 1 ? plus.load : null;
  };

  const node = save.node;
  let config: Record<string, unknown> | null = null;
  const flat = flatten(node);
  if (flat !== null && flat.others.length === 0) {
    // A weighted sum of models: mergekit's linear without normalisation computes exactly it.
    const terms = [...flat.loads.values()];
    config = {
      merge_method: 'linear',
      models: terms.map((t) => ({ model: path(t.load), parameters: { weight: t.coef } })),
      parameters: { normalize: false },
    };
  } else if (flat !== null && flat.others.length === 1 && flat.others[0]!.node.op === 'ties' && flat.loads.size === 1 && [...flat.loads.values()][0]!.coef === 1) {
    const base = [...flat.loads.values()][0]!.load;
    const ties = flat.others[0]!.node;
    const models = ties.inputs.map((input) => deltaOf(input, base));
    if (models.every((m) => m !== null)) {
      const weights = ties.weights ?? ties.inputs.map(() => 1);
      config = {
        merge_method: 'ties',
        base_model: path(base),
        models: models.map((m, i) => ({ model: path(m!), parameters: { weight: weights[i]!, density: toMergekit(ties.density) } })),
        parameters: { normalize: ties.normalize !== false, lambda: flat.others[0]!.coef },
      };
      const differences = [
        ...(ties.zeroSum === undefined ? ['where the trimmed values sum to exactly 0 mergekit elects + (this ties() gives 0: write zero_sum="plus")'] : []),
        ...(ties.rounding === undefined ? ['where density x n falls just below a whole number in float64 mergekit keeps one element fewer (write rounding="float")'] : []),
        'where magnitudes tie at the trim threshold mergekit keeps exactly k by its unstable sort order (tvr keeps every tied element)',
      ];
      at(ties.range, `ties: ${differences.join('; ')}`);
    }
  } else if (node.op === 'model_stock' && node.base.op === 'load' && node.models.every((m) => m.op === 'load')) {
    config = { merge_method: 'model_stock', base_model: path(node.base), models: (node.models as LoadNode[]).map((m) => ({ model: path(m) })) };
  } else if (node.op === 'karcher' && node.inputs.every((m) => m.op === 'load')) {
    config = { merge_method: 'karcher', models: (node.inputs as LoadNode[]).map((m) => ({ model: path(m) })), parameters: { max_iter: node.maxIter, tol: node.tol } };
  } else if (node.op === 'multislerp' && node.inputs.every((m) => m.op === 'load')) {
    config = { merge_method: 'multislerp', models: (node.inputs as LoadNode[]).map((m, i) => ({ model: path(m), parameters: { weight: node.weights[i]! } })), parameters: { eps: node.eps } };
  } else if (node.op === 'nuslerp' && node.a.op === 'load' && node.b.op === 'load') {
    const t = asConstant(node.t);
    if (t === undefined) at(node.range, 'a sweep coefficient has no mergekit equivalent: mergekit takes numbers');
    else config = { merge_method: 'nuslerp', models: [{ model: path(node.a), parameters: { weight: 1 - t } }, { model: path(node.b), parameters: { weight: t } }] };
  } else if (node.op === 'slerp' && node.a.op === 'load' && node.b.op === 'load') {
    const t = isVarying(node.t) ? toMergekit(node.t) : asConstant(node.t);
    if (t === undefined) at(node.range, 'a sweep coefficient has no mergekit equivalent: mergekit takes numbers');
    else {
      config = { merge_method: 'slerp', base_model: path(node.a), models: [{ model: path(node.a) }, { model: path(node.b) }], parameters: { t } };
      if (node.zero !== 'angle') at(node.range, 'slerp: where either tensor is zero mergekit takes a 90 degree angle (sin(t pi/2) times the other tensor); this slerp() interpolates linearly there (write zero="angle")');
    }
  }
  if (config === null) {
    if (!reports.some((r) => r.line === node.range.start.line + 1 && r.column === node.range.start.character + 1)) {
      at(node.range, 'the saved value has no mergekit equivalent (exported: a weighted sum of loaded models, base + lambda*ties(m1 - base, ...), slerp, nuslerp, model_stock, karcher and multislerp of loaded models)');
    }
    return { yaml: null, reports };
  }
  config.dtype = 'float32';
  // Without dtype=, tvr saves each tensor in its anchor's dtype; mergekit saves in out_dtype (default dtype).
  const dtypes = new Set(save.dtype !== undefined ? [save.dtype] : [...(node.table?.values() ?? [])].map((spec) => spec.dtype as string));
  const only = dtypes.size === 1 ? DTYPES[[...dtypes][0]!] : undefined;
  if (only === undefined) at(save.range, `the saved tensors keep ${dtypes.size === 0 ? 'unknown dtypes' : `the dtypes ${[...dtypes].join(', ')}`}; mergekit writes one out_dtype (float32, bfloat16 or float16): give save(..., dtype=) to export it`);
  else if (only !== 'float32') config.out_dtype = only;
  return { yaml: stringify(config), reports: reports.sort((a, b) => a.line - b.line || a.column - b.column) };
}
