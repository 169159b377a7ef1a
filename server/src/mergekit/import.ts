// mergekit configurations in: a mergekit YAML configuration becomes a .tvr recipe that
// computes the same numbers, or every key that cannot be carried over exactly is reported
// with its line and column (never dropped silently). See docs/mergekit.md.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';

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

const METHODS = ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'slerp'] as const;
type MethodName = (typeof METHODS)[number];

const DTYPES: Readonly<Record<string, string>> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

interface ModelEntry {
  readonly path: string;
  readonly node: Node | null;
  readonly params: Map<string, { value: number; node: Node }>;
}

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

  // Scalars of a parameters: mapping; gradients and filter lists are reported (no per-layer parameters yet).
  const readParams = (map: Node | null, where: string): Map<string, { value: number | boolean; node: Node }> => {
    const out = new Map<string, { value: number | boolean; node: Node }>();
    if (map === null) return out;
    if (!isMap(map)) {
      at(map, where, 'parameters must be a mapping');
      return out;
    }
    for (const pair of (map as YAMLMap).items) {
      const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const v = pair.value as Node | null;
      if (isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean')) out.set(name, { value: v.value, node: pair.key as Node });
      else if (isSeq(v) && v.items.every((item) => isMap(item))) at(pair.key as Node, `${where}.${name}`, 'a filter list (values per tensor-name pattern) has no tvr equivalent yet: per-tensor parameters do not exist');
      else if (isSeq(v)) at(pair.key as Node, `${where}.${name}`, 'a gradient (values interpolated over layers) has no tvr equivalent yet: per-layer parameters do not exist');
      else at(pair.key as Node, `${where}.${name}`, 'expected a number or true/false');
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
      let params = new Map<string, { value: number | boolean; node: Node }>();
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
      const numeric = new Map<string, { value: number; node: Node }>();
      for (const [k, v] of params) {
        if (typeof v.value === 'number') numeric.set(k, v as { value: number; node: Node });
        else at(v.node, `${where}.parameters.${k}`, 'expected a number');
      }
      models.push({ path, node, params: numeric });
    });
  } else if (modelsNode !== null) at(modelsNode, 'models', 'expected a list of models');

  // Global numeric and boolean parameters, with mergekit's defaults per method.
  const globalNum = (name: string, fallback: number): number => {
    const p = global.get(name);
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
  const perModel = (entry: ModelEntry, name: string, fallback: number | null): number | null => {
    used.add(name);
    return entry.params.get(name)?.value ?? (typeof global.get(name)?.value === 'number' ? (global.get(name)!.value as number) : fallback);
  };

  const loads: string[] = [];
  const names = new Map<string, string>();
  let counter = 0;
  const loadOf = (path: string): string => {
    const known = names.get(path);
    if (known !== undefined) return known;
    const name = path === basePath && m !== 'linear' ? 'base' : `model_${++counter}`;
    names.set(path, name);
    loads.push(`${name} = load(${JSON.stringify(recipePath(path, options))})`);
    return name;
  };
  if (basePath !== null && m !== 'linear') loadOf(basePath);
  const others = models.filter((entry) => entry.path !== basePath || m === 'linear');
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
    return ws as number[];
  };
  const sameFor = (name: string, fallback: number): number | null => {
    const values = others.map((entry) => perModel(entry, name, fallback)!);
    if (values.every((v) => v === values[0])) return values[0] ?? fallback;
    at(modelsNode, `models[].parameters.${name}`, `${name} differs between models (${values.join(', ')}); tvr's ${m === 'ties' || m === 'dare_ties' ? 'ties' : 'breadcrumbs_ties'}() takes one ${name} for all vectors`);
    return null;
  };

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
      if (m === 'dare_linear') flag('rescale', true);
      const lam = lambda();
      if (ws === null) break;
      const terms = others.map((entry, i) => {
        const d = `${loadOf(entry.path)} - base`;
        const density = m === 'task_arithmetic' ? 1 : perModel(entry, 'density', 1)!;
        const gamma = m === 'breadcrumbs' ? perModel(entry, 'gamma', 0.01)! : 0;
        const sparse = m === 'breadcrumbs' ? `breadcrumbs(${d}, density=${num(density)}, gamma=${num(gamma)})`
          : m === 'dare_linear' && density < 1 ? `dare(${d}, p=${num(1 - density)}, seed=${i})`
          : `(${d})`;
        return scaled(ws[i]!, sparse);
      }).join(' + ');
      const total = ws.reduce((a, b) => a + b, 0);
      const sum = normalize && total !== 1 && Math.abs(total) >= 1e-8 ? `(${terms}) / ${num(total)}` : `(${terms})`;
      merged = `base + ${scaled(lam, sum)}`;
      if (m === 'breadcrumbs') differs('breadcrumbs: where magnitudes tie at a threshold mergekit keeps exactly k by its sort order (tvr keeps every tied element), and where floor(gamma n) = 0 mergekit zeroes the whole tensor (tvr drops no outliers)');
      if (m === 'dare_linear' && others.some((entry) => perModel(entry, 'density', 1)! < 1)) differs('dare_linear: mergekit draws masks with torch.bernoulli and, by default, rescales survivors (rescale: true, to the L1 norm in current mergekit); tvr\'s dare uses its own seeded generator and rescales by 1/(1-p): the same distribution, never the same numbers');
      break;
    }
    case 'ties':
    case 'dare_ties':
    case 'breadcrumbs_ties': {
      if (!needBase()) break;
      const ws = weights();
      const normalize = flag('normalize', m === 'ties');
      if (m === 'dare_ties') flag('rescale', true);
      const lam = lambda();
      const density = sameFor('density', 1);
      const gamma = m === 'breadcrumbs_ties' ? sameFor('gamma', 0.01) : 0;
      const equal = ws !== null && ws.every((w) => w === ws[0]);
      if (!normalize) {
        const p = global.get('normalize');
        at(p?.node ?? methodKey, p ? 'parameters.normalize' : 'merge_method', `${m} with normalize: false sums the weighted deltas that agree with the elected sign; tvr's ${m === 'breadcrumbs_ties' ? 'breadcrumbs_ties' : 'ties'}() takes their mean (set normalize: true in the configuration to import it exactly)`);
      }
      if (normalize && equal && ws![0] === 0) at(modelsNode, 'models[].parameters.weight', 'every weight is 0: mergekit gives the base model unchanged; tvr\'s import does not write that merge');
      if (normalize && ws !== null && !equal) at(modelsNode, 'models[].parameters.weight', `unequal weights (${ws.join(', ')}): mergekit divides by the summed weights of the agreeing models per element, which tvr cannot express`);
      if (ws === null || density === null || gamma === null) break;
      const inputs = others.map((entry, i) => (m === 'dare_ties' && density < 1 ? `dare(${loadOf(entry.path)} - base, p=${num(1 - density)}, seed=${i})` : `${loadOf(entry.path)} - base`));
      merged = m === 'breadcrumbs_ties'
        ? `base + ${scaled(lam, `breadcrumbs_ties(${inputs.join(', ')}, density=${num(density)}, gamma=${num(gamma)})`)}`
        : `base + ${scaled(lam, `ties(${inputs.join(', ')}, density=${num(m === 'dare_ties' ? 1 : density)})`)}`;
      if (m === 'ties') differs('ties: where magnitudes tie at the trim threshold mergekit keeps exactly k by its sort order (tvr keeps every tied element), and where the trimmed values sum to exactly 0 mergekit elects + (tvr gives 0); and where density x n falls just below a whole number in float64 (0.29 x 100 = 28.999...) mergekit keeps int() of it, one element fewer than tvr; elsewhere the numbers are the same');
      if (m === 'breadcrumbs_ties') differs('breadcrumbs_ties: where magnitudes tie at a threshold mergekit keeps exactly k by its sort order, where floor(gamma n) = 0 it zeroes the whole tensor, and where the masked values sum to exactly 0 it elects + (tvr gives 0)');
      if (m === 'dare_ties') differs('dare_ties: mergekit draws masks with torch.bernoulli and, by default, rescales survivors (to the L1 norm in current mergekit); tvr\'s dare uses its own seeded generator and rescales by 1/(1-p): the same distribution, never the same numbers; and a zero sign sum elects + in mergekit, 0 in tvr');
      break;
    }
    case 'slerp': {
      if (!needBase()) break;
      if (others.length !== 1) { at(modelsNode, 'models', `slerp merges exactly two models, the base and one other (got ${others.length} besides the base)`); break; }
      used.add('t');
      const t = global.get('t') ?? others[0]!.params.get('t');
      if (t === undefined || typeof t.value !== 'number') {
        if (t === undefined && !reports.some((r) => r.key.endsWith('.t'))) at(methodKey, 'parameters.t', 'slerp needs a parameter t');
        break;
      }
      merged = `slerp(base, ${loadOf(others[0]!.path)}, t=${num(t.value)})`;
      differs('slerp: where either tensor is zero mergekit still takes the angle (90 degrees, giving sin(t pi/2) times the other tensor); tvr interpolates linearly there');
      break;
    }
  }

  // Parameters the method does not read.
  for (const [name, p] of global) if (!used.has(name) && !(m === 'slerp' && name === 't')) at(p.node, `parameters.${name}`, `not a parameter tvr imports for ${m}`);
  models.forEach((entry, i) => {
    for (const [name, p] of entry.params) {
      const known = name === 'weight' ? m !== 'slerp' : name === 'density' ? m !== 'linear' && m !== 'task_arithmetic' && m !== 'slerp' : name === 'gamma' ? m === 'breadcrumbs' || m === 'breadcrumbs_ties' : name === 't' ? m === 'slerp' : false;
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
    const anchor = m === 'linear' ? others[0]?.path : basePath;
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

