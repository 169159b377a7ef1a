// Typed program + sweep point -> one SavePlan per save: for every output tensor, the
// elementwise program over its input tensors. WeightNodes shared in the DAG become one
// SSA node (evaluated once per chunk); a tensor read by several loads of the same path
// becomes one input slot (read once per chunk).
import { isFloatDtype } from '../../checkpoints/dtypes.ts';
import type { Dtype, TensorEntry } from '../../checkpoints/types.ts';
import { evaluate, sweepIds } from '../../language/poly.ts';
import type { Poly } from '../../language/poly.ts';
import { layerCountOf } from '../../language/layer-count.ts';
import { isVarying, valueFor, type TensorNumber } from '../../language/tensor-numbers.ts';
import { nodeInputs } from '../../language/program.ts';
import type { LoadNode, Range, SaveStatement, SweepPoint, TypedProgram, WeightNode } from '../../language/program.ts';
import type { GramCoefficients, LoraFactorsOf, Lowering, WholeMatrixOptions } from '../../methods/method.ts';
import { isMethodNode, methodOf } from '../../methods/registry.ts';
import { EngineError, lineOf } from '../errors.ts';
import { dareKeepThreshold, rngKey } from '../rng.ts';
import { schedulePasses } from './schedule.ts';
import { postOrder, preOrder } from './walk.ts';
import { slotKey, type ComputedTensor, type InputSlot, type LoraProductSlot, type MatrixRule, type MatrixSlot, type NodeRef, type Op, type ParamRef, type SavePlan, type Stat, type TensorPlan, type TensorSlot, type VotePair } from './types.ts';

const FLOAT_OUTPUTS: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64'];

/** Default chunk: 4 Mi elements (16 MiB of float32 per operand buffer). */
export const DEFAULT_CHUNK_ELEMENTS = 1 << 22;

/** Plans every save; `chunkElements` is the chunk size the plan will run with. */
export function planSaves(program: TypedProgram, point: SweepPoint, chunkElements = DEFAULT_CHUNK_ELEMENTS): SavePlan[] {
  return program.saves.map((save) => planSave(program, save, point, chunkElements));
}

export function planSave(program: TypedProgram, save: SaveStatement, point: SweepPoint, chunkElements = DEFAULT_CHUNK_ELEMENTS): SavePlan {
  const table = save.node.table;
  if (!table) throw new EngineError('plan', `${lineOf(save.range)}: the saved value has no tensor table (an input could not be read)`, { range: save.range });
  if (save.dtype !== undefined && !FLOAT_OUTPUTS.includes(save.dtype)) {
    throw new EngineError('plan', `${lineOf(save.range)}: dtype ${save.dtype} cannot hold computed weights; use F32, F16, BF16 or F64`, { range: save.range });
  }
  const coefficient = (poly: Poly, range: Range): number => evaluateAt(program, poly, point, range);
  const tensors: TensorPlan[] = [];
  const droppedIntegers: string[] = [];
  let firstAnchor: LoadNode | undefined;
  for (const [name, spec] of table) {
    // An untied head no input stores (only tied models met it) takes its dtype from the embedding standing for it.
    const stored = untiedHeadSource(save.node, name) ?? name;
    const anchor = anchorOf(save.node, coefficient, stored) ?? firstLoadWith(save.node, stored);
    const anchorEntry = anchor?.header?.tensors.get(stored);
    if (!anchor || !anchorEntry) {
      throw new EngineError('plan', `${lineOf(save.range)}: no input model has tensor ${name}`, { range: save.range, tensor: name });
    }
    firstAnchor ??= anchor;
    if (anchorEntry.dtype.startsWith('F8')) {
      throw new EngineError('plan', `${lineOf(save.range)}: tensor ${name} is ${anchorEntry.dtype}; 8-bit float tensors cannot take part in arithmetic yet: select them out`, { range: save.range, tensor: name, file: anchorEntry.file });
    }
    if (!isFloatDtype(anchorEntry.dtype)) {
      if (save.node.kind === 'vector') droppedIntegers.push(name);
      else tensors.push({ kind: 'copied', name, shape: anchorEntry.shape, dtype: anchorEntry.dtype, input: { kind: 'tensor', load: anchor, entry: anchorEntry } });
      continue;
    }
    tensors.push(planTensor(save, name, spec.shape, save.dtype ?? anchorEntry.dtype, coefficient, chunkElements));
  }
  if (!firstAnchor) throw new EngineError('plan', `${lineOf(save.range)}: the saved value has no tensors`, { range: save.range });
  const plan: SavePlan = { path: save.path, range: save.range, tensors, droppedIntegers, anchor: firstAnchor, overwrite: save.overwrite, seeds: seedsOf(save.node) };
  return save.shardBytes === undefined ? plan : { ...plan, shardBytes: save.shardBytes };
}

function evaluateAt(program: TypedProgram, poly: Poly, point: SweepPoint, range: Range): number {
  const missing = sweepIds(poly).filter((id) => !point.has(id));
  if (missing.length > 0) {
    const names = missing.map((id) => program.sweeps.find((s) => s.id === id)?.name ?? `#${id}`);
    throw new EngineError('plan', `${lineOf(range)}: the value depends on sweep ${names.map((n) => `\`${n}\``).join(', ')}; run it at a sweep point`, { range });
  }
  return evaluate(poly, point);
}

type Coefficient = (poly: Poly, range: Range) => number;

/** A coefficient at the sweep point, or a method's per-tensor argument for `tensor` (gradients over the method node's layers). */
function numberAt(value: Poly | TensorNumber, range: Range, coefficient: Coefficient, tensor: string, node: WeightNode): number {
  if (typeof value === 'number') return value;
  return isVarying(value) ? valueFor(value, tensor, layerCountOf(node)) : coefficient(value, range);
}

/**
 * The anchor model: the model term with the largest coefficient at this sweep point
 * (the first on a tie; a model term before a vector term), followed down to a load.
 * Its dtypes set the output dtypes and its integer tensors are copied.
 */
function anchorOf(node: WeightNode, coefficient: Coefficient, tensor: string): LoadNode | undefined {
  // A node searched once and found without the tensor has none on any other path either.
  return firstLoad(preOrder([node], (n) => anchorCandidates(n, coefficient, tensor)), tensor);
}

/** Where an anchor is looked for below a node, best first. */
function anchorCandidates(node: WeightNode, coefficient: Coefficient, tensor: string): readonly WeightNode[] {
  switch (node.op) {
    case 'load': return [];
    case 'select': return [node.input];
    case 'combine':
      return node.terms
        .map((term, index) => ({ term, index, weight: coefficient(term.coef, node.range) }))
        .sort((x, y) => Number(y.term.node.kind === 'model') - Number(x.term.node.kind === 'model') || y.weight - x.weight || x.index - y.index)
        .map(({ term }) => term.node);
    default: return methodOf(node).anchors(node, (value, range) => numberAt(value, range, coefficient, tensor, node));
  }
}

function firstLoad(nodes: Iterable<WeightNode>, tensor: string): LoadNode | undefined {
  for (const node of nodes) if (node.op === 'load' && node.header?.tensors.has(tensor)) return node;
  return undefined;
}

function firstLoadWith(node: WeightNode, tensor: string): LoadNode | undefined {
  return firstLoad(preOrder([node]), tensor);
}

/** The embedding standing for `head` when no input below `root` stores the head itself, but a tied one was untied. */
function untiedHeadSource(root: WeightNode, head: string): string | undefined {
  let embedding: string | undefined;
  for (const node of preOrder([root])) {
    if (node.op === 'load' && node.header?.tensors.has(head)) return undefined;
    if (node.op === 'select' && node.untie?.head === head) embedding ??= node.untie.embedding;
  }
  return embedding;
}

function seedsOf(root: WeightNode): SavePlan['seeds'] {
  const seeds: SavePlan['seeds'][number][] = [];
  for (const node of preOrder([root])) {
    const seed = isMethodNode(node) ? methodOf(node).seed?.(node) : undefined;
    if (seed !== undefined) seeds.push({ op: node.op, seed, range: node.range });
  }
  return seeds;
}

function planTensor(save: SaveStatement, name: string, shape: readonly number[], dtype: Dtype, coefficient: Coefficient, chunkElements: number): ComputedTensor {
  const elements = shape.reduce((a, b) => a * b, 1);
  const builder = new TensorBuilder(name, shape, coefficient);
  const out = builder.build(save.node) ?? builder.push({ op: 'lin', terms: [] });
  const { nodes, params, stats, inputs } = builder;
  const resident = elements <= chunkElements;
  return { kind: 'computed', name, shape, elements, dtype, inputs, nodes, output: out, params, stats, resident, passes: schedulePasses(nodes, stats, out, resident) };
}

/** Builds one tensor's SSA program; `null` stands for an all-zero value. The operations merge methods lower to are its public ones. */
class TensorBuilder implements Lowering {
  readonly nodes: Op[] = [];
  readonly params: number[] = [];
  readonly stats: Stat[] = [];
  readonly inputs: InputSlot[] = [];
  /** Built values by tensor name, then weight node id (an untied head builds the embedding's too). */
  private readonly memo = new Map<string, Map<number, NodeRef | null>>();
  private readonly slotByInput = new Map<string, number>();
  /** The tensor being built: the output's, or an embedding standing for a tied head. */
  private name: string;
  readonly elements: number;
  private readonly coefficient: Coefficient;

  readonly shape: readonly number[];

  constructor(name: string, shape: readonly number[], coefficient: Coefficient) {
    this.name = name;
    this.shape = shape;
    this.elements = shape.reduce((a, b) => a * b, 1);
    this.coefficient = coefficient;
  }

  push(op: Op): NodeRef {
    this.nodes.push(op);
    return this.nodes.length - 1;
  }

  param(value: number): ParamRef {
    this.params.push(value);
    return this.params.length - 1;
  }

  /**
   * Builds `root` and what it needs, children first, each weight node once: a chain
   * thousands of bindings deep costs no stack, and a node used twice is one SSA value.
   */
  build(root: WeightNode): NodeRef | null {
    let memo = this.memo.get(this.name);
    if (!memo) this.memo.set(this.name, (memo = new Map()));
    const order = postOrder([root], (node) => this.inputsNeeded(node), (node) => memo.has(node.id));
    for (const node of order) memo.set(node.id, this.buildNew(node));
    return this.built(root);
  }

  /** `root`'s value for another tensor, `name` (a tied model's embedding standing for its head). */
  private buildAs(root: WeightNode, name: string): NodeRef | null {
    const outer = this.name;
    this.name = name;
    try {
      return this.build(root);
    } finally {
      this.name = outer;
    }
  }

  /** The inputs a node's value for this tensor reads: none where the node lacks the tensor (null, or a failure), or reads another (an untied head). */
  private inputsNeeded(node: WeightNode): readonly WeightNode[] {
    if (!node.table) this.fail(node, `${describe(node)} has no tensor table (an input could not be read)`);
    if (isUntiedHead(node, this.name)) return [];
    return node.table.has(this.name) ? nodeInputs(node) : [];
  }

  /** The value of a node built earlier (build's dependency order guarantees it). */
  private built(node: WeightNode): NodeRef | null {
    const known = this.memo.get(this.name)?.get(node.id);
    if (known === undefined) throw new Error(`internal: weight node ${node.id} used before it was built`);
    return known;
  }

  get tensor(): string {
    return this.name;
  }

  value(child: WeightNode): NodeRef | null {
    return this.built(child);
  }

  at(value: Poly | TensorNumber, range: Range): number {
    return numberAt(value, range, this.coefficient, this.name, this.lowering!);
  }

  fail(node: WeightNode, message: string, entry?: TensorEntry): never {
    throw new EngineError('plan', `${lineOf(node.range)}: ${message}`, { range: node.range, tensor: this.name, ...(entry ? { file: entry.file } : {}) });
  }

  private buildNew(node: WeightNode): NodeRef | null {
    if (!node.table) this.fail(node, `${describe(node)} has no tensor table (an input could not be read)`);
    if (!node.table.has(this.name)) {
      // A vector without this tensor adds nothing to it; a model without it is a checker gap.
      if (node.kind === 'vector') return null;
      this.fail(node, `${describe(node)} has no tensor ${this.name}`);
    }
    switch (node.op) {
      case 'load': return this.load(node);
      case 'select': return node.untie && isUntiedHead(node, this.name) ? this.buildAs(node.input, node.untie.embedding) : this.built(node.input);
      case 'combine': return this.linear(node.terms.map((t) => ({ coef: this.coefficient(t.coef, node.range), arg: this.built(t.node) })));
      default:
        this.lowering = node;
        return methodOf(node).lower(node, this);
    }
  }

  private load(node: LoadNode): NodeRef {
    const entry = node.header?.tensors.get(this.name);
    if (!entry) this.fail(node, `${node.path} has no tensor ${this.name}`);
    if (!isFloatDtype(entry.dtype)) this.fail(node, `tensor ${this.name} of ${node.path} is ${entry.dtype}; only F32, F16, BF16 and F64 tensors take part in arithmetic`, entry);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (size !== this.elements) this.fail(node, `tensor ${this.name} of ${node.path} has ${size} elements, the output has ${this.elements}`, entry);
    const key = `${node.path}\0${entry.name}`;
    let slot = this.slotByInput.get(key);
    if (slot === undefined) {
      slot = this.inputs.push({ kind: 'tensor', load: node, entry }) - 1;
      this.slotByInput.set(key, slot);
    }
    return this.push({ op: 'input', slot });
  }

  /** sum(coef * arg), flattening constant-coefficient linear children and merging repeated args. */
  linear(terms: readonly { coef: number; arg: NodeRef | null }[]): NodeRef | null {
    const merged = new Map<NodeRef, number>();
    const add = (arg: NodeRef, coef: number): void => {
      const op = this.nodes[arg]!;
      if (op.op === 'lin' && op.terms.every((t) => this.isConstant(t.coef))) {
        for (const t of op.terms) add(t.arg, coef * this.params[t.coef]!);
      } else {
        merged.set(arg, (merged.get(arg) ?? 0) + coef);
      }
    };
    for (const { coef, arg } of terms) if (arg !== null && coef !== 0) add(arg, coef);
    const kept = [...merged].filter(([, coef]) => coef !== 0);
    if (kept.length === 0) return null;
    if (kept.length === 1 && kept[0]![1] === 1) return kept[0]![0];
    return this.push({ op: 'lin', terms: kept.map(([arg, coef]) => ({ coef: this.param(coef), arg })) });
  }

  /** The method node being lowered: its per-tensor arguments' gradients run over its layers. */
  private lowering: WeightNode | undefined;

  private readonly statParams = new Set<ParamRef>();

  private isConstant(param: ParamRef): boolean {
    return !this.statParams.has(param);
  }

  private statParam(): ParamRef {
    const ref = this.param(Number.NaN);
    this.statParams.add(ref);
    return ref;
  }

  /** Keeps the top k elements of |arg| (all those tied with the k-th). */
  keepLargest(arg: NodeRef, k: number): NodeRef | null {
    if (k <= 0) return null;
    if (k >= this.elements) return arg;
    const threshold = this.statParam();
    this.stats.push({ kind: 'topk', node: arg, k, threshold, bucket: this.statParam(), rank: this.statParam() });
    return this.push({ op: 'trim', arg, threshold });
  }

  disjointMean(args: readonly NodeRef[]): NodeRef {
    return this.push({ op: 'ties', args });
  }

  dropAndRescale(arg: NodeRef, p: number, seed: number): NodeRef {
    const key = rngKey(seed, this.name, 'dare');
    const keep = this.param(dareKeepThreshold(p));
    const scale = this.param(1 / (1 - p));
    const k0 = this.param(key.k0);
    this.param(key.k1);
    return this.push({ op: 'dare', arg, keep, scale, key: k0 });
  }

  slerp(a: NodeRef, b: NodeRef, t: number, options: { readonly zeroAngle?: boolean } = {}): NodeRef {
    const s0 = this.statParam();
    const s1 = this.statParam();
    this.stats.push({ kind: 'slerp', a, b, t, s0, s1, ...(options.zeroAngle ? { zeroAngle: true as const } : {}) });
    return this.push({ op: 'lin', terms: [{ coef: s0, arg: a }, { coef: s1, arg: b }] });
  }

  loraProduct(factors: LoraFactorsOf, adapter: LoraProductSlot['adapter']): NodeRef {
    const slot: LoraProductSlot = { kind: 'lora-product', a: factors.a, b: factors.b, scale: factors.scale, transposed: factors.transposed, adapter };
    const key = slotKey(slot);
    let index = this.slotByInput.get(key);
    if (index === undefined) {
      index = this.inputs.push(slot) - 1;
      this.slotByInput.set(key, index);
    }
    return this.push({ op: 'input', slot: index });
  }

  wholeMatrix(node: WeightNode, args: readonly (NodeRef | null)[], rule: MatrixRule, options: WholeMatrixOptions = {}): NodeRef | null {
    if (args.every((arg) => arg === null)) return null;
    const [rows, cols] = options.shape ?? (this.shape as [number, number]);
    const seed = options.seed ?? 0;
    const vectors = args.map((arg) => (arg === null ? [] : this.termsOverInputs(arg, node)));
    const key = `matrix\0${node.op}\0${node.id}\0${this.name}\0${seed}\0${JSON.stringify(vectors.map((terms) => terms.map((t) => [slotKey(t.slot), t.coef])))}`;
    const slot: MatrixSlot = { kind: 'matrix', rows, cols, vectors, rule, tensor: this.name, seed, key, method: { op: node.op, range: node.range } };
    let index = this.slotByInput.get(key);
    if (index === undefined) {
      index = this.inputs.push(slot) - 1;
      this.slotByInput.set(key, index);
    }
    return this.push({ op: 'input', slot: index });
  }

  /** A value as coef * input terms: an input, or a linear node with constant coefficients over such values. */
  private termsOverInputs(ref: NodeRef, node: WeightNode): { slot: TensorSlot | LoraProductSlot; coef: number }[] {
    const op = this.nodes[ref]!;
    if (op.op === 'input') {
      const slot = this.inputs[op.slot]!;
      if (slot.kind !== 'matrix') return [{ slot, coef: 1 }];
    } else if (op.op === 'lin' && op.terms.every((t) => this.isConstant(t.coef))) {
      return op.terms.flatMap((t) => this.termsOverInputs(t.arg, node).map((term) => ({ slot: term.slot, coef: term.coef * this.params[t.coef]! })));
    }
    this.fail(node, `${node.op}() computes each tensor whole from its task vectors: they must be sums of checkpoints and LoRA adapters (such as ft - base), not the results of other methods (tensor ${this.name})`);
  }

  randomLike(source: NodeRef, seed: number): NodeRef {
    const radius = rngKey(seed, this.name, 'normal-radius');
    const angle = rngKey(seed, this.name, 'normal-angle');
    const key = this.param(radius.k0);
    this.param(radius.k1);
    this.param(angle.k0);
    this.param(angle.k1);
    const noise = this.push({ op: 'noise', key });
    const scale = this.statParam();
    this.stats.push({ kind: 'norm-match', source, noise, scale });
    return this.push({ op: 'lin', terms: [{ coef: scale, arg: noise }] });
  }

  gramCombination(node: WeightNode, args: readonly (NodeRef | null)[], terms: readonly (NodeRef | null)[], rule: (gram: number[][]) => GramCoefficients): NodeRef | null {
    const kept = terms.flatMap((arg, i) => (arg === null ? [] : [{ arg, i }]));
    if (kept.length === 0) return null;
    const coefficients = this.gramParams(node, args, kept.map(({ i }) => i), rule);
    return this.push({ op: 'lin', terms: kept.map(({ arg }, j) => ({ coef: coefficients[j]!, arg })) });
  }

  electedMean(node: WeightNode, args: readonly (NodeRef | null)[], weigh: (gram: number[][]) => GramCoefficients, floor: number): NodeRef | null {
    // A zero argument has no sign, so it never agrees with the elected one: it is left out.
    const kept = args.flatMap((arg, i) => (arg === null ? [] : [{ arg, i }]));
    if (kept.length === 0) return null;
    const weights = this.gramParams(node, args, kept.map(({ i }) => i), weigh);
    return this.push({ op: 'elect', args: kept.map(({ arg }) => arg), weights, floor: this.param(floor) });
  }

  signConsensus(args: readonly (NodeRef | null)[], weights: readonly number[], options: { readonly normalize: boolean; readonly strict: boolean }): NodeRef | null {
    const kept = args.flatMap((arg, i) => (arg === null ? [] : [{ arg: this.linear([{ coef: weights[i]!, arg }])!, weight: weights[i]! }]));
    if (kept.length === 0) return null;
    // The weighted args carry their weights: each counts once in the sum; the weights divide it
    // (nothing divides it without normalize: divisors 0, floor 1).
    return this.push({
      op: 'elect',
      args: kept.map(({ arg }) => arg),
      weights: kept.map(() => this.param(1)),
      divisors: kept.map(({ weight }) => this.param(options.normalize ? weight : 0)),
      // The smallest weight: any agreeing arg's divisor is at least it, and 0 / it is 0 where none agrees (representable in float32, unlike MIN_VALUE).
      floor: this.param(options.normalize ? Math.min(...kept.map(({ weight }) => weight)) : 1),
      ...(options.strict ? { strict: true as const } : {}),
    });
  }

  variance(args: readonly (NodeRef | null)[]): NodeRef | null {
    const present = args.filter((arg): arg is NodeRef => arg !== null);
    return present.length === 0 ? null : this.push({ op: 'variance', args: present, count: this.param(args.length) });
  }

  /** Params that `rule` of the Gram matrix of `args` (null rows 0) fills after a pass: its results at `wanted`. */
  private gramParams(node: WeightNode, args: readonly (NodeRef | null)[], wanted: readonly number[], rule: (gram: number[][]) => GramCoefficients): ParamRef[] {
    const present = args.flatMap((arg, i) => (arg === null ? [] : [i]));
    const coefficients = wanted.map(() => this.statParam());
    const tensor = this.name;
    this.stats.push({
      kind: 'gram',
      nodes: present.map((i) => args[i]!),
      coefficients,
      rule: (gram) => {
        // A null argument is a zero tensor: its row and column of the full matrix are 0.
        const full = args.map(() => new Array<number>(args.length).fill(0));
        present.forEach((i, a) => present.forEach((j, b) => { full[i]![j] = gram[a]![b]!; }));
        const result = rule(full);
        if ('error' in result) throw new EngineError('plan', `${lineOf(node.range)}: tensor ${tensor}: ${result.error}`, { range: node.range, tensor });
        return wanted.map((i) => result[i]!);
      },
    });
    return coefficients;
  }

  voteMask(arg: NodeRef | null, pairs: readonly { readonly a: NodeRef | null; readonly b: NodeRef | null }[], scale: number, min: number): NodeRef | null {
    if (arg === null) return null;
    // |0| > anything never holds: a pair whose a is zero never votes.
    const votes = pairs.flatMap(({ a, b }): VotePair[] => (a === null ? [] : [b === null ? { a } : { a, b }]));
    if (votes.length < min) return null;
    if (min <= 0) return arg;
    return this.push({ op: 'vote', arg, pairs: votes, scale: this.param(scale), min: this.param(min) });
  }
}

/** A tied value's head made explicit, asked for that head: it is the input's embedding. */
function isUntiedHead(node: WeightNode, name: string): boolean {
  return node.op === 'select' && node.untie?.head === name && !node.input.table?.has(name);
}

function describe(node: WeightNode): string {
  if (node.name) return `\`${node.name}\``;
  if (node.op === 'load') return node.path;
  return `this ${node.op === 'combine' ? 'expression' : node.op}`;
}
