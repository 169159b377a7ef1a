// PEFT LoRA adapter folders (adapter_config.json beside adapter_model.safetensors): the
// configuration facts that turn the factors into task-vector tensors, and the modules the
// factors name. Read as data with the strict JSON parser; nothing in the folder runs.
// Facts from PEFT (peft/tuners/lora): a module's ΔW = scaling · B·A with A = lora_A [r, in]
// and B = lora_B [out, r], scaling = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora);
// rank_pattern and alpha_pattern override r and lora_alpha per module, the first key in the
// file's order matching `(.*\.)?(key)$` winning; fan_in_fan_out (GPT-2's Conv1D) and
// embeddings store ΔW transposed. Saved names are `base_model.model.<module>.lora_A.weight`
// (and `.lora_embedding_A` for embeddings).
import { join } from 'node:path';
import { checkpointError } from './errors.ts';
import { readJsonFile } from './hf-config.ts';
import { describeJson, isJsonObject, JsonNumber, type JsonObject, type JsonValue } from './strict-json.ts';
import type { CheckpointHeader, LoraAdapterConfig, TensorEntry } from './types.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** adapter_config.json of real adapters is a few kB. */
const MAX_ADAPTER_CONFIG_BYTES = 1024 * 1024;

/** Reads the adapter_config.json of the adapter folder `dir` (a CheckpointError 'bad-config' names the key at fault). */
export async function readLoraAdapterConfig(dir: string): Promise<LoraAdapterConfig> {
  const path = join(dir, ADAPTER_CONFIG);
  const config = (await readJsonFile(path, ADAPTER_CONFIG, MAX_ADAPTER_CONFIG_BYTES, 'error'))!;
  return { path, files: [config.identity], ...loraConfigFacts(path, config.root) };
}

type Facts = Omit<LoraAdapterConfig, 'path' | 'files'>;

/** The facts of a parsed adapter_config.json, with PEFT's LoraConfig defaults for absent keys (pure: for tests and the reader). */
export function loraConfigFacts(file: string, root: JsonValue): Facts {
  if (!isJsonObject(root)) throw checkpointError('bad-config', file, `${ADAPTER_CONFIG} must be a JSON object, not ${describeJson(root)}`);
  const bad = (key: string, expected: string): never => {
    throw checkpointError('bad-config', file, `${ADAPTER_CONFIG}: "${key}" must be ${expected}, not ${describeJson(root.get(key) ?? undefined)}`);
  };
  const present = (key: string): JsonValue | undefined => {
    const value = root.get(key);
    return value === null ? undefined : value;
  };
  const positiveInteger = (key: string, fallback: number): number => {
    const v = present(key);
    if (v === undefined) return fallback;
    return v instanceof JsonNumber && v.isSafeNonNegativeInteger() && v.value > 0 ? v.value : bad(key, 'a positive integer');
  };
  const number = (key: string, fallback: number): number => {
    const v = present(key);
    if (v === undefined) return fallback;
    return v instanceof JsonNumber && Number.isFinite(v.value) ? v.value : bad(key, 'a number');
  };
  const flag = (key: string): boolean => {
    const v = present(key);
    if (v === undefined) return false;
    return typeof v === 'boolean' ? v : bad(key, 'true or false');
  };
  const pattern = (key: string, read: (v: JsonValue) => number | undefined): [string, number][] => {
    const v = present(key);
    if (v === undefined) return [];
    if (!isJsonObject(v)) return bad(key, 'an object of numbers by module pattern');
    return [...v].map(([name, value]) => [name, read(value) ?? bad(key, `an object of ${key === 'rank_pattern' ? 'positive integers' : 'numbers'} by module pattern`)]);
  };
  const peftType = present('peft_type') ?? 'LORA';
  if (typeof peftType !== 'string') bad('peft_type', 'a string');
  const target = present('target_modules');
  if (target !== undefined && typeof target !== 'string' && !(Array.isArray(target) && target.every((t) => typeof t === 'string'))) {
    bad('target_modules', 'a list of module names or a regular expression');
  }
  const base = present('base_model_name_or_path');
  const refused = refusal(root, peftType as string);
  return {
    r: positiveInteger('r', 8),
    alpha: number('lora_alpha', 8),
    rsLora: flag('use_rslora'),
    fanInFanOut: flag('fan_in_fan_out'),
    ...(target !== undefined ? { targetModules: target as string | string[] } : {}),
    rankPattern: pattern('rank_pattern', (v) => (v instanceof JsonNumber && v.isSafeNonNegativeInteger() && v.value > 0 ? v.value : undefined)),
    alphaPattern: pattern('alpha_pattern', (v) => (v instanceof JsonNumber && Number.isFinite(v.value) ? v.value : undefined)),
    ...(typeof base === 'string' ? { baseModel: base } : {}),
    ...(refused ? { refused } : {}),
  };
}

/** Initialisations that change the base model's weights: the adapter applies to that changed base, not to the published one. */
const BASE_CHANGING_INIT = /^(pissa|olora|loftq|corda)/i;

/** Why tvr does not apply this adapter as W + scale · B·A (a variant it does not compute exactly), if it does not. */
function refusal(root: JsonObject, peftType: string): string | undefined {
  const set = (key: string): boolean => {
    const v = root.get(key);
    return v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0) && !(isJsonObject(v) && v.size === 0);
  };
  if (peftType !== 'LORA') return `peft_type is "${peftType}": tvr applies LoRA adapters (peft_type "LORA") only, whose ΔW is scale · B·A`;
  if (set('use_dora')) return 'it is a DoRA adapter (use_dora: true): DoRA rescales every column of W + ΔW to a learned magnitude, so the model is not W + ΔW; tvr does not compute DoRA';
  const bias = root.get('bias');
  if (typeof bias === 'string' && bias !== 'none') return `bias is "${bias}": the adapter also trains the modules' biases, which tvr does not apply`;
  if (set('lora_bias')) return 'lora_bias is true: lora_B has a bias, which tvr does not apply';
  if (set('modules_to_save')) return 'modules_to_save is set: the adapter replaces those modules whole, which is not a task vector tvr applies';
  if (set('trainable_token_indices')) return 'trainable_token_indices is set: the adapter replaces embedding rows, which tvr does not apply';
  if (set('layer_replication')) return 'layer_replication is set: the adapter adds layers the base model does not have';
  if (set('target_parameters')) return 'target_parameters is set: tvr applies adapters of modules (target_modules) only';
  if (set('alora_invocation_tokens')) return 'it is an activated LoRA (alora_invocation_tokens): its ΔW applies only after the invocation tokens';
  const init = root.get('init_lora_weights');
  if (typeof init === 'string' && BASE_CHANGING_INIT.test(init)) {
    return `init_lora_weights is "${init}": that initialisation changes the base model's weights, so the adapter applies to the changed base; save it with PEFT's path_initial_model_for_weight_conversion to get a plain LoRA of the original base`;
  }
  return undefined;
}

/** One adapted module: where its factors are and what its ΔW is in the base model. */
export interface LoraModule {
  /** The module's name in the base model (`model.layers.0.self_attn.q_proj`). */
  readonly module: string;
  /** The base tensor ΔW adds to (`<module>.weight`). */
  readonly tensor: string;
  /** lora_A [r, in] and lora_B [out, r] (embeddings: lora_embedding_A [r, num], lora_embedding_B [dim, r]). */
  readonly a: TensorEntry;
  readonly b: TensorEntry;
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank, or alpha / sqrt(rank) with rsLoRA. */
  readonly scale: number;
  /** ΔW is stored as (B·A)^T: fan_in_fan_out layers (GPT-2's Conv1D) and embeddings. */
  readonly transposed: boolean;
  /** ΔW's shape as the base model stores the weight. */
  readonly shape: readonly [number, number];
}

const PEFT_PREFIX = 'base_model.model.';
const FACTOR = /^(.+)\.(lora_A|lora_B)\.weight$|^(.+)\.(lora_embedding_A|lora_embedding_B)$/;

/** PEFT's get_pattern_key: the first key (in the file's order) that is the module name or a dot-separated suffix of it, as a regular expression. */
export function patternValue(patterns: readonly (readonly [string, number])[], module: string): number | undefined {
  for (const [key, value] of patterns) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${key})$`, 's');
    } catch {
      continue;
    }
    if (re.test(module)) return value;
  }
  return undefined;
}

/**
 * The adapter's modules in the order of its file, or the first problem with its tensors: a
 * tensor that is not a LoRA factor, a factor without its pair, factors that are not
 * matrices or disagree on the rank, a rank the configuration does not give.
 */
export function loraModules(header: CheckpointHeader, config: LoraAdapterConfig): { readonly modules: readonly LoraModule[] } | { readonly problem: string } {
  const factors = new Map<string, { a?: TensorEntry; b?: TensorEntry; embedding: boolean }>();
  for (const entry of header.tensors.values()) {
    const match = FACTOR.exec(entry.name);
    if (!match) return { problem: `tensor "${entry.name}" is not a LoRA factor (…lora_A.weight, …lora_B.weight): ${variantHint(entry.name)}` };
    const name = (match[1] ?? match[3])!;
    const module = name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name;
    const side = match[2] ?? match[4]!;
    const known = factors.get(module) ?? { embedding: side.startsWith('lora_embedding') };
    if (side.endsWith('A')) known.a = entry;
    else known.b = entry;
    factors.set(module, known);
  }
  const modules: LoraModule[] = [];
  for (const [module, { a, b, embedding }] of factors) {
    if (!a || !b) return { problem: `module ${module} has ${a ? 'lora_A but no lora_B' : 'lora_B but no lora_A'}` };
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      return { problem: `module ${module}: lora_A is [${a.shape.join(', ')}] and lora_B [${b.shape.join(', ')}]; tvr applies factors of linear layers and embeddings (matrices), not of convolutions` };
    }
    const [rank, inputs] = a.shape as [number, number];
    const [outputs, rankB] = b.shape as [number, number];
    if (rank !== rankB) return { problem: `module ${module}: lora_A [${rank}, ${inputs}] has rank ${rank} but lora_B [${outputs}, ${rankB}] has ${rankB}` };
    const configured = patternValue(config.rankPattern, module) ?? config.r;
    if (configured !== rank) return { problem: `module ${module}: ${ADAPTER_CONFIG} gives rank ${configured} (${patternValue(config.rankPattern, module) !== undefined ? 'rank_pattern' : 'r'}) but its factors have rank ${rank}` };
    const alpha = patternValue(config.alphaPattern, module) ?? config.alpha;
    const transposed = embedding || config.fanInFanOut;
    modules.push({
      module,
      tensor: `${module}.weight`,
      a,
      b,
      rank,
      alpha,
      scale: config.rsLora ? alpha / Math.sqrt(rank) : alpha / rank,
      transposed,
      shape: transposed ? [inputs, outputs] : [outputs, inputs],
    });
  }
  if (modules.length === 0) return { problem: `${ADAPTER_WEIGHTS} holds no LoRA factors` };
  return { modules };
}

function variantHint(name: string): string {
  if (name.includes('lora_magnitude_vector')) return 'a DoRA magnitude, which tvr does not apply';
  if (name.includes('modules_to_save')) return 'a module saved whole (modules_to_save), which tvr does not apply';
  if (name.endsWith('.bias')) return 'a trained bias, which tvr does not apply';
  return 'tvr applies adapters made of LoRA factors only';
}
