// Checks from Hugging Face model folders' configurations (config.json, tokenizer.json
// vocabularies, as the header readers carry them): what makes two models impossible or
// unwise to combine, said before anything runs. Pure: the checker calls it with what it has.
import type { HfModelConfig } from '../checkpoints/types.ts';
import type { LoadNode, TensorSpec, TensorTable, TiedHead, WeightNode } from './program.ts';
import { formatSpec, sameShape } from './shapes.ts';
import { nodeInputs } from './program.ts';

/** Loads with a configuration that a value is built from, at most this many (the first few suffice for messages). */
const MAX_SOURCES = 8;
const sourcesOf = new WeakMap<WeightNode, readonly LoadNode[]>();

/** The loaded model folders (with a config.json) a value is computed from, in first-use order; memoised per node. */
export function configuredLoads(node: WeightNode): readonly LoadNode[] {
  const known = sourcesOf.get(node);
  if (known) return known;
  let found: LoadNode[];
  if (node.op === 'load') found = node.header?.hfConfig ? [node] : [];
  else found = mergeSources(nodeInputs(node).map(configuredLoads));
  sourcesOf.set(node, found);
  return found;
}

/** Distinct loads of several lists, in order, at most MAX_SOURCES. */
export function mergeSources(lists: readonly (readonly LoadNode[])[]): LoadNode[] {
  const out: LoadNode[] = [];
  for (const list of lists) {
    for (const load of list) {
      if (out.length >= MAX_SOURCES) return out;
      if (!out.includes(load)) out.push(load);
    }
  }
  return out;
}

export interface ConfigFinding {
  readonly code: 'config-mismatch' | 'vocab-mismatch' | 'tied-embeddings';
  readonly severity: 'error' | 'warning' | 'info';
  readonly message: string;
  /** For warnings and notes: the same two models give the same finding wherever they meet; report it once. */
  readonly key?: string;
  /** A tied side met an untied one: untie that side (its head read from its embedding) and the two line up. */
  readonly untie?: { readonly side: 'here' | 'there' } & TiedHead;
}

/** One side of a comparison: its tensor table and the model folders it comes from. */
export interface Side {
  readonly table: TensorTable;
  readonly loads: readonly LoadNode[];
  /** How to name the side when it comes from no model folder (the operand's text). */
  readonly name: string;
}

/** A side as recipe code names it (`u` in exclude(u, ...)): its model's binding, or its text unquoted. */
function codeName(side: Side): string {
  return side.loads[0]?.name ?? side.name.replace(/^'(.*)'$/, '$1');
}

function sideName(side: Side, nameOf: NameOf): string {
  return side.loads[0] ? nameOf(side.loads[0]) : side.name;
}

/** How a model is named in messages: its binding (`'base'`) or its file. */
export type NameOf = (load: LoadNode) => string;

/**
 * What the configurations say about combining `here` with `there` (the operand being
 * checked and the one it is compared with); `tablesDiffer` tells whether their tensor
 * tables differ. Undefined when nothing is wrong or the generic shape message fits best.
 */
export function compareModels(here: Side, there: Side, tablesDiffer: boolean, nameOf: NameOf): ConfigFinding | undefined {
  const architecture = architectureFinding(here, there, tablesDiffer, nameOf);
  if (architecture || !tablesDiffer) return architecture;
  return vocabularyFinding(here, there, nameOf) ?? tieFinding(here, there, nameOf);
}

function architectureFinding(here: Side, there: Side, tablesDiffer: boolean, nameOf: NameOf): ConfigFinding | undefined {
  const b = there.loads[0];
  if (!b) return undefined;
  for (const a of here.loads) {
    const ac = a.header!.hfConfig!;
    const bc = b.header!.hfConfig!;
    let what: string | undefined;
    let shareTensors = true;
    if (ac.modelType !== undefined && bc.modelType !== undefined && ac.modelType !== bc.modelType) {
      what = `model types differ: ${nameOf(a)} is ${JSON.stringify(ac.modelType)} but ${nameOf(b)} is ${JSON.stringify(bc.modelType)} (config.json model_type)`;
      shareTensors = false;
    } else if (ac.layers !== undefined && bc.layers !== undefined && ac.layers !== bc.layers) {
      what = `layer counts differ: ${nameOf(a)} has ${ac.layers} layers but ${nameOf(b)} has ${bc.layers} (config.json ${layerKey(ac)})`;
    } else if (ac.hiddenSize !== undefined && bc.hiddenSize !== undefined && ac.hiddenSize !== bc.hiddenSize) {
      what = `hidden sizes differ: ${nameOf(a)} is ${ac.hiddenSize} wide but ${nameOf(b)} is ${bc.hiddenSize} (config.json ${ac.modelType === 'gpt2' ? 'n_embd' : 'hidden_size'})`;
      shareTensors = false;
    }
    if (!what) continue;
    return tablesDiffer
      ? { code: 'config-mismatch', severity: 'error', message: `${what}: their weights do not correspond tensor by tensor. Combine models of one architecture and size (fine-tunes of one base model)${shareTensors ? ', or select(...) the tensors they share' : ''}` }
      : { code: 'config-mismatch', severity: 'warning', message: `${what}, although their tensors line up: task arithmetic is meant for fine-tunes of one base model; check that both really are`, key: [a.path, b.path].sort().join('\n') };
  }
  return undefined;
}

function layerKey(config: HfModelConfig): string {
  return config.modelType === 'gpt2' ? 'n_layer' : 'num_hidden_layers';
}

/** Tensors present on both sides that differ only in their first dimension (rows), with the two row counts. */
function rowDifferences(here: TensorTable, there: TensorTable): { name: string; hereRows: number; thereRows: number }[] | undefined {
  const rows: { name: string; hereRows: number; thereRows: number }[] = [];
  for (const [name, h] of here) {
    const t = there.get(name);
    if (!t || sameShape(h.shape, t.shape)) continue;
    if (h.shape.length === 0 || h.shape.length !== t.shape.length || !sameShape(h.shape.slice(1), t.shape.slice(1))) return undefined;
    rows.push({ name, hereRows: h.shape[0]!, thereRows: t.shape[0]! });
  }
  return rows;
}

function vocabularyFinding(here: Side, there: Side, nameOf: NameOf): ConfigFinding | undefined {
  const a = here.loads[0];
  const b = there.loads[0];
  const ac = a?.header?.hfConfig;
  const bc = b?.header?.hfConfig;
  const rows = rowDifferences(here.table, there.table) ?? [];
  let sizes: { here: number; there: number; source: string } | undefined;
  if (ac?.vocabSize !== undefined && bc?.vocabSize !== undefined && ac.vocabSize !== bc.vocabSize) {
    const tensors = rows.filter((r) => r.hereRows === ac.vocabSize && r.thereRows === bc.vocabSize).map((r) => r.name);
    const tensorText = tensors.length === 0 ? '' : `; ${tensors.slice(0, 2).join(' and ')}${tensors.length > 2 ? ` and ${tensors.length - 2} more` : ''} differ${tensors.length === 1 ? 's' : ''} in rows accordingly`;
    sizes = { here: ac.vocabSize, there: bc.vocabSize, source: `config.json vocab_size${tensorText}` };
  } else if (rows.length > 0 && rows.every((r) => r.hereRows === rows[0]!.hereRows && r.thereRows === rows[0]!.thereRows)) {
    const embedding = rows.find((r) => /embed|wte|word_embeddings|tok_embeddings/.test(r.name));
    if (!embedding) return undefined;
    sizes = { here: embedding.hereRows, there: embedding.thereRows, source: `rows of ${embedding.name}` };
  }
  if (!sizes) return undefined;
  const hereName = sideName(here, nameOf);
  const thereName = sideName(there, nameOf);
  const tokenizers = tokenizerAgreement(ac, bc, hereName, thereName);
  return {
    code: 'vocab-mismatch',
    severity: 'error',
    message: `vocabularies differ in size: ${hereName} has ${sizes.here} tokens but ${thereName} has ${sizes.there} (${sizes.source}), so their embedding rows cannot be combined one to one. `
      + `To combine them, give both one vocabulary first, usually the base model's: resize the other model's embedding and output head to its size, truncating or padding rows (transformers: model.resize_token_embeddings(N), then save_pretrained), and load that. `
      + `This is sound only where the tokenizers agree on every shared id: ${tokenizers}`,
  };
}

/** Where two tokenizer.json vocabularies first disagree, in words. */
export function tokenizerAgreement(a: HfModelConfig | undefined, b: HfModelConfig | undefined, aName: string, bName: string): string {
  const va = a?.vocabulary;
  const vb = b?.vocabulary;
  if (!va || !vb) {
    const readable = [va ? aName : undefined, vb ? bName : undefined].filter((x) => x !== undefined);
    return `compare their tokenizers before resizing (${readable.length === 0 ? 'neither has' : `only ${readable[0]} has`} a tokenizer.json vocabulary tvr could read).`;
  }
  const shared = Math.min(va.length, vb.length);
  const id = firstDifference(va, vb, shared);
  if (id === undefined) return `their tokenizer.json vocabularies agree on all ${shared} shared ids (0 to ${shared - 1}), so resizing to either size keeps the row of every shared id.`;
  return `their tokenizer.json vocabularies differ first at id ${id} (${showToken(va[id])} in ${aName}, ${showToken(vb[id])} in ${bName}): from there on the same row means different tokens, so resizing would combine unrelated rows; combine models that share a tokenizer.`;
}

function firstDifference(a: readonly (string | undefined)[], b: readonly (string | undefined)[], upTo: number): number | undefined {
  for (let i = 0; i < upTo; i++) if (a[i] !== b[i]) return i;
  return undefined;
}

/** A token for a message: JSON-quoted (control characters escaped), shortened. */
function showToken(token: string | undefined): string {
  if (token === undefined) return 'no token';
  return JSON.stringify(token.length > 30 ? `${token.slice(0, 27)}...` : token);
}

const HEAD = /(^|\.)lm_head\.weight$/;
/** Input embeddings as the Hugging Face families name them (GPT-2, Llama and most decoders, BERT, GPT-NeoX, original Llama). */
const EMBEDDING = /(^|\.)(wte|embed_tokens|word_embeddings|embed_in|tok_embeddings)\.weight$/;

/** The one embedding of a tied table that can stand for its head: an embedding-named tensor of the head's spec. */
function embeddingFor(table: TensorTable, head: TensorSpec): string | undefined {
  const candidates = [...table].filter(([name, spec]) => EMBEDDING.test(name) && sameShape(spec.shape, head.shape)).map(([name]) => name);
  return candidates.length === 1 ? candidates[0] : undefined;
}

function tieFinding(here: Side, there: Side, nameOf: NameOf): ConfigFinding | undefined {
  const onlyHere = [...here.table.keys()].filter((n) => !there.table.has(n));
  const onlyThere = [...there.table.keys()].filter((n) => !here.table.has(n));
  // Exactly one side lacks exactly the head, and every other tensor lines up.
  const missing = onlyHere.length === 0 ? onlyThere : onlyThere.length === 0 ? onlyHere : [];
  if (missing.length !== 1 || !HEAD.test(missing[0]!)) return undefined;
  if ((rowDifferences(here.table, there.table) ?? [undefined]).length > 0) return undefined;
  const head = missing[0]!;
  const tiedIsHere = onlyHere.length === 0;
  const [tied, untied] = tiedIsHere ? [here, there] : [there, here];
  const tiedConfig = tied.loads[0]?.header?.hfConfig;
  const untiedConfig = untied.loads[0]?.header?.hfConfig;
  // A config that says otherwise means the file is incomplete, not tied: the shape message fits.
  if ((tiedConfig && !tiedConfig.tieWordEmbeddings) || (untiedConfig && untiedConfig.tieWordEmbeddings && untiedConfig.tieStated)) return undefined;
  const tiedName = sideName(tied, nameOf);
  const untiedName = sideName(untied, nameOf);
  const why = tiedConfig ? (tiedConfig.tieStated ? 'tie_word_embeddings: true in its config.json' : `the default of model_type ${JSON.stringify(tiedConfig.modelType ?? 'unknown')}`) : 'it stores no head';
  const headSpec = untied.table.get(head)!;
  const tie = `${tiedName} ties its output head to its embedding (${why}), so it stores no ${head}: its head is its embedding matrix; ${untiedName} has its own ${head} ${formatSpec(headSpec)}`;
  const embedding = embeddingFor(tied.table, headSpec);
  if (embedding !== undefined) {
    return {
      code: 'tied-embeddings',
      severity: 'info',
      message: `${tie}. The result has an untied head: ${head} combines ${untiedName}'s head with ${tiedName}'s ${embedding}, and a save writes tie_word_embeddings: false. To keep the head tied instead, leave the untied head out: exclude(${codeName(untied)}, "${head}")`,
      key: [tied.loads[0]?.path ?? tied.name, untied.loads[0]?.path ?? untied.name].sort().join('\n'),
      untie: { side: tiedIsHere ? 'here' : 'there', head, embedding },
    };
  }
  return {
    code: 'tied-embeddings',
    severity: 'error',
    message: `${tie}, but no single embedding tensor of ${tiedName} has that shape to stand for its head. Leave the untied head out: exclude(${codeName(untied)}, "${head}"), or untie ${tiedName} first (transformers: set config.tie_word_embeddings = False, copy the embedding into lm_head.weight, save_pretrained) and load that`,
  };
}
