// mergekit configurations in: a mergekit YAML configuration becomes a .tvr recipe that
// computes the same numbers, or every key that cannot be carried over exactly is reported
// with its line and column (never dropped silently). See docs/mergekit.md.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { isVarying, numbersOf, type TensorNumber, type TensorRule } from '../language/tensor-numbers.ts';
import { mapSetting, tvrText } from './settings.ts';

export interface ImportReport {
  readonly line: number;
  readonly column: number;
  /** The key (dotted path) that has no exact equivalent. */
  readonly key: string;
  readonly message: string;
}

export interface ImportResult {
  /** The recipe text, or null when there is nothing to write (no merge method tvr has, malformed YAML). */
  readonly recipe: string | null;
  readonly reports: readonly ImportReport[];
  /** True when the YAML could not be read at all (exit 2 rather than 1). */
  readonly malformed: boolean;
}

export interface ImportOptions {
  /** Folder of the configuration: relative model paths are resolved from it. */
  readonly configDir: string;
  /** Folder the recipe will be written to: load paths are written relative to it. */
  readonly recipeDir: string;
  /** Shown in the recipe's first comment. */
  readonly configName: string;
}

const METHODS = ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'della', 'della_linear', 'sce', 'slerp', 'model_stock', 'karcher', 'multislerp', 'nuslerp'] as const;
/** Methods that take no base model (multislerp and nuslerp use one where given, as the origin of their task vectors). */
const NO_BASE: readonly MethodName[] = ['linear', 'karcher'];
type MethodName = (typeof METHODS)[number];

/** The per-model parameters each method reads. */
const PER_MODEL: Readonly<Record<string, readonly MethodName[]>> = {
  weight: ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'della', 'della_linear', 'multislerp', 'nuslerp'],
  density: ['ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'della', 'della_linear'],
  epsilon: ['della', 'della_linear'],
  gamma: ['breadcrumbs', 'breadcrumbs_ties'],
  t: ['slerp'],
};

const DTYPES: Readonly<Record<string, string>> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

interface ModelEntry {
  readonly path: string;
  readonly node: Node | null;
  readonly params: Map<string, { value: TensorNumber; node: Node }>;
}

/** A parameter's setting: a number, true/false, or per tensor (a gradient or a filter list). */
type Setting = { value: TensorNumber | boolean; node: Node };

/** Converts a mergekit configuration (YAML text) to a recipe, with a report per key that has no exact equivalent. */
export function importMergekit(text: string, options: ImportOptions): ImportResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const reports: ImportReport[] = [];
  const at = (node: unknown, key: string, message: string) => {
    const range = node !== null && typeof node === 'object' && 'range' in node ? (node as { range?: readonly number[] | null }).range : undefined;
    const offset = range?.[0] ?? 0;
    const pos = lines.linePos(offset);
    reports.push({ line: pos.line, column: pos.col, key, message });
  };
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const pos = lines.linePos(error.pos[0]);
      reports.push({ line: pos.line, column: pos.col, key: '', message: `not valid YAML: ${error.message.split('\n')[0]}` });
    }
    return { recipe: null, reports, malformed: true };
  }
  const root = doc.contents;
  if (!isMap(root)) {
    at(root, '', 'a mergekit configuration is a mapping (merge_method:, models:, ...)');
    return { recipe: null, reports, malformed: true };
  }

  const top = new Map<string, Pair<unknown, unknown>>();
  for (const pair of root.items) top.set(String(isScalar(pair.key) ? pair.key.value : pair.key), pair as Pair<unknown, unknown>);
  const valueNode = (key: string): Node | null => (top.get(key)?.value as Node | undefined) ?? null;
  const keyNode = (key: string) => top.get(key)?.key as Node | undefined;
  const str = (node: Node | null): string | null => (isScalar(node) && typeof node.value === 'string' ? node.value : null);

  // Keys tvr has no equivalent for, whatever the method.
  for (const [key, pair] of top) {
    if (['merge_method', 'base_model', 'models', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source'].includes(key)) continue;
    const why = key === 'slices' ? 'slices (layer ranges stacked from several models) have no tvr equivalent: a recipe merges whole models, tensor by tensor'
      : key === 'tokenizer' ? 'tvr copies the base model\'s tokenizer files and does not build tokenizers'
      : key === 'chat_template' ? 'tvr copies the base model\'s tokenizer files unchanged and sets no chat template'
      : key === 'modules' ? 'per-module configurations have no tvr equivalent'
      : 'no tvr equivalent';
    at(pair.key as Node, key, why);
  }

  const methodNode = valueNode('merge_method');
  const method = str(methodNode);
  if (method === null) {
    at(methodNode ?? root, 'merge_method', 'merge_method is missing or not a string');
    return { recipe: null, reports, malformed: false };
  }
  if (!(METHODS as readonly string[]).includes(method)) {
    at(methodNode, 'merge_method', `merge_method "${method}" has no tvr equivalent (imported: ${METHODS.join(', ')})`);
    return { recipe: null, reports, malformed: false };
  }
  const m = method as MethodName;

  /** A gradient: a list of numbers (or one number), or null after reporting why not. */
  const gradientOf = (v: Node | null, where: string): number[] | null => {
    if (isScalar(v) && typeof v.value === 'number') return [v.value];
    if (isSeq(v) && v.items.length > 0 && v.items.every((item) => isScalar(item) && typeof item.value === 'number')) return v.items.map((item) => (item as { value: number }).value);
    at(v, where, 'expected a number or a list of numbers (a gradient)');
    return null;
  };
  /** A filter list as per-tensor rules in order; entries after an unfiltered one never apply (in mergekit either) and are left out. */
  const filterListOf = (v: Node & { items: unknown[] }, where: string): TensorNumber | null => {
    const rules: TensorRule[] = [];
    for (const [i, item] of v.items.entries()) {
      const entry = item as YAMLMap;
      const filterNode = entry.get('filter', true) as Node | undefined;
      const filter = filterNode === undefined || filterNode === null ? null : str(filterNode);
      if (filterNode !== undefined && filterNode !== null && filter === null) { at(filterNode, `${where}[${i}].filter`, 'expected a string'); return null; }
      for (const pair of entry.items) {
        const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
        if (key !== 'filter' && key !== 'value') { at(pair.key as Node, `${where}[${i}].${key}`, 'a filter entry has only filter and value'); return null; }
      }
      const values = gradientOf((entry.get('value', true) as Node | undefined) ?? entry, `${where}[${i}].value`);
      if (values === null) return null;
      const unfiltered = filter === null || filter === '*';
      rules.push({ filter: unfiltered ? null : filter, values });
      if (unfiltered) break;
    }
    return { rules };
  };

  // A parameters: mapping: numbers, true/false, gradients and filter lists.
  const readParams = (map: Node | null, where: string): Map<string, Setting> => {
    const out = new Map<string, Setting>();
    if (map === null) return out;
    if (!isMap(map)) {
      at(map, where, 'parameters must be a mapping');
      return out;
    }
    for (const pair of (map as YAMLMap).items) {
      const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const v = pair.value as Node | null;
      if (isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean')) out.set(name, { value: v.value, node: pair.key as Node });
      else if (isSeq(v) && v.items.length > 0 && v.items.every((item) => isMap(item))) {
        const setting = filterListOf(v, `${where}.${name}`);
        if (setting !== null) out.set(name, { value: setting, node: pair.key as Node });
      } else if (isSeq(v)) {
        const values = gradientOf(v, `${where}.${name}`);
        if (values !== null) out.set(name, { value: { rules: [{ filter: null, values }] }, node: pair.key as Node });
      } else at(pair.key as Node, `${where}.${name}`, 'expected a number, true/false, a gradient or a filter list');
    }
    return out;
  };

  const global = readParams(valueNode('parameters'), 'parameters');
  const baseNode = valueNode('base_model');
  const basePath = baseNode === null ? null : str(baseNode) ?? (isMap(baseNode) ? str(baseNode.get('model', true) as Node) : null);
  if (baseNode !== null && basePath === null) at(baseNode, 'base_model', 'expected a model path');

  const models: ModelEntry[] = [];
  const modelsNode = valueNode('models');
  if (isSeq(modelsNode)) {
    modelsNode.items.forEach((item, i) => {
      const where = `models[${i}]`;
      const node = item as Node;
      let path: string | null = null;
      let params = new Map<string, Setting>();
      if (isScalar(node) && typeof node.value === 'string') path = node.value;
      else if (isMap(node)) {
        for (const pair of node.items) {
          const k = String(isScalar(pair.key) ? pair.key.value : pair.key);
          if (k === 'model') path = str(pair.value as Node);
          else if (k === 'parameters') params = readParams(pair.value as Node, `${where}.parameters`);
          else at(pair.key as Node, `${where}.${k}`, 'no tvr equivalent');
        }
      }
      if (path === null) return at(node, where, 'expected `model: <path>`');
      if (path.includes('+')) return at(node, `${where}.model`, '`model+lora` (a LoRA applied on load) is not imported: write `load(model) + lora(adapter)` by hand after checking the adapter\'s scale');
      const numeric = new Map<string, { value: TensorNumber; node: Node }>();
      for (const [k, v] of params) {
        if (typeof v.value !== 'boolean') numeric.set(k, { value: v.value, node: v.node });
        else at(v.node, `${where}.parameters.${k}`, 'expected a number');
      }
      models.push({ path, node, params: numeric });
    });
  } else if (modelsNode !== null) at(modelsNode, 'models', 'expected a list of models');

  // Global numeric and boolean parameters, with mergekit's defaults per method.
  const globalNum = (name: string, fallback: number): number => {
    const p = global.get(name);
    if (p !== undefined && typeof p.value === 'object') at(p.node, `parameters.${name}`, `${name} is one number in tvr: a gradient or filter list has no equivalent`);
    return p !== undefined && typeof p.value === 'number' ? p.value : fallback;
  };
  // int8_mask only changes how mergekit stores its masks, not the numbers.
  const used = new Set<string>(['int8_mask']);
  const flag = (name: string, fallback: boolean): boolean => {
    used.add(name);
    const p = global.get(name);
    if (p === undefined) return fallback;
    if (typeof p.value !== 'boolean') { at(p.node, `parameters.${name}`, 'expected true or false'); return fallback; }
    return p.value;
  };
  // A per-model parameter falls back to the global one, then to mergekit's default.
  // A filter list no filter of which matches a tensor leaves mergekit's default there: tvr's by_tensor is given it.
  const perModel = (entry: ModelEntry, name: string, fallback: number | null): TensorNumber | null => {
    used.add(name);
    const shared = global.get(name)?.value;
    const setting = entry.params.get(name)?.value ?? (shared !== undefined && typeof shared !== 'boolean' ? shared : fallback);
    return fallback !== null && isVarying(setting) && setting.rules.at(-1)?.filter !== null ? { rules: [...setting.rules, { filter: null, values: [fallback] }] } : setting;
  };

  const loads: string[] = [];
  const names = new Map<string, string>();
  let counter = 0;
  const loadOf = (path: string): string => {
    const known = names.get(path);
    if (known !== undefined) return known;
    const name = path === basePath && !NO_BASE.includes(m) ? 'base' : `model_${++counter}`;
    names.set(path, name);
    loads.push(`${name} = load(${JSON.stringify(recipePath(path, options))})`);
    return name;
  };
  if (basePath !== null && !NO_BASE.includes(m)) loadOf(basePath);
  const others = models.filter((entry) => entry.path !== basePath || NO_BASE.includes(m));
  const methodKey = keyNode('merge_method') ?? methodNode;
  const differs = (message: string) => at(methodKey, 'merge_method', message);

  let merged: string | null = null;
  const lambda = (): number => { used.add('lambda'); return globalNum('lambda', 1); };
  const scaled = (coef: number, expr: string) => (coef === 1 ? expr : `${num(coef)}*${expr}`);
  const needBase = (): boolean => {
    if (basePath !== null) return true;
    at(methodKey, 'base_model', `${m} needs a base_model`);
    return false;
  };
  const weights = (): number[] | null => {
    const ws = others.map((entry) => perModel(entry, 'weight', null));
    if (ws.some((w) => w === null)) {
      at(modelsNode, 'models', 'every model needs a `weight` parameter (mergekit requires one)');
      return null;
    }
    const varying = others.findIndex((_, i) => isVarying(ws[i]));
    if (varying >= 0) {
      at(others[varying]!.params.get('weight')?.node ?? global.get('weight')?.node ?? modelsNode, `models[${varying}].parameters.weight`, 'a weight that varies by tensor has no tvr equivalent: a coefficient of + is one number (make the method\'s own arguments vary instead)');
      return null;
    }
    return ws as number[];
  };
  const sameFor = (name: string, fallback: number): TensorNumber | null => {
    const values = others.map((entry) => perModel(entry, name, fallback)!);
    if (values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]))) return values[0] ?? fallback;
    at(modelsNode, `models[].parameters.${name}`, `${name} differs between models (${values.map((v) => tvrText(v, num)).join(', ')}); tvr's ${m === 'ties' || m === 'dare_ties' ? 'ties' : 'breadcrumbs_ties'}() takes one ${name} for all vectors`);
    return null;
  };
  const written = (v: TensorNumber): string => tvrText(v, num);
  const below1 = (v: TensorNumber): boolean => numbersOf(v).some((x) => x < 1);
  const dropOf = (density: TensorNumber): string => written(mapSetting(density, (x) => 1 - x));

  switch (m) {
    case 'linear': {
      if (basePath !== null && !models.some((entry) => entry.path === basePath)) at(keyNode('base_model'), 'base_model', 'linear does not use a base model that is not among `models`; it is left out');
      const ws = weights();
      const normalize = flag('normalize', true);
      if (ws !== null && others.length > 0) {
        const total = ws.reduce((a, b) => a + b, 0);
        const terms = others.map((entry, i) => scaled(ws[i]!, loadOf(entry.path))).join(' + ');
        if (normalize && total === 0) at(modelsNode, 'models', 'the weights sum to 0: mergekit leaves them unnormalised, write the combination by hand');
        merged = normalize && total !== 1 && total !== 0 ? `(${terms}) / ${num(total)}` : terms;
      }
      break;
    }
    case 'task_arithmetic':
    case 'breadcrumbs':
    case 'dare_linear': {
      if (!needBase()) break;
      const ws = weights();
      const normalize = flag('normalize', false);
      const dareRescale = m === 'dare_linear' && flag('rescale', true) ? 'l1' : 'none';
      const lam = lambda();
      if (ws === null) break;
      const terms = others.map((entry, i) => {
        const d = `${loadOf(entry.path)} - base`;
        const density = m === 'task_arithmetic' ? 1 : perModel(entry, 'density', 1)!;
        const gamma = m === 'breadcrumbs' ? perModel(entry, 'gamma', 0.01)! : 0;
        const sparse = m === 'breadcrumbs' ? `breadcrumbs(${d}, density=${written(density)}, gamma=${written(gamma)})`
          : m === 'dare_linear' && below1(density) ? `dare(${d}, p=${dropOf(density)}, seed=${i}, rescale="${dareRescale}")`
          : `(${d})`;
        return scaled(ws[i]!, sparse);
      }).join(' + ');
      const total = ws.reduce((a, b) => a + b, 0);
      const sum = normalize && total !== 1 && Math.abs(total) >= 1e-8 ? `(${terms}) / ${num(total)}` : `(${terms})`;
      merged = `base + ${scaled(lam, sum)}`;
      if (m === 'breadcrumbs') differs('breadcrumbs: where magnitudes tie at a threshold mergekit keeps exactly k by its sort order (tvr keeps every tied element), and where floor(gamma n) = 0 mergekit zeroes the whole tensor (tvr drops no outliers)');
      if (m === 'dare_linear' && others.some((entry) => below1(perModel(entry, 'density', 1)!))) differs('dare_linear: mergekit draws masks with torch.bernoulli; tvr\'s dare draws from its own seeded generator (the same on every machine): the same distribution, never the same numbers');
      break;
    }
    case 'ties':
    case 'dare_ties':
    case 'breadcrumbs_ties': {
      if (!needBase()) break;
      const ws = weights();
      const normalize = flag('normalize', m === 'ties');
      const tiesRescale = m === 'dare_ties' && !flag('rescale', true) ? 'none' : 'l1';
      const lam = lambda();
      const density = sameFor('density', 1);
      const gamma = m === 'breadcrumbs_ties' ? sameFor('gamma', 0.01) : 0;
      const equal = ws !== null && ws.every((w) => w === ws[0]);
      if (ws !== null && ws.some((w) => !(w > 0))) {
        at(modelsNode, 'models[].parameters.weight', `weights ${ws.join(', ')}: ${equal && ws[0] === 0 ? 'every weight is 0, so mergekit gives the base model unchanged' : 'tvr takes weights > 0 (a zero or negative weight turns the sign election around)'}; the import does not write that merge`);
        break;
      }
      if (ws === null || density === null || gamma === null) break;
      const inputs = others.map((entry, i) => (m === 'dare_ties' && below1(density) ? `dare(${loadOf(entry.path)} - base, p=${dropOf(density)}, seed=${i}, rescale="${tiesRescale}")` : `${loadOf(entry.path)} - base`));
      // mergekit's consensus: weighted deltas, + where they sum to 0, the agreeing ones' weighted mean (or sum without normalize).
      const consensus = [
        ...(ws.every((w) => w === 1) ? [] : [`weights=[${ws.map(num).join(', ')}]`]),
        'zero_sum="plus"',
        ...(normalize ? [] : ['normalize=false']),
      ];
      merged = m === 'breadcrumbs_ties'
        ? `base + ${scaled(lam, `breadcrumbs_ties(${[...inputs, `density=${written(density)}`, `gamma=${written(gamma)}`, ...consensus].join(', ')})`)}`
        : m === 'dare_ties'
          ? `base + ${scaled(lam, `ties(${[...inputs, 'density=1', ...consensus].join(', ')})`)}`
          : `base + ${scaled(lam, `ties(${[...inputs, `density=${written(density)}`, ...(below1(density) ? ['rounding="float"'] : []), ...consensus].join(', ')})`)}`;
      if (m === 'ties' && below1(density)) differs('ties: where magnitudes tie at the trim threshold mergekit keeps exactly k of them in the order of its unstable sort (torch.argsort), which cannot be reproduced; tvr keeps every tied element. Elsewhere the numbers are the same');
      if (m === 'breadcrumbs_ties') differs('breadcrumbs_ties: where magnitudes tie at a threshold mergekit keeps exactly k by its sort order, and where floor(gamma n) = 0 (a tensor of fewer than 1/gamma elements) it zeroes the whole tensor');
      if (m === 'dare_ties' && below1(density)) differs('dare_ties: mergekit draws masks with torch.bernoulli; tvr\'s dare draws from its own seeded generator (the same on every machine): the same distribution, never the same numbers');
      break;
    }
    case 'della':
    case 'della_linear': {
      if (!needBase()) break;
      const ws = weights();
      const normalize = flag('normalize', m === 'della');
      const rescale = flag('rescale', true);
      const lam = lambda();
      if (ws === null) break;
      if (ws.some((w) => !(w > 0))) { at(modelsNode, 'models[].parameters.weight', `weights ${ws.join(', ')}: tvr takes weights > 0; the import does not write that merge`); break; }
      // Each model pruned with its own density and epsilon and seed i (della's seed + i), as mergekit prunes each delta.
      const pruned = others.map((entry, i) => {
        const density = perModel(entry, 'density', 1)!;
        const epsilon = perModel(entry, 'epsilon', 0.15)!;
        return { density, epsilon, text: `della_prune(${loadOf(entry.path)} - base, density=${written(density)}, epsilon=${written(epsilon)}${rescale ? '' : ', rescale=false'}, seed=${i})` };
      });
      const varying = pruned.find((p) => isVarying(p.epsilon));
      if (varying) { at(modelsNode, 'models[].parameters.epsilon', 'an epsilon that varies by tensor has no tvr equivalent: della_prune takes one epsilon'); break; }
      const total = ws.reduce((a, b) => a + b, 0);
      if (m === 'della') {
        const consensus = [...(ws.every((w) => w === 1) ? [] : [`weights=[${ws.map(num).join(', ')}]`]), 'zero_sum="plus"', ...(normalize ? [] : ['normalize=false'])];
        merged = `base + ${scaled(lam, `ties(${[...pruned.map((p) => p.text), 'density=1', ...consensus].join(', ')})`)}`;
      } else {
        const terms = pruned.map((p, i) => scaled(ws[i]!, p.text)).join(' + ');
        merged = `base + ${scaled(lam, normalize && total !== 1 && Math.abs(total) >= 1e-8 ? `(${terms}) / ${num(total)}` : `(${terms})`)}`;
      }
      if (pruned.some((p) => below1(p.density))) differs(`${m}: mergekit draws each element's mask with torch.bernoulli at its rank's keep probability; tvr's della_prune draws from its own seeded generator: the same distribution, never the same numbers`);
      break;
    }
    case 'sce': {
      if (!needBase()) break;
      const topk = globalNum('select_topk', 1);
      used.add('select_topk');
      merged = `base + sce(${others.map((entry) => `${loadOf(entry.path)} - base`).join(', ')}${topk !== 1 ? `, select_topk=${num(topk)}` : ''})`;
      if (topk < 1) differs('sce: mergekit keeps exactly int(select_topk m) elements by variance, m the elements of non-zero variance, in the order of its sort where variances tie; tvr keeps floor(select_topk n) of all n and every tied element (the same where no variance is 0 and none tie)');
      break;
    }
    case 'slerp': {
      if (!needBase()) break;
      if (others.length !== 1) { at(modelsNode, 'models', `slerp merges exactly two models, the base and one other (got ${others.length} besides the base)`); break; }
      used.add('t');
      const t = global.get('t') ?? others[0]!.params.get('t');
      if (t === undefined || typeof t.value === 'boolean') {
        if (t !== undefined) at(t.node, 'parameters.t', 'expected a number, a gradient or a filter list');
        else if (!reports.some((r) => r.key.endsWith('.t'))) at(methodKey, 'parameters.t', 'slerp needs a parameter t');
        break;
      }
      merged = `slerp(base, ${loadOf(others[0]!.path)}, t=${written(t.value)}, zero="angle")`;
      break;
    }
    case 'model_stock': {
      if (!needBase()) break;
      if (flag('filter_wise', false)) at(global.get('filter_wise')!.node, 'parameters.filter_wise', 'filter_wise: true (one angle per row) is not offered: tvr\'s model_stock takes one angle per tensor');
      if (others.length < 2) { at(modelsNode, 'models', `model_stock needs at least two models besides the base (got ${others.length})`); break; }
      merged = `model_stock(base, ${others.map((entry) => loadOf(entry.path)).join(', ')})`;
      break;
    }
    case 'karcher': {
      // mergekit adds a base_model missing from `models` to the inputs, last: it is averaged too.
      const inputs = [...others.map((entry) => entry.path), ...(basePath !== null && !models.some((entry) => entry.path === basePath) ? [basePath] : [])];
      if (inputs.length === 0) break;
      const maxIter = globalNum('max_iter', 10);
      const tol = globalNum('tol', 1e-5);
      used.add('max_iter');
      used.add('tol');
      merged = `karcher(${inputs.map(loadOf).join(', ')}${maxIter !== 10 ? `, max_iter=${num(maxIter)}` : ''}${tol !== 1e-5 ? `, tol=${num(tol)}` : ''})`;
      break;
    }
    case 'multislerp':
    case 'nuslerp': {
      const ws = weights();
      if (ws === null) break;
      const inputs = others.map((entry) => (basePath !== null ? `${loadOf(entry.path)} - base` : loadOf(entry.path)));
      const about = (expr: string) => (basePath !== null ? `base + ${expr}` : expr);
      if (m === 'multislerp') {
        if (!flag('normalize_weights', true)) at(global.get('normalize_weights')!.node, 'parameters.normalize_weights', 'normalize_weights: false is not offered: tvr\'s multislerp normalises the weights to sum 1');
        const eps = globalNum('eps', 1e-8);
        used.add('eps');
        merged = about(`multislerp(${inputs.join(', ')}, weights=[${ws.map(num).join(', ')}]${eps !== 1e-8 ? `, eps=${num(eps)}` : ''})`);
        break;
      }
      if (flag('nuslerp_row_wise', false)) at(global.get('nuslerp_row_wise')!.node, 'parameters.nuslerp_row_wise', 'nuslerp_row_wise: true (one angle per column) is not offered: tvr\'s nuslerp flattens each tensor');
      else if (!flag('nuslerp_flatten', true)) at(global.get('nuslerp_flatten')!.node, 'parameters.nuslerp_flatten', 'nuslerp_flatten: false (one angle per row) is not offered: tvr\'s nuslerp flattens each tensor');
      if (others.length !== 2) { at(modelsNode, 'models', `nuslerp merges exactly two models besides an optional base (got ${others.length})`); break; }
      const total = ws[0]! + ws[1]!;
      const t = Math.abs(total) < 1e-6 ? 0.5 : ws[1]! / total;
      merged = about(`nuslerp(${inputs.join(', ')}, t=${num(t)})`);
      break;
    }
  }

  // Parameters the method does not read.
  for (const [name, p] of global) if (!used.has(name) && !(m === 'slerp' && name === 't')) at(p.node, `parameters.${name}`, `not a parameter tvr imports for ${m}`);
  models.forEach((entry, i) => {
    for (const [name, p] of entry.params) {
      const known = PER_MODEL[name]?.includes(m) ?? false;
      if (!known) at(p.node, `models[${i}].parameters.${name}`, `not a parameter tvr imports for ${m}`);
    }
  });

  // dtype is the dtype mergekit computes in; out_dtype (default dtype) the dtype it saves.
  const dtypeNode = valueNode('dtype');
  const dtype = str(dtypeNode);
  if (dtypeNode !== null && (dtype === null || DTYPES[dtype] === undefined)) at(dtypeNode, 'dtype', `unknown dtype${dtype ? ` "${dtype}"` : ''} (float32, bfloat16, float16)`);
  else if (dtype !== null && dtype !== 'float32') at(keyNode('dtype'), 'dtype', `mergekit computes in ${dtype}; tvr computes in float32 and rounds once when saving, so the numbers differ by ${dtype} rounding`);
  const outNode = valueNode('out_dtype');
  const outDtype = str(outNode);
  if (outNode !== null && (outDtype === null || DTYPES[outDtype] === undefined)) at(outNode, 'out_dtype', `unknown out_dtype${outDtype ? ` "${outDtype}"` : ''} (float32, bfloat16, float16)`);
  const saveDtype = DTYPES[outDtype ?? dtype ?? ''];

  const tokNode = valueNode('tokenizer_source');
  if (tokNode !== null) {
    const tok = str(tokNode);
    // The saved model takes its configuration and tokenizer files from its anchor: the base, or linear's first model.
    const anchor = NO_BASE.includes(m) || basePath === null ? others[0]?.path : basePath;
    if (!((tok === 'base' && basePath !== null && basePath === anchor) || (tok !== null && tok === anchor))) at(keyNode('tokenizer_source'), 'tokenizer_source', `tvr copies the tokenizer files of the base model (the first model for linear); "${tok ?? '?'}" is not imported`);
  }

  if (merged === null) return { recipe: null, reports: sortReports(reports), malformed: false };
  const allFiles = [...names.keys()].every((path) => path.endsWith('.safetensors'));
  const out = allFiles ? 'merged.safetensors' : 'merged';
  const sorted = sortReports(reports);
  const body = [
    `# Imported from ${options.configName} (mergekit, merge_method: ${m}) by \`tvr import mergekit\`.`,
    ...sorted.map((r) => `# not imported: ${r.line}:${r.column} ${r.key}: ${r.message}`),
    '',
    ...loads,
    '',
    `merged = ${merged}`,
    `save(merged, ${JSON.stringify(out)}${saveDtype ? `, dtype=${JSON.stringify(saveDtype)}` : ''})`,
    '',
  ];
  return { recipe: body.join('\n'), reports: sorted, malformed: false };
}

function sortReports(reports: readonly ImportReport[]): ImportReport[] {
  return [...reports].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** A number as the recipe writes it: the shortest decimal that reads back as the same float64. */
function num(value: number): string {
  return String(value);
}

/** A model path of the configuration (relative to its folder) as the recipe loads it (relative to the recipe's folder). */
function recipePath(path: string, options: ImportOptions): string {
  if (isAbsolute(path)) return path;
  const rel = relative(options.recipeDir, resolve(options.configDir, path));
  return sep === '/' ? rel : rel.split(sep).join('/');
}

