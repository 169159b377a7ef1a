// LoRA adapters as task vectors: `lora("adapters/sci")` reads a PEFT adapter folder and is
// the Vector of its ΔW = scale · B·A per adapted module, over the base model's tensor names
// (`<module>.weight`) and zero elsewhere, so `base + lora(...)` is the merged model. Each
// tensor's product is computed chunk by chunk from the two factors while streaming, never
// the whole model at once. Facts about the folder: checkpoints/peft-adapter.ts.
import { ADAPTER_CONFIG, loraModules, type LoraModule } from '../checkpoints/peft-adapter.ts';
import type { CheckpointHeader } from '../checkpoints/types.ts';
import type { NodeBase, TensorSpec } from '../language/program.ts';
import { defineMethod, type Method } from './method.ts';

export interface LoraNode extends NodeBase {
  readonly op: 'lora';
  readonly kind: 'vector';
  /** Absolute path of the adapter folder. */
  readonly path: string;
  /** adapter_model.safetensors's header with the folder's configuration; undefined while it is being read. */
  readonly header: CheckpointHeader | undefined;
  /** The adapted modules by the base tensor their ΔW adds to. */
  readonly modules: ReadonlyMap<string, LoraModule>;
}

/** (path, size, mtime) of the adapter's files, which determine its factors and configuration: what its results and norms are cached by. */
export function adapterIdentity(header: CheckpointHeader): [string, number, number][] {
  return [...header.files, ...(header.loraAdapter?.files ?? [])].map((f) => [f.path, f.size, f.mtimeMs]);
}

export const lora: Method<LoraNode> = defineMethod<LoraNode>()({
  name: 'lora',
  params: {
    path: { type: 'string', doc: `A PEFT LoRA adapter folder (${ADAPTER_CONFIG} beside adapter_model.safetensors, as \`save_pretrained\` writes it), relative to the recipe.` },
  },
  returns: 'Vector',
  summary: 'A LoRA adapter as a task vector: its ΔW = scale · B·A per adapted module.',
  doc: 'Per module, ΔW = scale · lora_B · lora_A with scale = lora_alpha / r (`use_rslora`: lora_alpha / sqrt(r)), r and lora_alpha taken per module from `rank_pattern` and `alpha_pattern` where they match; `fan_in_fan_out` layers (GPT-2\'s Conv1D) and embeddings get (B·A) transposed. The Vector holds the adapted modules\' weights (`base_model.model.<module>.lora_A.weight` adds to `<module>.weight`) and is zero elsewhere: `base + lora(...)` is the merged model, and its shapes are checked against the base before anything runs. DoRA and other variants are refused. Each product is computed tensor by tensor while streaming.',
  example: 'merged = base + lam*lora("adapters/sci") + (1 - lam)*lora("adapters/legal")',
  reference: 'LoRA (Hu et al., 2022); rsLoRA (Kalajdzievski, 2023); PEFT',
  tag: 'lora',
  statistics: false,
  check({ path }, rules) {
    const input = rules.input(path);
    if (!input.header) return rules.source<LoraNode>({ op: 'lora', path: input.path, header: undefined, modules: new Map() }, undefined);
    const config = input.header.loraAdapter;
    if (!config) {
      rules.report(path.expr, 'error', 'bad-checkpoint', `${path.value} is not a PEFT LoRA adapter folder: lora() reads a folder holding ${ADAPTER_CONFIG} and adapter_model.safetensors; a model is read with load()`);
      return { type: 'error' };
    }
    if (config.refused) {
      rules.report(path.expr, 'error', 'unsupported-adapter', `cannot apply ${path.value}: ${config.refused}`);
      return { type: 'error' };
    }
    const found = loraModules(input.header, config);
    if ('problem' in found) {
      rules.report(path.expr, 'error', 'bad-checkpoint', `cannot use ${path.value}: ${found.problem}`);
      return { type: 'error' };
    }
    const modules = new Map(found.modules.map((m) => [m.tensor, m]));
    const table = new Map([...modules.values()].map((m): [string, TensorSpec] => [m.tensor, { dtype: m.b.dtype, shape: m.shape }]));
    return rules.source<LoraNode>({ op: 'lora', path: input.path, header: input.header, modules }, table);
  },
  children: () => [],
  inputs: (node) => [node],
  facts(node) {
    const config = node.header?.loraAdapter;
    if (!config) return [];
    const modules = [...node.modules.values()];
    const distinct = (values: readonly number[]): string => [...new Set(values)].sort((x, y) => x - y).join('/');
    const targets = typeof config.targetModules === 'string' ? `target_modules /${config.targetModules}/` : `target_modules ${config.targetModules?.join(', ') ?? 'not given'}`;
    return [
      `LoRA adapter, ${modules.length} module${modules.length === 1 ? '' : 's'}: rank ${distinct(modules.map((m) => m.rank))}, alpha ${distinct(modules.map((m) => m.alpha))}, scale ${config.rsLora ? 'alpha / sqrt(r) (rsLoRA)' : 'alpha / r'}${config.fanInFanOut ? ', fan_in_fan_out' : ''}`,
      targets,
      ...(config.baseModel ? [`trained on ${config.baseModel}`] : []),
    ];
  },
  explain(node, tensor) {
    const m = node.modules.get(tensor);
    if (!m) return undefined;
    const product = `lora_B [${m.b.shape.join(', ')}] · lora_A [${m.a.shape.join(', ')}]`;
    return `the ΔW of module ${m.module}: ${m.transposed ? `(${product})^T` : product}`;
  },
  structure: (node) => ({ op: 'lora', files: node.header ? adapterIdentity(node.header) : node.path }),
  anchors: () => [],
  lower(node, b) {
    const m = node.modules.get(b.tensor);
    if (!m) return null;
    if (m.shape[0] * m.shape[1] !== b.elements) b.fail(node, `the ΔW of module ${m.module} has ${m.shape[0] * m.shape[1]} elements, tensor ${b.tensor} has ${b.elements}`);
    return b.loraProduct(m, { path: node.path, range: node.range });
  },
});

