// Resolved tree -> typed program. Folds scalars, types weight arithmetic in the affine
// space (Model - Model = Vector, Model + Vector = Model, sum w_i M_i is a Model iff the
// weights sum to 1 and a Vector iff they sum to 0), checks tensor tables at every
// operation, and reports everything it finds with stable codes and quick fixes.
import { dirname, relative, resolve } from 'node:path';
import type { CheckpointError, CheckpointHeader } from '../checkpoints/types.ts';
import { findInputClash, isWithin, lexicalLocation, overlaps, sameLocation, type PathLocation } from '../checkpoints/locate.ts';
import { isTextDataPath, TEXT_SPLITS, type TextDataLookup } from '../checkpoints/text-data.ts';
import { isMethodNode, methodByName, methodOf, methods } from '../methods/registry.ts';
import type { StringArg, TypeRules } from '../methods/method.ts';
import { baseModel, isConventionalBaseName } from './base-model.ts';
import { builtinByName, coreBuiltinByName, isRequired, type Builtin, type Param } from './builtins.ts';
import type { Diagnostic, Fix } from './diagnostics.ts';
import { chainDepthMessage, statisticsPassesMessage } from './diagnostics/chain-too-deep.ts';
import { foreignBaseMessage } from './diagnostics/foreign-base.ts';
import { cancelledTermsMessage, divisionByWeightsMessage, ensembleOperandMessage, numberWithWeightsMessage, weightsProductMessage } from './diagnostics/invalid-operation.ts';
import { weightSumFixes, weightSumMessage, type WeightSumFacts } from './diagnostics/model-weight-sum.ts';
import { chainScaleMessage, foldedMessage, literalOverflowMessage, weightsSumMessage } from './diagnostics/non-finite.ts';
import { alignedTablesMessage, headTablesMessage, operandTablesMessage, partialTablesMessage, type HeadDifference } from './diagnostics/shape-mismatch.ts';
import { sweepPointsNote, tooManyEvaluationsMessage } from './diagnostics/too-many-evaluations.ts';
import {
  adapterAsModelFixes, adapterAsModelMessage, argumentTypeMessage, assignedNothingMessage, discardedValueMessage, fixedNumbersMessage, kindFixes, mixedMeanMessage,
  operandTypeMessage, partialSaveMessage, unscalableMessage,
} from './diagnostics/type-mismatch.ts';
import type { LineIndex } from './line-index.ts';
import { ceilingMaxEvaluations, defaultMaxEvaluations, evaluationCount, formatExactCount, gridSize, maxChainDepth, maxStatisticsPasses } from './limits.ts';
import { closest, unusedBindings, type Binding, type Resolution } from './names.ts';
import { inputPaths, resultsFileName, type InputLocation } from './run-files.ts';
import * as P from './poly.ts';
import type {
  CombineNode, EnsembleValue, EvaluatedModel, EvaluateStatement, LoadNode, MethodInput, PosteriorValue, SaveStatement, SweepVar, TaskValue, TensorSpec, TensorTable,
  TiedHead, TypedProgram, WeightKind, WeightNode,
} from './program.ts';
import { nodeInputs } from './program.ts';
import { compareCovered, compareShared, compareTables, describeDifference, isFloat, narrowTable, unionTables, type TableComparison } from './shapes.ts';
import { compareModels, configuredLoads, mergeSources } from './model-folders.ts';
import type { Argument, Call, Expression, Span, Statement, SyntaxTree } from './syntax-tree.ts';
import type { TensorRule } from './tensor-numbers.ts';
import { errorValue, isWeights, nothing, typeName, type ComboValue, type ListValue, type PerTensorValue, type TaskVal, type Value, type WeightsValue } from './values.ts';

export type CheckpointLookup =
  | { readonly status: 'ok'; readonly header: CheckpointHeader }
  | { readonly status: 'error'; readonly error: CheckpointError }
  | { readonly status: 'pending' };

export interface CheckEnvironment {
  /** Absolute path of the recipe; relative paths resolve against its folder. */
  readonly file: string;
  /** Header of a checkpoint or data file, read elsewhere (the checker does no I/O). */
  checkpoint(absolutePath: string): CheckpointLookup;
  /**
   * Where a path leads on disk (symlinks resolved, file identities), found elsewhere;
   * undefined while not known yet. Without it, inputs and outputs compare as path strings.
   */
  locate?(absolutePath: string): PathLocation | undefined;
  /** Summary of a JSON Lines text data file (text tasks), read elsewhere; without it, pending. */
  textData?(absolutePath: string): TextDataLookup;
  /** Saves may write outside the recipe's folder: the user allowed it (`--allow-outputs-outside`). */
  readonly allowOutputsOutside?: boolean;
}

export interface CheckResult {
  readonly program: TypedProgram;
  readonly diagnostics: readonly Diagnostic[];
  /** The value of each binding (by its statement). */
  readonly values: ReadonlyMap<Binding, Value>;
  /** Files whose headers were not available yet: read them and check again. */
  readonly pending: readonly string[];
  /** Every task vector (Vector combination) the recipe makes, in recipe order: where the base is found. */
  readonly taskVectors: readonly WeightNode[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function check(tree: SyntaxTree, lines: LineIndex, resolution: Resolution, env: CheckEnvironment): CheckResult {
  return new Checker(tree, lines, resolution, env).run();
}

interface EvaluationCost {
  readonly span: Span;
  readonly count: number;
  /** Sweep points over the statement's models. */
  readonly points: number;
  readonly tasks: number;
  /** max_evaluations= when given. */
  readonly limit: number | undefined;
  readonly sweeps: ReadonlySet<number>;
}

interface BoundArgs {
  readonly values: Map<string, { expr: Expression; value: Value }>;
  readonly variadic: { expr: Expression; value: Value }[];
  readonly ok: boolean;
}

class Checker {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly values = new Map<Binding, Value>();
  private readonly loads = new Map<string, LoadNode>();
  /** The nodes of files merge methods read (LoRA adapters), by path: one node per file. */
  private readonly methodInputs = new Map<string, WeightNode & MethodInput>();
  private readonly sweeps: SweepVar[] = [];
  private readonly saves: { statement: SaveStatement; span: Span; sweeps: ReadonlySet<number> }[] = [];
  private readonly evaluations: EvaluateStatement[] = [];
  private readonly posteriors: PosteriorValue[] = [];
  private readonly pending = new Set<string>();
  private readonly bindingOf = new Map<Statement, Binding>();
  /** The task vectors made so far, in recipe order: the base of fixes is theirs (base-model.ts). */
  private readonly taskVectors: WeightNode[] = [];
  /** The base of `taskVectors` when it last had `vectors` entries: fixes ask often, vectors come rarely. */
  private baseSoFar: { readonly vectors: number; readonly node: WeightNode | undefined } | undefined;
  private readonly evaluatedSweeps = new Set<number>();
  /** What each evaluate(...) will cost a run, for the limit on evaluations. */
  private readonly evaluationCosts: EvaluationCost[] = [];
  /** Per weight node: its longest chain of operations (a load is 1) and how far it can scale its inputs' values. */
  private readonly nodeFacts = new Map<WeightNode, { readonly depth: number; readonly passes: number; readonly scale: number }>();
  /** Per sweep: its number of points and its largest |value|. */
  private readonly sweepFacts = new Map<number, { readonly points: number; readonly magnitude: number }>();
  /** First binding of each name, for calls of a name that is not a function. */
  private firstBindings: Map<string, Binding> | undefined;
  /** Bindings named like a base model, for "the base" in fixes while no vector subtracts one. */
  private baseNamed: readonly Binding[] | undefined;
  private nextId = 1;
  private reportedNonFloat = false;
  /** Warnings about two model folders (config-mismatch), reported once per pair. */
  private readonly reportedConfigWarnings = new Set<string>();
  /** Tied values made untied, by the node they untie (see untied). */
  private readonly untiedNodes = new Map<WeightNode, WeightNode>();
  private readonly typical = new Map<number, number>();
  /** Name given to the value being defined, for sweeps, tasks and nodes. */
  private currentName: string | undefined;
  private readonly tree: SyntaxTree;
  private readonly lines: LineIndex;
  private readonly resolution: Resolution;
  private readonly env: CheckEnvironment;
  private readonly folder: string;

  constructor(tree: SyntaxTree, lines: LineIndex, resolution: Resolution, env: CheckEnvironment) {
    this.tree = tree;
    this.lines = lines;
    this.resolution = resolution;
    this.env = env;
    this.folder = dirname(env.file);
    for (const b of resolution.bindings) this.bindingOf.set(b.statement, b);
  }

  run(): CheckResult {
    for (const statement of this.tree.statements) this.statement(statement);
    this.finishSaves();
    this.finishEvaluations();
    // One push per hint: spreading a list of 100,000 into push() overflows the stack.
    for (const hint of unusedBindings(this.resolution, this.lines)) this.diagnostics.push(hint);
    const program: TypedProgram = {
      file: this.env.file,
      sweeps: this.sweeps,
      saves: this.saves.map((s) => s.statement),
      evaluations: this.evaluations,
      loads: [...this.loads.values()],
      methodInputs: [...this.methodInputs.values()],
      posteriors: this.posteriors,
    };
    return { program, diagnostics: this.diagnostics, values: this.values, pending: [...this.pending], taskVectors: this.taskVectors };
  }

  // ---- statements -----------------------------------------------------------------------

  private statement(statement: Statement): void {
    if (statement.kind === 'assignment') {
      const binding = this.bindingOf.get(statement)!;
      // Sweeps and tasks take the name of the binding they are the whole value of.
      this.currentName = statement.value.kind === 'call' ? statement.target.name : undefined;
      const raw = this.expression(statement.value);
      this.currentName = undefined;
      const value = this.finalize(raw, statement.value);
      if (value.type === 'nothing') {
        this.report(statement.value, 'error', 'type-mismatch', assignedNothingMessage(describeCall(statement.value), statement.target.name));
      }
      this.values.set(binding, isWeights(value) ? this.named(value, statement.target.name) : value);
      return;
    }
    const expression = statement.expression;
    const value = this.finalize(this.expression(expression), expression);
    if (value.type !== 'nothing' && value.type !== 'error' && expression.kind !== 'missing') {
      this.report(expression, 'warning', 'type-mismatch', discardedValueMessage(typeName(value)));
    }
  }

  /** Gives a binding's value its name (nodes are shared, so only the first name sticks). */
  private named(value: WeightsValue, name: string): WeightsValue {
    const node = value.node as Mutable<WeightNode>;
    if (node.name === undefined) node.name = name;
    return value;
  }

  // ---- expressions ----------------------------------------------------------------------

  private expression(e: Expression): Value {
    switch (e.kind) {
      case 'number':
        if (!Number.isFinite(e.value)) {
          this.report(e, 'error', 'non-finite', literalOverflowMessage(e.text));
          return errorValue;
        }
        return { type: 'scalar', poly: P.constant(e.value) };
      case 'string':
        return { type: 'string', value: e.value, span: e };
      case 'bool':
        return { type: 'bool', value: e.value };
      case 'missing':
        return errorValue;
      case 'paren': {
        // A parenthesised Model or Vector is a unit (`c + (b - a)` adds the vector b - a);
        // other combinations stay open so `0.5*(a + b)` can still balance.
        const inner = this.expression(e.inner);
        if (inner.type !== 'combo') return inner;
        const mass = massOf(inner);
        return P.isConstant(mass, 0) || P.isConstant(mass, 1) ? this.finalize(inner, e) : inner;
      }
      case 'list':
        return { type: 'list', items: e.items.map((item) => this.finalize(this.expression(item), item)) };
      case 'name': {
        const binding = this.resolution.targets.get(e);
        if (!binding) return errorValue;
        return this.values.get(binding) ?? errorValue;
      }
      case 'unary': {
        const operand = this.expression(e.operand);
        if (e.operator === '+') return operand;
        return this.scale(operand, P.constant(-1), e, e.operand);
      }
      case 'binary':
        return this.finite(this.binary(e.operator, e.left, e.right, e), e);
      case 'call':
        return this.call(e);
    }
  }

  private binary(operator: '+' | '-' | '*' | '/', leftExpr: Expression, rightExpr: Expression, whole: Span): Value {
    const left = this.expression(leftExpr);
    const right = this.expression(rightExpr);
    if (left.type === 'error' || right.type === 'error') return errorValue;
    if (left.type === 'scalar' && right.type === 'scalar') return this.scalarArithmetic(operator, left.poly, right.poly, rightExpr);
    const leftWeights = left.type === 'combo' || isWeights(left);
    const rightWeights = right.type === 'combo' || isWeights(right);
    if (operator === '+' || operator === '-') {
      if (leftWeights && rightWeights) return this.addCombos(this.asCombo(left), this.asCombo(right), operator === '-' ? -1 : 1, leftExpr, rightExpr);
      if ((leftWeights && right.type === 'scalar') || (rightWeights && left.type === 'scalar')) {
        this.report(whole, 'error', 'invalid-operation', numberWithWeightsMessage(operator, typeName(leftWeights ? left : right)));
        return errorValue;
      }
      return this.operandTypeError(operator, left, right, leftExpr, rightExpr);
    }
    if (operator === '*') {
      if (left.type === 'scalar' && rightWeights) return this.scale(right, left.poly, whole, rightExpr);
      if (right.type === 'scalar' && leftWeights) return this.scale(left, right.poly, whole, leftExpr);
      if (leftWeights && rightWeights) {
        this.report(whole, 'error', 'invalid-operation', weightsProductMessage(typeName(left), typeName(right)));
        return errorValue;
      }
      return this.operandTypeError(operator, left, right, leftExpr, rightExpr);
    }
    // division
    if (leftWeights && right.type === 'scalar') {
      const divisor = this.constantDivisor(right.poly, rightExpr);
      return divisor === undefined ? errorValue : this.scale(left, P.constant(1 / divisor), whole, leftExpr);
    }
    if (rightWeights) {
      this.report(rightExpr, 'error', 'invalid-operation', divisionByWeightsMessage(typeName(right)));
      return errorValue;
    }
    return this.operandTypeError(operator, left, right, leftExpr, rightExpr);
  }

  /** Reports a folded number or coefficient that is not finite (an overflow, Infinity - Infinity) and absorbs it. */
  private finite(v: Value, span: Span): Value {
    const polys = v.type === 'scalar' ? [v.poly] : v.type === 'combo' ? v.terms.map((t) => t.coef) : [];
    for (const poly of polys) {
      const reach = this.magnitude(poly);
      if (Number.isFinite(reach)) continue;
      const facts = { excerpt: this.excerpt(span), folded: v.type === 'scalar' ? 'number' : 'coefficient', reach, dependsOnSweep: P.asConstant(poly) === undefined } as const;
      this.report(span, 'error', 'non-finite', foldedMessage(facts));
      return errorValue;
    }
    return v;
  }

  /** The largest |value| a coefficient takes over the sweep ranges (NaN when it is NaN). */
  private magnitude(poly: P.Poly): number {
    return P.magnitude(poly, (id) => this.sweepFacts.get(id)?.magnitude ?? 1);
  }

  /**
   * Records a new node's depth and scale (computed from its inputs', never by walking the
   * graph); reports and returns false when the chain is too deep or its values overflow.
   */
  private track(node: WeightNode, span: Span, linear?: ReadonlyMap<WeightNode, P.Poly>): boolean {
    const facts = (n: WeightNode): { depth: number; passes: number; scale: number } => this.nodeFacts.get(n) ?? { depth: 1, passes: 0, scale: 1 };
    const inputs = nodeInputs(node);
    let depth = 1;
    let passes = 0;
    for (const input of inputs) {
      depth = Math.max(depth, facts(input).depth + 1);
      passes = Math.max(passes, facts(input).passes);
    }
    if (isMethodNode(node) && methodOf(node).statistics) passes++;
    let scale = 0;
    if (linear) {
      for (const coef of linear.values()) scale += this.magnitude(coef);
    } else if (node.op === 'combine') {
      for (const t of node.terms) scale += this.magnitude(t.coef) * facts(t.node).scale;
    } else {
      for (const input of inputs) scale = Math.max(scale, facts(input).scale);
      if (isMethodNode(node)) scale *= methodOf(node).gain?.(node) ?? 1;
    }
    this.nodeFacts.set(node, { depth, passes, scale });
    if (depth > maxChainDepth) {
      this.report(span, 'error', 'chain-too-deep', chainDepthMessage(depth, maxChainDepth));
      return false;
    }
    if (passes > maxStatisticsPasses) {
      this.report(span, 'error', 'chain-too-deep', statisticsPassesMessage(passes, maxStatisticsPasses, statisticsMethods));
      return false;
    }
    if (!Number.isFinite(scale)) {
      this.report(span, 'error', 'non-finite', chainScaleMessage(this.excerpt(span), scale));
      return false;
    }
    return true;
  }

  private operandTypeError(operator: string, left: Value, right: Value, leftExpr: Expression, rightExpr: Expression): Value {
    const bad = isArithmetic(left) ? { v: right, e: rightExpr } : { v: left, e: leftExpr };
    if (bad.v.type === 'ensemble') {
      this.report(bad.e, 'error', 'invalid-operation', ensembleOperandMessage(operator, bad.v.ensemble.members.length));
      return errorValue;
    }
    this.report(bad.e, 'error', 'type-mismatch', operandTypeMessage(operator, typeName(bad.v)));
    return errorValue;
  }

  private scalarArithmetic(operator: '+' | '-' | '*' | '/', a: P.Poly, b: P.Poly, rightExpr: Expression): Value {
    switch (operator) {
      case '+': return { type: 'scalar', poly: P.add(a, b) };
      case '-': return { type: 'scalar', poly: P.add(a, P.scale(b, -1)) };
      case '*': return { type: 'scalar', poly: P.mul(a, b) };
      case '/': {
        const divisor = this.constantDivisor(b, rightExpr);
        return divisor === undefined ? errorValue : { type: 'scalar', poly: P.scale(a, 1 / divisor) };
      }
    }
  }

  private constantDivisor(poly: P.Poly, span: Span): number | undefined {
    const value = P.asConstant(poly);
    if (value === undefined) {
      this.report(span, 'error', 'sweep-nonlinear', 'cannot divide by a sweep value: weights must stay linear in the sweep; multiply by a sweep instead');
      return undefined;
    }
    if (value === 0) {
      this.report(span, 'error', 'division-by-zero', 'division by zero');
      return undefined;
    }
    return value;
  }

  private asCombo(v: Value): ComboValue {
    if (v.type === 'combo') return v;
    const w = v as WeightsValue;
    return { type: 'combo', terms: [{ coef: P.constant(1), value: w }], table: w.node.table, ...(w.partial ? { partial: true } : {}) };
  }

  private scale(v: Value, k: P.Poly, whole: Span, operand: Span): Value {
    if (v.type === 'error') return errorValue;
    if (v.type === 'scalar') return { type: 'scalar', poly: P.mul(v.poly, k) };
    if (v.type !== 'combo' && !isWeights(v)) {
      this.report(operand, 'error', 'type-mismatch', unscalableMessage(typeName(v)));
      return errorValue;
    }
    void whole;
    const combo = this.asCombo(v);
    return { ...combo, terms: combo.terms.map((t) => ({ coef: P.mul(t.coef, k), value: t.value })) };
  }

  private addCombos(left: ComboValue, right: ComboValue, sign: 1 | -1, leftExpr: Expression, rightExpr: Expression): Value {
    if (left.partial || right.partial) return this.addPartial(left, right, sign, leftExpr, rightExpr);
    if (left.table && right.table) {
      let diff = compareTables(left.table, right.table);
      const nodesOf = (c: ComboValue): WeightNode[] => c.terms.map((t) => t.value.node);
      const finding = this.reportConfigFinding(rightExpr, right.table, nodesOf(right), leftExpr, left.table, nodesOf(left), diff !== undefined);
      if (finding === 'error') return errorValue;
      if (finding) {
        if (finding.side === 'here') right = this.untieCombo(right, finding, rightExpr);
        else left = this.untieCombo(left, finding, leftExpr);
        diff = compareTables(left.table!, right.table!);
      }
      if (diff) {
        const other = this.excerpt(leftExpr);
        const details = diff.first.map((d) => describeDifference(d, 'here', `in ${other}`));
        const oneSideLacks = diff.first.some((d) => !d.left || !d.right);
        this.report(rightExpr, 'error', 'shape-mismatch', operandTablesMessage({ other, count: diff.count, details }, oneSideLacks),
          [{ span: leftExpr, message: 'the other operand' }]);
        return errorValue;
      }
    }
    return { type: 'combo', terms: addTerms(left, right, sign), table: left.table && right.table ? left.table : undefined };
  }

  /**
   * A sum with a partial Vector (zero outside its tensors, a LoRA adapter's): its tensors must
   * be in the other operand with the same shapes, and the sum has the other operand's table
   * (two partial ones: the tensors of both, and the sum stays partial).
   */
  private addPartial(left: ComboValue, right: ComboValue, sign: 1 | -1, leftExpr: Expression, rightExpr: Expression): Value {
    const terms = addTerms(left, right, sign);
    if (!left.table || !right.table) return { type: 'combo', terms, table: undefined };
    if (left.partial && right.partial) {
      const diff = compareShared(right.table, left.table);
      if (diff) return this.reportPartialMismatch(diff, rightExpr, right, leftExpr);
      return { type: 'combo', terms, table: unionTables(left.table, right.table), partial: true };
    }
    const [partial, partialExpr, full, fullExpr] = left.partial ? [left, leftExpr, right, rightExpr] : [right, rightExpr, left, leftExpr];
    const diff = compareCovered(partial.table!, full.table!);
    if (diff) return this.reportPartialMismatch(diff, partialExpr, partial, fullExpr);
    return { type: 'combo', terms, table: full.table };
  }

  /** A partial Vector's tensors that the other operand lacks or holds in another shape, reported at the partial one. */
  private reportPartialMismatch(diff: TableComparison, partialExpr: Expression, partial: ComboValue | WeightsValue, otherExpr: Expression): Value {
    const nodes = partial.type === 'combo' ? partial.terms.map((t) => t.value.node) : [partial.node];
    const there = `in ${this.excerpt(otherExpr)}`;
    const details = diff.first.map((d) => {
      const note = nodes.map((n) => (isMethodNode(n) ? methodOf(n).explain?.(n, d.name) : undefined)).find((x) => x !== undefined);
      return `${describeDifference(d, 'here', there)}${note ? ` (${note})` : ''}`;
    });
    this.report(partialExpr, 'error', 'shape-mismatch', partialTablesMessage(this.excerpt(partialExpr), { other: this.excerpt(otherExpr), count: diff.count, details }),
      [{ span: otherExpr, message: 'the other operand' }]);
    return errorValue;
  }

  /** Turns an arithmetic combination into a Model or a Vector at the boundary of an expression, or reports why it is neither. */
  private finalize(v: Value, expr: Expression): Value {
    if (v.type !== 'combo') return v;
    const live = v.terms.filter((t) => t.coef.size > 0);
    if (live.length === 1 && P.isConstant(live[0]!.coef, 1)) return live[0]!.value;
    const mass = massOf(v);
    let kind: WeightKind;
    if (P.isConstant(mass, 1)) kind = 'model';
    else if (P.isConstant(mass, 0)) kind = 'vector';
    else {
      this.reportWeightSum(v, mass, expr);
      return errorValue;
    }
    if (live.length === 0) {
      this.report(expr, 'warning', 'invalid-operation', cancelledTermsMessage);
    }
    const sweeps = new Set<number>();
    for (const t of live) {
      for (const id of P.sweepIds(t.coef)) sweeps.add(id);
      for (const id of t.value.sweeps) sweeps.add(id);
    }
    const node: CombineNode = {
      id: this.nextId++,
      op: 'combine',
      kind,
      table: v.table,
      range: this.lines.range(expr),
      terms: live.map((t) => ({ coef: t.coef, node: t.value.node })),
    };
    const typical = this.typicalPoint();
    const positive = (coef: P.Poly): boolean => P.evaluate(coef, typical) > 0;
    const origins = new Set<WeightNode>();
    const bases = new Set<WeightNode>();
    for (const t of live) {
      if (t.value.type === 'model') {
        const target = positive(t.coef) ? origins : bases;
        for (const o of t.value.origins) target.add(o);
      } else {
        for (const b of t.value.bases) bases.add(b);
      }
    }
    if (kind === 'vector') {
      this.taskVectors.push(node);
    } else if (bases.size > 0 && ![...bases].some((b) => origins.has(b))) {
      this.report(expr, 'warning', 'foreign-base', foreignBaseMessage({ bases: [...bases].map((n) => nodeName(n)), origins: [...origins].map((n) => nodeName(n)) }));
    }
    let linear: Map<WeightNode, P.Poly> | undefined = new Map();
    for (const t of live) {
      if (!t.value.linear) {
        linear = undefined;
        break;
      }
      for (const [n, c] of t.value.linear) linear.set(n, P.add(linear.get(n) ?? P.constant(0), P.mul(c, t.coef)));
    }
    if (linear) for (const [n, c] of linear) if (c.size === 0) linear.delete(n);
    if (!this.track(node, expr, linear)) return errorValue;
    return { type: kind, node, origins: kind === 'model' ? origins : new Set(), bases, linear, sweeps, ...(v.partial && kind === 'vector' ? { partial: true } : {}) };
  }

  private reportWeightSum(v: ComboValue, mass: P.Poly, expr: Expression): void {
    const names = (id: number): string => this.sweeps.find((s) => s.id === id)?.name ?? `sweep${id}`;
    const models = v.terms.filter((t) => t.value.type === 'model' && t.coef.size > 0);
    const operands = plusChain(expr);
    const sumOfModels = operands && operands.length >= 2 && models.length === operands.length && v.terms.every((t) => t.value.type === 'model');
    const facts: WeightSumFacts = {
      sum: P.format(mass, names),
      constantSum: P.asConstant(mass),
      models: models.map((t) => ({ name: nodeName(t.value.node), weight: P.format(t.coef, names) })),
      summands: sumOfModels ? operands.map((o) => this.text(o)) : undefined,
      base: this.likelyBase()?.name,
      text: this.text(expr),
      needsParens: expr.kind === 'binary' && (expr.operator === '+' || expr.operator === '-'),
    };
    this.report(expr, 'error', 'model-weight-sum', weightSumMessage(facts), undefined, weightSumFixes(facts, expr));
  }

  // ---- calls ----------------------------------------------------------------------------

  private call(call: Call): Value {
    const name = call.callee.name;
    const builtin = builtinByName.get(name);
    if (!builtin) {
      const binding = this.firstBinding(name);
      for (const a of call.args) this.expression(a.value);
      if (binding) {
        this.report(call.callee, 'error', 'not-callable', `'${name}' is a ${typeName(this.values.get(binding) ?? errorValue)}, not a function`);
      } else {
        const suggestion = closest(name, builtinByName.keys());
        this.report(call.callee, 'error', 'unknown-function', `unknown function '${name}'${suggestion ? `; did you mean '${suggestion}'?` : ''}`, undefined,
          suggestion ? [{ title: `Change to '${suggestion}'`, edits: [{ span: call.callee, newText: suggestion }], preferred: true }] : undefined);
      }
      return errorValue;
    }
    const args = this.bindArguments(builtin, call);
    if (!args.ok) return errorValue;
    const method = methodByName.get(name);
    if (method) return method.check(args, this.typeRules(call));
    const core = coreBuiltinByName.get(name)!;
    switch (core.name) {
      case 'load': return this.load(call, args);
      case 'save': return this.save(call, args);
      case 'mean': return this.mean(call, args);
      case 'select': return this.selectCall(call, args, 'select');
      case 'exclude': return this.selectCall(call, args, 'exclude');
      case 'sweep': return this.sweep(call, args);
      case 'task': return this.task(call, args);
      case 'evaluate': return this.evaluate(call, args);
      case 'ensemble': return this.ensemble(call, args);
      case 'posterior': return this.posterior(call, args);
      case 'by_tensor': return this.byTensor(args);
      default: return unreachable(core.name);
    }
  }

  /** What a merge method's type rule may ask of the checker, for one call. */
  private typeRules(call: Call): TypeRules {
    return {
      align: (items) => this.alignTables(items),
      derive: (fields, inputs, options = {}) => this.derive(call, fields, inputs, options.kind ?? 'vector', options.coefficients ?? []),
      report: (span, severity, code, message) => this.report(span, severity, code, message),
      input: (path) => this.readInput(path),
      source: (fields, table) => this.source(call, fields, table),
    };
  }

  /** A method's node over the first input's tensor table, as a value of `kind`; tracked like every node. */
  private derive(call: Call, fields: object, inputs: readonly WeightsValue[], kind: WeightKind, coefficients: readonly P.Poly[]): Value {
    const { table, partial } = alignedTable(inputs);
    const node = { id: this.nextId++, kind, table, range: this.lines.range(call), ...fields } as WeightNode;
    const origins = new Set<WeightNode>();
    const bases = new Set<WeightNode>();
    const sweeps = new Set<number>();
    for (const v of inputs) {
      if (kind === 'model') for (const o of v.origins) origins.add(o);
      for (const b of v.bases) bases.add(b);
      for (const s of v.sweeps) sweeps.add(s);
    }
    for (const c of coefficients) for (const id of P.sweepIds(c)) sweeps.add(id);
    if (!this.track(node, call)) return errorValue;
    return { type: kind, node, origins, bases, linear: undefined, sweeps, ...(partial && kind === 'vector' ? { partial: true } : {}) };
  }

  /** A path argument's header, read elsewhere; a missing or broken file is reported at the argument. */
  private readInput(pathArg: StringArg): { readonly path: string; readonly header: CheckpointHeader | undefined } {
    const path = resolve(this.folder, pathArg.value);
    const lookup = this.env.checkpoint(path);
    if (lookup.status === 'pending') this.pending.add(path);
    else if (lookup.status === 'error') this.reportCheckpointError(lookup.error, pathArg.value, path, pathArg.expr);
    return { path, header: lookup.status === 'ok' ? lookup.header : undefined };
  }

  /** A method's node that reads a file (one per path), as a partial Vector over `table`. */
  private source(call: Call, fields: object & { readonly path: string }, table: TensorTable | undefined): Value {
    let node = this.methodInputs.get(fields.path);
    if (!node) {
      node = { id: this.nextId++, kind: 'vector', table, range: this.lines.range(call), ...fields } as WeightNode & MethodInput;
      if (!this.track(node, call)) return errorValue;
      this.methodInputs.set(fields.path, node);
    }
    return { type: 'vector', node, origins: new Set(), bases: new Set(), linear: undefined, sweeps: new Set(), partial: true };
  }

  private bindArguments(builtin: Builtin, call: Call): BoundArgs {
    const values = new Map<string, { expr: Expression; value: Value }>();
    const variadic: { expr: Expression; value: Value }[] = [];
    let ok = true;
    const positional = builtin.params.filter((p) => !p.keywordOnly);
    let position = 0;
    const evaluate = (a: Argument): Value => this.finalize(this.expression(a.value), a.value);
    /** Binds a named parameter once; a second value for it is reported. */
    const bind = (param: Param, arg: Argument, value: Value): void => {
      if (values.has(param.name)) {
        this.report(arg, 'error', 'duplicate-argument', `'${param.name}' is given twice`);
        ok = false;
      } else {
        values.set(param.name, { expr: arg.value, value });
      }
    };
    for (const arg of call.args) {
      const value = evaluate(arg);
      if (arg.keyword) {
        const param = builtin.params.find((p) => p.name === arg.keyword!.name && !p.variadic);
        if (param) {
          bind(param, arg, value);
          continue;
        }
        const names = builtin.params.filter((p) => !p.variadic).map((p) => p.name);
        const suggestion = closest(arg.keyword.name, names);
        this.report(arg.keyword, 'error', 'unknown-argument',
          `${builtin.name}() has no argument '${arg.keyword.name}'${suggestion ? `; did you mean '${suggestion}'?` : `; it takes ${names.join(', ')}`}`, undefined,
          suggestion ? [{ title: `Change to '${suggestion}'`, edits: [{ span: arg.keyword, newText: suggestion }], preferred: true }] : undefined);
        ok = false;
        continue;
      }
      const param = positional[position];
      if (param?.variadic) {
        variadic.push({ expr: arg.value, value });
      } else if (param) {
        bind(param, arg, value);
        position++;
      } else {
        this.report(arg, 'error', 'argument-count', `${builtin.name}() takes ${positional.length} positional argument${positional.length === 1 ? '' : 's'} (${positional.map((p) => p.name).join(', ')}); remove this one or name it`);
        ok = false;
      }
    }
    for (const param of builtin.params) {
      const given = param.variadic ? variadic.length > 0 : values.has(param.name);
      if (!given && (isRequired(param) || param.variadic)) {
        const what = param.variadic ? `at least one ${param.name.replace(/s$/, '')}` : `'${param.name}'`;
        this.report(call.closed ? call : call.callee, 'error', 'argument-count', `${builtin.name}() needs ${what}: ${param.doc}`);
        ok = false;
      }
    }
    for (const param of builtin.params) {
      const arg = values.get(param.name);
      if (arg && !this.checkParamType(builtin, param, arg.value, arg.expr)) ok = false;
    }
    for (const arg of variadic) {
      const param = builtin.params.find((p) => p.variadic)!;
      if (!this.checkParamType(builtin, param, arg.value, arg.expr)) ok = false;
    }
    return { values, variadic, ok };
  }

  /** Checks a value against a parameter's declared type and range; reports and returns false when wrong. */
  private checkParamType(builtin: Builtin, param: Param, value: Value, expr: Expression): boolean {
    if (value.type === 'error') return false;
    const wrong = (): false => {
      const members = value.type === 'ensemble' ? value.ensemble.members.length : undefined;
      const facts = { fn: builtin.name, param: param.name, wanted: param.type, given: value.type, givenName: typeName(value), members };
      const needsParens = !(expr.kind === 'name' || expr.kind === 'call' || expr.kind === 'paren');
      const fixes = kindFixes({ wanted: param.type, given: value.type, text: this.text(expr), needsParens, base: this.likelyBase()?.name }, expr);
      this.report(expr, 'error', 'type-mismatch', argumentTypeMessage(facts), undefined, fixes);
      return false;
    };
    switch (param.type) {
      case 'model':
        if (value.type !== 'model') return wrong();
        return true;
      case 'evaluand':
        return value.type === 'model' || value.type === 'ensemble' ? true : wrong();
      case 'mixture':
        if (value.type === 'posterior') return true;
        return this.checkParamType(builtin, { ...param, type: 'numbers' }, value, expr);
      case 'task':
        return value.type === 'task' ? true : wrong();
      case 'vector':
        if (value.type !== 'vector') return wrong();
        return true;
      case 'weights':
        return isWeights(value) ? true : wrong();
      case 'scalar':
      case 'number': {
        if (param.perTensor && (value.type === 'list' || value.type === 'per-tensor')) return this.checkPerTensor(builtin, param, value, expr);
        if (value.type !== 'scalar') return wrong();
        const constant = P.asConstant(value.poly);
        if (constant === undefined) {
          if (param.type === 'number') {
            this.report(expr, 'error', 'sweep-nonlinear', `'${param.name}' of ${builtin.name}() must be a fixed number, not a sweep`);
            return false;
          }
          return true;
        }
        return this.checkRange(builtin, param, constant, expr);
      }
      case 'numbers': {
        if (value.type !== 'list') return wrong();
        let ok = true;
        value.items.forEach((item, i) => {
          if (item.type !== 'scalar' || P.asConstant(item.poly) === undefined) {
            this.report(expr.kind === 'list' ? expr.items[i]! : expr, 'error', 'type-mismatch', fixedNumbersMessage(param.name));
            ok = false;
          }
        });
        return ok;
      }
      case 'string': {
        if (value.type !== 'string') return wrong();
        if (param.choices && !param.choices.includes(value.value)) {
          const suggestion = closest(value.value, param.choices);
          this.report(expr, 'error', 'invalid-value', `'${param.name}' must be one of ${param.choices.map((c) => `"${c}"`).join(', ')}`, undefined,
            suggestion ? [{ title: `Change to "${suggestion}"`, edits: [{ span: expr, newText: JSON.stringify(suggestion) }], preferred: true }] : undefined);
          return false;
        }
        return true;
      }
      case 'strings':
        if (value.type === 'string') return true;
        if (value.type === 'list' && value.items.every((i) => i.type === 'string')) return true;
        return wrong();
      case 'bool':
        return value.type === 'bool' ? true : wrong();
      case 'tasks':
        if (value.type === 'task') return true;
        if (value.type === 'list' && value.items.every((i) => i.type === 'task' || i.type === 'error')) return true;
        return wrong();
      case 'tensor-rule':
        // by_tensor's own rule checks the pairs and their numbers, naming the filter.
        return value.type === 'string' || value.type === 'scalar' || value.type === 'list' ? true : wrong();
    }
  }

  /** A per-tensor argument's every number against the parameter's range (a gradient or by_tensor's values). */
  private checkPerTensor(builtin: Builtin, param: Param, value: ListValue | PerTensorValue, expr: Expression): boolean {
    if (value.type === 'list') {
      const gradient = this.gradientOf(param.name, value, expr);
      return gradient !== undefined && gradient.every((x, i) => this.checkRange(builtin, param, x, expr.kind === 'list' ? expr.items[i]! : expr));
    }
    return value.rules.every((rule) => rule.values.every((x) => this.checkRange(builtin, param, x, expr)));
  }

  /** The numbers of a gradient (a list of fixed numbers, or one number), or undefined after reporting why not. */
  private gradientOf(what: string, value: Value, expr: Expression): number[] | undefined {
    const items = value.type === 'list' ? value.items : [value];
    if (items.length === 0) {
      this.report(expr, 'error', 'invalid-value', `'${what}' is an empty list: a gradient needs at least one number`);
      return undefined;
    }
    const numbers: number[] = [];
    items.forEach((item, i) => {
      const constant = item.type === 'scalar' ? P.asConstant(item.poly) : undefined;
      if (constant === undefined) this.report(expr.kind === 'list' ? expr.items[i]! : expr, 'error', 'type-mismatch', fixedNumbersMessage(what));
      else numbers.push(constant);
    });
    return numbers.length === items.length ? numbers : undefined;
  }

  private checkRange(builtin: Builtin, param: Param, x: number, expr: Expression): boolean {
    const problems: string[] = [];
    if (param.min !== undefined && x < param.min) problems.push(`>= ${param.min}`);
    if (param.max !== undefined && x > param.max) problems.push(`<= ${param.max}`);
    if (param.above !== undefined && x <= param.above) problems.push(`> ${param.above}`);
    if (param.below !== undefined && x >= param.below) problems.push(`< ${param.below}`);
    if (param.integer && !Number.isInteger(x)) problems.push('a whole number');
    else if (param.integer && !Number.isSafeInteger(x)) problems.push(`at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1: larger integers are not exact as 64-bit floats)`);
    if (problems.length === 0) return true;
    this.report(expr, 'error', 'invalid-value', `'${param.name}' of ${builtin.name}() must be ${problems.join(' and ')}, but is ${P.formatNumber(x)}`);
    return false;
  }

  private arg(args: BoundArgs, name: string): Value | undefined {
    return args.values.get(name)?.value;
  }

  private numberArg(args: BoundArgs, name: string, fallback: number): number {
    const v = this.arg(args, name);
    return v?.type === 'scalar' ? (P.asConstant(v.poly) ?? fallback) : fallback;
  }

  private stringsArg(args: BoundArgs, name: string): string[] | undefined {
    const v = this.arg(args, name);
    if (v?.type === 'string') return [v.value];
    if (v?.type === 'list') return v.items.flatMap((i) => (i.type === 'string' ? [i.value] : []));
    return undefined;
  }

  private load(call: Call, args: BoundArgs): Value {
    const pathArg = args.values.get('path')!;
    const path = (pathArg.value as { value: string }).value;
    const absolute = resolve(this.folder, path);
    let load = this.loads.get(absolute);
    if (!load) {
      const lookup = this.env.checkpoint(absolute);
      let header: CheckpointHeader | undefined;
      if (lookup.status === 'pending') this.pending.add(absolute);
      else if (lookup.status === 'error') this.reportCheckpointError(lookup.error, path, absolute, pathArg.expr);
      else header = lookup.header;
      if (header?.loraAdapter) {
        this.report(call.callee, 'error', 'type-mismatch', adapterAsModelMessage(path), undefined, adapterAsModelFixes(path, call.callee));
        return errorValue;
      }
      const node: Mutable<LoadNode> = {
        id: this.nextId++,
        op: 'load',
        kind: 'model',
        path: absolute,
        header,
        table: header ? tableOf(header) : undefined,
        range: this.lines.range(call),
      };
      load = node;
      this.loads.set(absolute, load);
      if (header && !this.reportedNonFloat) this.reportedNonFloat = this.reportNonFloat(header, pathArg.expr);
    } else if (!load.header && !this.pending.has(absolute)) {
      const lookup = this.env.checkpoint(absolute);
      if (lookup.status === 'error') this.reportCheckpointError(lookup.error, path, absolute, pathArg.expr);
    }
    const value: WeightsValue = { type: 'model', node: load, origins: new Set([load]), bases: new Set(), linear: new Map([[load, P.constant(1)]]), sweeps: new Set() };
    const include = this.stringsArg(args, 'select');
    const exclude = this.stringsArg(args, 'exclude');
    if (!include && !exclude) return value;
    return this.narrow(value, include ?? null, exclude ?? [], call, (pattern) => patternSpan(args.values.get('select')?.expr, pattern) ?? patternSpan(args.values.get('exclude')?.expr, pattern) ?? call);
  }

  private reportCheckpointError(error: CheckpointError, written: string, absolute: string, span: Span): void {
    if (error.code === 'not-found' && error.file !== absolute) {
      this.report(span, 'error', 'file-not-found', `${written} refers to ${error.file}, which does not exist`);
    } else if (error.code === 'not-found') {
      this.report(span, 'error', 'file-not-found', `checkpoint not found: ${written}${written === absolute ? '' : ` (looked for ${absolute})`}`);
    } else {
      this.report(span, 'error', 'bad-checkpoint', `cannot use ${written}: ${error.message} [${error.code}]`);
    }
  }

  /** Reported once per recipe, at the first checkpoint that has such tensors. */
  private reportNonFloat(header: CheckpointHeader, span: Span): boolean {
    const names = [...header.tensors.values()].filter((t) => !isFloat(t.dtype)).map((t) => `${t.name} (${t.dtype})`);
    if (names.length === 0) return false;
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? `, and ${names.length - 3} more` : '');
    const one = names.length === 1;
    this.report(span, 'info', 'non-float-tensors', `${one ? 'one integer/bool tensor' : `${names.length} integer/bool tensors`} (${shown}) ${one ? 'is' : 'are'} not combined: a run copies ${one ? 'it' : 'them'} unchanged from the anchor model`);
    return true;
  }

  private narrow(value: WeightsValue, include: readonly string[] | null, exclude: readonly string[], call: Call, spanOf: (pattern: string) => Span): Value {
    let table: TensorTable | undefined;
    if (value.node.table) {
      const narrowed = narrowTable(value.node.table, include, exclude);
      for (const pattern of narrowed.unmatched) {
        this.report(spanOf(pattern), 'warning', 'empty-selection', `pattern "${pattern}" matches no tensor of ${nodeName(value.node)}`);
      }
      if (narrowed.table.size === 0) {
        this.report(spanOf((include ?? exclude)[0] ?? ''), 'error', 'empty-selection', `this selection keeps none of the ${value.node.table.size} tensors of ${nodeName(value.node)}`);
        return errorValue;
      }
      table = narrowed.table;
    }
    const node: WeightNode = {
      id: this.nextId++,
      op: 'select',
      kind: value.type,
      input: value.node,
      include,
      exclude,
      table,
      range: this.lines.range(call),
    };
    if (!this.track(node, call, value.linear)) return errorValue;
    return { ...value, node };
  }

  private selectCall(call: Call, args: BoundArgs, which: 'select' | 'exclude'): Value {
    const value = args.values.get('value')!.value as WeightsValue;
    const patterns = args.variadic.map((a) => (a.value as { value: string }).value);
    const spanOf = (pattern: string): Span => args.variadic.find((a) => (a.value as { value: string }).value === pattern)?.expr ?? call;
    return this.narrow(value, which === 'select' ? patterns : null, which === 'exclude' ? patterns : [], call, spanOf);
  }

  /**
   * The values of `items` with one tensor table, or undefined after reporting why they
   * cannot have one. A tied model among untied ones is untied (its head read from its
   * embedding); the others are returned as they are.
   */
  private alignTables(items: readonly { expr: Expression; value: Value }[]): WeightsValue[] | undefined {
    const values = items.map((i) => i.value as WeightsValue);
    // Compared with the value of the most tensors: an untied model, when tied ones are among them, so each tied one is untied against it.
    let reference = -1;
    values.forEach((v, i) => {
      if (isWeights(v) && v.node.table && !v.partial && (reference < 0 || v.node.table.size > values[reference]!.node.table!.size)) reference = i;
    });
    // Partial Vectors (a LoRA adapter's) fit the reference, or, all partial, one another.
    let union: { table: TensorTable; expr: Expression } | undefined;
    for (let i = 0; i < items.length; i++) {
      const value = values[i]!;
      if (!isWeights(value) || !value.node.table || !value.partial) continue;
      const there = reference >= 0 ? { table: values[reference]!.node.table!, expr: items[reference]!.expr } : union;
      const diff = there && (reference >= 0 ? compareCovered(value.node.table, there.table) : compareShared(value.node.table, there.table));
      if (diff) {
        this.reportPartialMismatch(diff, items[i]!.expr, value, there!.expr);
        return undefined;
      }
      union = { table: union ? unionTables(union.table, value.node.table) : value.node.table, expr: union?.expr ?? items[i]!.expr };
    }
    if (reference < 0) return values;
    const there = items[reference]!;
    const thereTable = values[reference]!.node.table!;
    for (let i = 0; i < items.length; i++) {
      const value = values[i]!;
      if (i === reference || !isWeights(value) || !value.node.table || value.partial) continue;
      let diff = compareTables(thereTable, value.node.table);
      const finding = this.reportConfigFinding(items[i]!.expr, value.node.table, [value.node], there.expr, thereTable, [values[reference]!.node], diff !== undefined);
      if (finding === 'error') return undefined;
      // The reference has the most tensors, so a tied side can only be this one.
      if (finding?.side === 'here') {
        values[i] = this.untied(value, finding, items[i]!.expr);
        diff = compareTables(thereTable, values[i]!.node.table!);
      }
      if (diff) {
        const other = this.excerpt(there.expr);
        const details = diff.first.map((d) => describeDifference(d, 'here', `in ${other}`));
        this.report(items[i]!.expr, 'error', 'shape-mismatch', alignedTablesMessage({ other, count: diff.count, details }),
          [{ span: there.expr, message: 'compared with this operand' }]);
        return undefined;
      }
    }
    return values;
  }

  /**
   * Reports what model folders' configurations say against combining `here` with `there`
   * (config-mismatch, vocab-mismatch, tied-embeddings): 'error' when that was an error, the
   * side to untie when a tied model meets an untied one, else undefined.
   */
  private reportConfigFinding(hereExpr: Expression, hereTable: TensorTable, hereNodes: readonly WeightNode[], thereExpr: Expression, thereTable: TensorTable, thereNodes: readonly WeightNode[], tablesDiffer: boolean): 'error' | ({ readonly side: 'here' | 'there' } & TiedHead) | undefined {
    const side = (table: TensorTable, nodes: readonly WeightNode[], expr: Expression) => ({ table, loads: mergeSources(nodes.map(configuredLoads)), name: this.excerpt(expr) });
    const finding = compareModels(side(hereTable, hereNodes, hereExpr), side(thereTable, thereNodes, thereExpr), tablesDiffer, (load) => nodeName(load));
    if (!finding) return undefined;
    const repeated = finding.key !== undefined && this.reportedConfigWarnings.has(finding.key);
    if (finding.key !== undefined) this.reportedConfigWarnings.add(finding.key);
    if (!repeated) this.report(hereExpr, finding.severity, finding.code, finding.message, [{ span: thereExpr, message: 'the other operand' }]);
    if (finding.severity === 'error') return 'error';
    return finding.untie;
  }

  /** Every term of a tied combination untied (they share its table). */
  private untieCombo(combo: ComboValue, tie: TiedHead, expr: Expression): ComboValue {
    const terms = combo.terms.map((t) => ({ coef: t.coef, value: this.untied(t.value, tie, expr) }));
    return { type: 'combo', terms, table: terms[0]?.value.node.table ?? combo.table };
  }

  /** `value` with its tied head made explicit (one node per value, so repeated uses stay one term). */
  private untied(value: WeightsValue, tie: TiedHead, span: Span): WeightsValue {
    const input = value.node;
    if (!input.table || input.table.has(tie.head) || !input.table.has(tie.embedding)) return value;
    const known = this.untiedNodes.get(input);
    if (known) return { ...value, node: known };
    const table = new Map(input.table).set(tie.head, input.table.get(tie.embedding)!);
    const node: WeightNode = { id: this.nextId++, op: 'select', kind: value.type, input, include: null, exclude: [], untie: tie, table, range: input.range };
    this.untiedNodes.set(input, node);
    this.track(node, span, value.linear);
    return { ...value, node };
  }

  private mean(call: Call, args: BoundArgs): Value {
    const items = args.variadic;
    const kinds = new Set(items.map((i) => (i.value as WeightsValue).type));
    if (kinds.size > 1) {
      const first = items[0]!.value as WeightsValue;
      const odd = items.find((i) => (i.value as WeightsValue).type !== first.type)!;
      this.report(odd.expr, 'error', 'type-mismatch', mixedMeanMessage(typeName(odd.value), typeName(first)));
      return errorValue;
    }
    const values = this.alignTables(items);
    if (!values) return errorValue;
    let weights: P.Poly[] = values.map(() => P.constant(1 / values.length));
    const given = this.arg(args, 'weights');
    const weightsExpr = args.values.get('weights')?.expr;
    if (given?.type === 'posterior') {
      if (!this.sameMembers(given.posterior, items, weightsExpr!, 'mean')) return errorValue;
      weights = posteriorCoefficients(given.posterior);
    } else if (given?.type === 'list') {
      const normalized = this.normalizedWeights(given, values.length, weightsExpr!, 'mean');
      if (!normalized) return errorValue;
      weights = normalized.map((w) => P.constant(w));
    }
    const { table, partial } = alignedTable(values);
    const combo: ComboValue = {
      type: 'combo',
      terms: values.map((v, i) => ({ coef: weights[i]!, value: v })),
      table,
      ...(partial ? { partial: true } : {}),
    };
    const merged = this.finalize(mergeDuplicateTerms(combo), call);
    if (isWeights(merged) && merged.node.op === 'combine') (merged.node as Mutable<CombineNode>).range = this.lines.range(call);
    return merged;
  }

  /** Fixed weights of a list, normalised to sum to 1; reports and returns undefined when they cannot be. */
  private normalizedWeights(given: ListValue, count: number, span: Span, fn: string): number[] | undefined {
    const raw = given.items.map((i) => (i.type === 'scalar' ? (P.asConstant(i.poly) ?? 0) : 0));
    const sum = raw.reduce((a, b) => a + b, 0);
    if (!Number.isFinite(sum)) {
      this.report(span, 'error', 'non-finite', weightsSumMessage(sum));
      return undefined;
    }
    if (raw.length !== count) {
      this.report(span, 'error', 'argument-count', `${fn}() got ${count} values but ${raw.length} weights`);
      return undefined;
    }
    if (raw.some((w) => w < 0) || sum <= 0) {
      this.report(span, 'error', 'invalid-value', 'weights must be non-negative with a positive sum');
      return undefined;
    }
    return raw.map((w) => w / sum);
  }

  /** A posterior given as weights must weigh exactly these models, in this order. */
  private sameMembers(posterior: PosteriorValue, items: readonly { readonly value: Value }[], span: Span, fn: string): boolean {
    const nodes = items.map((i) => (i.value as WeightsValue).node);
    if (nodes.length === posterior.members.length && nodes.every((n, i) => n === posterior.members[i])) return true;
    const names = (list: readonly WeightNode[]): string => list.map((n) => nodeName(n).replace(/^'(.*)'$/, '$1')).join(', ');
    this.report(span, 'error', 'invalid-value', `weights=${posterior.name} weighs (${names(posterior.members)}), but this ${fn}(...) has (${names(nodes)}): a posterior's weights belong to its models in its order; list the same models in the same order`);
    return false;
  }

  /** Models an ensemble or a posterior is over: fixed points, since each is evaluated as it is. */
  private fixedMembers(fn: 'ensemble' | 'posterior', items: readonly { readonly expr: Expression; readonly value: Value }[]): boolean {
    let ok = true;
    for (const item of items) {
      const value = item.value as WeightsValue;
      if (value.sweeps.size === 0) continue;
      const sweeps = [...value.sweeps].map((id) => this.sweeps.find((s) => s.id === id)?.name ?? String(id)).join(', ');
      this.report(item.expr, 'error', 'invalid-value', `${fn}(...) takes fixed models, and this one depends on ${sweeps}: evaluate it on its own to choose the value, or save it at the chosen point and load it`);
      ok = false;
    }
    return ok;
  }

  private ensemble(call: Call, args: BoundArgs): Value {
    const items = args.variadic;
    if (!this.fixedMembers('ensemble', items)) return errorValue;
    // Mixed token by token, so the models must read text the same way: the same tensors, a shared vocabulary.
    if (!this.alignTables(items)) return errorValue;
    const members = items.map((i) => (i.value as WeightsValue).node);
    const given = this.arg(args, 'weights');
    const weightsExpr = args.values.get('weights')?.expr;
    let weights: readonly number[] | PosteriorValue = members.map(() => 1 / members.length);
    if (given?.type === 'posterior') {
      if (!this.sameMembers(given.posterior, items, weightsExpr!, 'ensemble')) return errorValue;
      weights = given.posterior;
    } else if (given?.type === 'list') {
      const normalized = this.normalizedWeights(given, members.length, weightsExpr!, 'ensemble');
      if (!normalized) return errorValue;
      weights = normalized;
    }
    const line = this.lines.position(call.start).line + 1;
    return { type: 'ensemble', ensemble: { name: this.currentName ?? `ensemble@${line}`, members, weights, range: this.lines.range(call) } };
  }

  /** by_tensor("filter", value, ..., default=value): filters and values alternate. */
  private byTensor(args: BoundArgs): Value {
    const rules: TensorRule[] = [];
    for (let i = 0; i < args.variadic.length; i += 2) {
      const filter = args.variadic[i]!;
      const given = args.variadic[i + 1];
      if (filter.value.type !== 'string') {
        this.report(filter.expr, 'error', 'type-mismatch', `by_tensor() takes a filter string, then its value: argument ${i + 1} should be a filter such as "self_attn"`);
        return errorValue;
      }
      if (!given) {
        this.report(filter.expr, 'error', 'argument-count', `by_tensor() has no value for filter "${filter.value.value}": give a number or a gradient after it`);
        return errorValue;
      }
      if (given.value.type === 'string') {
        this.report(given.expr, 'error', 'type-mismatch', `by_tensor() takes a value after filter "${filter.value.value}": a number or a list of numbers, not another filter`);
        return errorValue;
      }
      const values = this.gradientOf(`the value of "${filter.value.value}"`, given.value, given.expr);
      if (!values) return errorValue;
      rules.push({ filter: filter.value.value, values });
    }
    const fallback = args.values.get('default');
    if (fallback) {
      if (fallback.value.type === 'string') {
        this.report(fallback.expr, 'error', 'type-mismatch', 'by_tensor()\'s default is a number or a list of numbers (a gradient), not a filter');
        return errorValue;
      }
      const values = this.gradientOf('default', fallback.value, fallback.expr);
      if (!values) return errorValue;
      rules.push({ filter: null, values });
    }
    return { type: 'per-tensor', rules };
  }

  private posterior(call: Call, args: BoundArgs): Value {
    const items = args.variadic;
    if (!this.fixedMembers('posterior', items)) return errorValue;
    if (items.length < 2) {
      this.report(call, 'error', 'argument-count', 'posterior() weighs two models or more');
      return errorValue;
    }
    const taskArg = args.values.get('task')!;
    const task = (taskArg.value as TaskVal).task;
    if (task.command !== undefined || !isTextDataPath(task.data)) {
      this.report(taskArg.expr, 'error', 'invalid-value', `posterior(...) weighs models by the likelihood of text under each: task '${task.name}' must be a text task (.jsonl) that the built-in causal language model evaluator scores${task.command !== undefined ? ', not an external command' : ''}`);
      return errorValue;
    }
    const topkArg = this.arg(args, 'topk');
    const topk = topkArg?.type === 'scalar' ? P.asConstant(topkArg.poly) : undefined;
    if (topk !== undefined && topk > items.length) {
      this.report(args.values.get('topk')!.expr, 'error', 'invalid-value', `topk=${topk} keeps more models than the ${items.length} given`);
      return errorValue;
    }
    const line = this.lines.position(call.start).line + 1;
    const name = this.currentName ?? `posterior@${line}`;
    const members = items.map((i) => (i.value as WeightsValue).node);
    const id = this.nextId++;
    const range = this.lines.range(call);
    // One coordinate per weight but the last (one minus the others): the uniform weight until the run estimates it.
    const variables = members.slice(0, -1).map((member) => {
      const variable: SweepVar = { id: this.nextId++, name: `${name}[${nodeName(member).replace(/^'(.*)'$/, '$1')}]`, values: [1 / members.length], range, posterior: id };
      this.sweeps.push(variable);
      this.typical.set(variable.id, 1 / members.length);
      this.sweepFacts.set(variable.id, { points: 1, magnitude: 1 });
      return variable.id;
    });
    const posterior: PosteriorValue = { id, name, members, task, documents: this.numberArg(args, 'n', 100), topk, variables, range };
    this.posteriors.push(posterior);
    return { type: 'posterior', posterior };
  }

  private sweep(call: Call, args: BoundArgs): Value {
    let values: number[];
    const explicit = this.arg(args, 'values');
    if (explicit?.type === 'list') {
      values = explicit.items.map((i) => (i.type === 'scalar' ? (P.asConstant(i.poly) ?? 0) : 0));
      if (values.length === 0) {
        this.report(args.values.get('values')!.expr, 'error', 'invalid-value', 'a sweep needs at least one value');
        return errorValue;
      }
    } else {
      const start = this.numberArg(args, 'start', 0);
      const stop = this.numberArg(args, 'stop', 1);
      const step = this.numberArg(args, 'step', 0.05);
      if (stop < start) {
        this.report(call, 'error', 'invalid-value', `a sweep from ${start} to ${stop} is empty: stop must be >= start`);
        return errorValue;
      }
      const count = Math.floor((stop - start) / step + 1e-9) + 1;
      if (count > 10_000) {
        this.report(call, 'error', 'invalid-value', `this sweep has ${count} points; use a coarser step (at most 10000 points)`);
        return errorValue;
      }
      // Round away float drift (0.15000000000000002) at the precision the numbers were written with.
      const scale = 10 ** Math.min(12, decimals(start) + decimals(step));
      values = Array.from({ length: count }, (_, i) => Math.round((start + i * step) * scale) / scale);
    }
    const line = this.lines.position(call.start).line + 1;
    const sweep: SweepVar = { id: this.nextId++, name: this.currentName ?? `sweep@${line}`, values, range: this.lines.range(call) };
    this.sweeps.push(sweep);
    this.typical.set(sweep.id, values[Math.floor(values.length / 2)]!);
    this.sweepFacts.set(sweep.id, { points: values.length, magnitude: values.reduce((m, x) => Math.max(m, Math.abs(x)), 0) });
    return { type: 'scalar', poly: P.variable(sweep.id) };
  }

  private task(call: Call, args: BoundArgs): Value {
    const dataArg = args.values.get('data')!;
    const dataPath = resolve(this.folder, (dataArg.value as { value: string }).value);
    const written = (dataArg.value as { value: string }).value;
    const text = isTextDataPath(dataPath);
    const headArg = args.values.get('head')?.value as WeightsValue | undefined;
    const finetunedArg = this.arg(args, 'finetuned') as WeightsValue | undefined;
    // A text task's model is its own head; its fine-tuned reference defaults to the recipe's base.
    const head = headArg?.node ?? finetunedArg?.node ?? (text ? this.likelyBase() : undefined);
    if (!head) {
      this.report(call, 'error', 'invalid-value', text
        ? `task on ${written} has no reference model: name one with finetuned=..., e.g. task("${written}", finetuned=base)`
        : `task on ${written} needs head=...: the model whose network and head complete the evaluated models (only text tasks, .jsonl, go without one)`);
      return errorValue;
    }
    const finetuned = finetunedArg?.node ?? head;
    const nameArg = this.arg(args, 'name');
    const commandArg = this.arg(args, 'command');
    const metricArg = this.arg(args, 'metric');
    const command = commandArg?.type === 'string' ? commandArg.value : undefined;
    if (text) this.checkTextData(dataArg.expr, dataPath, written, command !== undefined);
    else this.checkTensorData(dataArg.expr, dataPath, written, command !== undefined);
    const task: TaskValue = {
      name: nameArg?.type === 'string' ? nameArg.value : this.currentName ?? written.replace(/^.*\//, '').replace(/\.[^.]*$/, ''),
      data: dataPath,
      head,
      finetuned,
      metric: metricArg?.type === 'string' ? metricArg.value : 'accuracy',
      ...(command !== undefined ? { command } : {}),
      range: this.lines.range(call),
    };
    return { type: 'task', task };
  }

  /** A tensor data file: the inputs and labels of both splits present. */
  private checkTensorData(expr: Expression, path: string, written: string, command: boolean): void {
    const lookup = this.readData(this.env.checkpoint(path), expr, path, written, 'evaluation data', command);
    if (!lookup) return;
    const missing = ['validation/x', 'validation/y', 'test/x', 'test/y'].filter((n) => !lookup.header.tensors.has(n));
    if (missing.length > 0) {
      this.report(expr, 'error', 'missing-evaluation-data', `${written} lacks the tensors ${missing.join(', ')} (see docs/evaluation.md for the data layout)`);
    }
  }

  /** A JSON Lines data file: both splits present, every line a JSON object with "text" and "split". */
  private checkTextData(expr: Expression, path: string, written: string, command: boolean): void {
    const lookup = this.readData(this.env.textData?.(path) ?? { status: 'pending' }, expr, path, written, 'text evaluation data', command);
    if (!lookup) return;
    const { summary } = lookup;
    if (summary.problemCount > 0) {
      const shown = summary.problems.slice(0, 3).map((p) => `line ${p.line} ${p.message}`).join('; ');
      const more = summary.problemCount > 3 ? `; and ${summary.problemCount - 3} more line${summary.problemCount - 3 === 1 ? '' : 's'}` : '';
      const lines = summary.problemCount === 1 ? '1 line is' : `${formatExactCount(summary.problemCount)} lines are`;
      this.report(expr, 'error', 'missing-evaluation-data', `${written}: ${lines} not text examples: ${shown}${more}. Each line is one JSON object, {"text": "...", "split": "validation"} (or "test")`);
    }
    const missing = TEXT_SPLITS.filter((split) => summary.examples[split] === 0);
    if (missing.length > 0) {
      this.report(expr, 'error', 'missing-evaluation-data', `${written} has no examples of the ${missing.map((m) => `"${m}"`).join(' and ')} split${missing.length > 1 ? 's' : ''}: text data needs lines with "split": "validation" and lines with "split": "test" (see docs/evaluation.md)`);
    }
  }

  /**
   * A sequence classifier (a model folder whose config.json names a ...ForSequenceClassification
   * head) on a built-in text task: no perplexity, and every example labelled with one of the
   * head's classes. Reported at the evaluated model, pointing to the task.
   */
  private checkClassifierTask(model: { readonly name: string; readonly node: WeightNode; readonly expr: Expression }, task: TaskValue): void {
    const config = configuredLoads(model.node)[0]?.header?.hfConfig;
    const head = config?.architectures.find((a) => a.endsWith('ForSequenceClassification'));
    if (!config || !head) return;
    const classifier = `${model.name} is a sequence classifier (${head})`;
    const related = [{ span: { start: this.lines.offset(task.range.start), end: this.lines.offset(task.range.end) }, message: `task '${task.name}'` }];
    if (task.metric === 'perplexity') {
      this.report(model.expr, 'error', 'invalid-value', `task '${task.name}' asks for perplexity, but ${classifier}: perplexity scores a language model's next tokens; use metric="accuracy" or "loss"`, related);
    }
    const lookup = this.env.textData?.(task.data);
    if (lookup?.status !== 'ok') return;
    const { summary } = lookup;
    const data = relative(this.folder, task.data);
    const examples = summary.examples.validation + summary.examples.test;
    if (summary.firstUnlabelledLine !== undefined) {
      const unlabelled = examples - summary.labelled;
      const which = summary.labelled === 0 ? 'no line has a "label"' : `line ${summary.firstUnlabelledLine} has no "label"${unlabelled > 1 ? ` (and ${formatExactCount(unlabelled - 1)} more line${unlabelled === 2 ? '' : 's'} lack one)` : ''}`;
      this.report(model.expr, 'error', 'missing-evaluation-data', `task '${task.name}': in ${data}, ${which}, but ${classifier}: each example needs its class, {"text": "...", "label": 0, "split": "validation"}`, related);
    }
    const largest = summary.largestLabel;
    if (largest && largest.label >= config.numLabels) {
      this.report(model.expr, 'error', 'label-out-of-range', `task '${task.name}': ${data} line ${largest.line} has label ${largest.label}, outside the ${config.numLabels} classes of the head of ${model.name} (config.json id2label or num_labels): labels are 0 to ${config.numLabels - 1}`, related);
    }
  }

  /**
   * A task's data file once read, to be checked; undefined while pending, when it cannot be read
   * (reported; only a missing file matters to a task with a command), or when a command evaluates it.
   */
  private readData<L extends CheckpointLookup | TextDataLookup>(lookup: L, expr: Expression, path: string, written: string, use: string, command: boolean): Extract<L, { status: 'ok' }> | undefined {
    if (lookup.status === 'pending') {
      this.pending.add(path);
      return undefined;
    }
    if (lookup.status === 'error') {
      if (lookup.error.code === 'not-found') this.report(expr, 'error', 'file-not-found', `data file not found: ${written}`);
      else if (!command) this.report(expr, 'error', 'missing-evaluation-data', `cannot use ${written} as ${use}: ${lookup.error.message}`);
      return undefined;
    }
    return command ? undefined : lookup as Extract<L, { status: 'ok' }>;
  }

  private evaluate(call: Call, args: BoundArgs): Value {
    const tasks = (name: string): TaskValue[] => {
      const v = this.arg(args, name);
      if (v?.type === 'task') return [v.task];
      if (v?.type === 'list') return v.items.flatMap((i) => (i.type === 'task' ? [i.task] : []));
      return [];
    };
    const targets = tasks('targets');
    const controls = tasks('controls');
    const ensembles = args.variadic.flatMap((a) => (a.value.type === 'ensemble' ? [{ ensemble: a.value.ensemble, expr: a.expr }] : []));
    for (const { ensemble, expr } of ensembles) this.checkEnsembleTasks(ensemble, expr, [...targets, ...controls]);
    const models = args.variadic.flatMap((a) => (isWeights(a.value) ? [{ name: nodeName(a.value.node, this.text(a.expr)), node: a.value.node, expr: a.expr, value: a.value }] : []));
    for (const m of models) {
      for (const t of [...targets, ...controls]) {
        if (t.command === undefined && isTextDataPath(t.data)) this.checkClassifierTask(m, t);
        // A built-in text task's model is its own head: nothing completes it.
        if (!m.node.table || !t.head.table || (t.command === undefined && isTextDataPath(t.data))) continue;
        const differences: HeadDifference[] = [];
        for (const [name, spec] of m.node.table) {
          const headShape = t.head.table.get(name)?.shape;
          if (headShape?.join() !== spec.shape.join()) differences.push({ tensor: name, shape: spec.shape, headShape });
        }
        if (differences.length > 0) this.report(m.expr, 'error', 'shape-mismatch', headTablesMessage(m.name, t.name, differences));
      }
      for (const s of m.value.sweeps) this.evaluatedSweeps.add(s);
    }
    const objectiveArg = this.arg(args, 'objective');
    const objective = (objectiveArg?.type === 'string' ? objectiveArg.value : 'add') as EvaluateStatement['objective'];
    const names = new Set(targets.map((t) => t.name));
    for (const c of controls) {
      if (names.has(c.name)) this.report(args.values.get('controls')!.expr, 'error', 'invalid-value', `task '${c.name}' is both a target and a control`);
    }
    // In the order the call lists them, ensembles among models.
    const evaluated = args.variadic.flatMap((a): EvaluatedModel[] => {
      if (a.value.type === 'ensemble') return [{ name: `'${a.value.ensemble.name}'`, node: a.value.ensemble.members[0]!, ensemble: a.value.ensemble }];
      return isWeights(a.value) ? [{ name: nodeName(a.value.node, this.text(a.expr)), node: a.value.node }] : [];
    });
    this.evaluations.push({ models: evaluated, targets, controls, objective, range: this.lines.range(call) });
    this.costEvaluation(call, args, [...models.map((m) => m.value.sweeps), ...ensembles.map(() => new Set<number>())], targets.length + controls.length);
    return nothing;
  }

  /** An ensemble mixes next-token probabilities: its tasks are causal LM text tasks scored by perplexity or loss. */
  private checkEnsembleTasks(ensemble: EnsembleValue, expr: Expression, tasks: readonly TaskValue[]): void {
    for (const task of tasks) {
      const text = task.command === undefined && isTextDataPath(task.data);
      if (text && task.metric !== 'accuracy') continue;
      const why = !text
        ? `task '${task.name}' is ${task.command !== undefined ? 'an external command' : 'not a text task (.jsonl)'}`
        : `task '${task.name}' asks for accuracy`;
      this.report(expr, 'error', 'invalid-value', `${ensemble.name} is an Ensemble: it is evaluated by mixing its models' next-token probabilities on text tasks (.jsonl, built-in causal LM evaluator), with metric="perplexity" or "loss"; ${why}`);
    }
  }

  /** What this evaluate(...) adds to the run, counted from the sweep sizes (the grid is never listed). */
  private costEvaluation(call: Call, args: BoundArgs, modelSweeps: readonly ReadonlySet<number>[], tasks: number): void {
    const grids = modelSweeps.map((ids) => gridSize([...ids].map((id) => this.sweepFacts.get(id)?.points ?? 1)));
    const limit = this.arg(args, 'max_evaluations');
    const sweeps = new Set<number>();
    for (const ids of modelSweeps) for (const id of ids) sweeps.add(id);
    this.evaluationCosts.push({
      span: call,
      count: evaluationCount(grids, tasks),
      points: grids.reduce((a, b) => a + b, 0),
      tasks,
      limit: limit?.type === 'scalar' ? P.asConstant(limit.poly) : undefined,
      sweeps,
    });
  }

  /**
   * The run's evaluations over all evaluate(...) statements against the limit: the largest
   * max_evaluations= given, else the default. Reported at the statement that crosses it.
   */
  private finishEvaluations(): void {
    let limit: number | undefined;
    for (const cost of this.evaluationCosts) if (cost.limit !== undefined) limit = Math.max(limit ?? 0, cost.limit);
    limit ??= defaultMaxEvaluations;
    let total = 0;
    for (const cost of this.evaluationCosts) {
      total += cost.count;
      if (total <= limit) continue;
      const related = [...cost.sweeps].map((id) => this.sweeps.find((s) => s.id === id)!).sort((a, b) => b.values.length - a.values.length).slice(0, 3)
        .map((s) => ({ span: { start: this.lines.offset(s.range.start), end: this.lines.offset(s.range.end) }, message: sweepPointsNote(s.name, s.values.length) }));
      const facts = { count: cost.count, total, points: cost.points, tasks: cost.tasks, limit, ceiling: ceilingMaxEvaluations };
      this.report(cost.span, 'error', 'too-many-evaluations', tooManyEvaluationsMessage(facts), related.length > 0 ? related : undefined);
      return;
    }
  }

  private save(call: Call, args: BoundArgs): Value {
    const value = args.values.get('value')!.value as WeightsValue;
    const pathArg = args.values.get('path')!;
    if (value.partial) {
      // The engine takes dtypes, format and topology from a loaded model (the anchor); a partial Vector has none.
      this.report(args.values.get('value')!.expr, 'error', 'type-mismatch', partialSaveMessage);
      return nothing;
    }
    const path = resolve(this.folder, (pathArg.value as { value: string }).value);
    const dtypeArg = this.arg(args, 'dtype');
    const shardArg = args.values.get('shard_size');
    const overwrite = this.arg(args, 'overwrite');
    let shardBytes: number | undefined;
    if (shardArg && shardArg.value.type === 'string') {
      shardBytes = parseByteSize(shardArg.value.value);
      if (shardBytes === undefined) {
        this.report(shardArg.expr, 'error', 'invalid-value', `cannot read "${shardArg.value.value}" as a size: write e.g. "2GB", "500MB" or "1.5GiB"`);
      }
    }
    const statement: SaveStatement = {
      node: value.node,
      path,
      ...(dtypeArg?.type === 'string' ? { dtype: ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[dtypeArg.value as 'f32'] } : {}),
      ...(shardBytes !== undefined ? { shardBytes } : {}),
      overwrite: overwrite?.type === 'bool' && overwrite.value,
      range: this.lines.range(call),
    };
    this.saves.push({ statement, span: pathArg.expr, sweeps: value.sweeps });
    return nothing;
  }

  private finishSaves(): void {
    const inputs = this.inputLocations();
    // Located only when there is a save: every location is revalidated on each analysis.
    let folder: PathLocation | undefined;
    const seen: { location: PathLocation; span: Span }[] = [];
    for (const { statement, span, sweeps } of this.saves) {
      folder ??= this.where(this.folder);
      const output = this.where(statement.path);
      if (!this.env.allowOutputsOutside && !isWithin(output, folder)) {
        const via = output.real === statement.path ? '' : ` (it leads to ${output.real})`;
        this.report(span, 'error', 'output-outside-folder', `this output would be written outside the recipe's folder${via}: tvr writes outputs only inside ${this.folder}. Save to a path inside it, or allow outputs elsewhere (tvr run --allow-outputs-outside, or the setting tvr.run.allowOutputsOutside; never in an untrusted workspace)`);
      }
      const clash = this.inputClash(output, statement.path, inputs, folder);
      if (clash) this.report(span, 'error', 'output-is-input', clash);
      if (seen.some((s) => overlaps(s.location, output))) {
        this.report(span, 'error', 'output-is-input', 'another save(...) writes the same path (or a folder holding it)');
      }
      seen.push({ location: output, span });
      const unchosen = [...sweeps].filter((s) => !this.evaluatedSweeps.has(s));
      if (unchosen.length > 0) {
        const names = unchosen.map((id) => this.sweeps.find((s) => s.id === id)?.name ?? String(id)).join(', ');
        this.report(span, 'error', 'unsaved-sweep', `the saved value depends on the sweep ${names}, but no evaluate(...) chooses its value: evaluate this model on validation tasks, or use a fixed number`);
      }
    }
    this.checkResultsFile(inputs);
  }

  /** Where a path leads, by identity when the environment can say, else by its string. */
  private where(path: string): PathLocation {
    return this.env.locate?.(path) ?? lexicalLocation(path);
  }

  /** Every file and folder an input consists of, and the folder of each multi-file model. */
  private inputLocations(): InputLocation[] {
    return [...this.loads.values(), ...this.methodInputs.values()].flatMap(inputPaths).map((input) => ({ ...input, location: this.where(input.path) }));
  }

  /** Why writing `output` would harm an input (by file identity, symlinks followed), if it would. */
  private inputClash(output: PathLocation, written: string, inputs: readonly InputLocation[], folder: PathLocation): string | undefined {
    // The save's path may name a folder, replaced whole: one holding an input is a clash too.
    const clash = findInputClash(output, true, inputs, folder);
    if (!clash) return undefined;
    const { input, how } = clash;
    const via = output.real === written ? '' : ` (through a symlink, it leads to ${output.real})`;
    const line = input.load.range.start.line + 1;
    switch (how) {
      case 'model-folder': return `this output would be written inside ${input.path}, the folder of the input model loaded at line ${line}${via}; a model folder holds only that model's files: write it elsewhere`;
      case 'same': return `this output is ${input.path}, an input of the recipe (loaded at line ${line})${via}: saving would replace it; write it elsewhere`;
      case 'holds': return `this output would replace the folder that holds ${input.path}, an input of the recipe (loaded at line ${line})${via}: write it elsewhere`;
    }
  }

  /** The run writes `<recipe>.results.json` beside the recipe: it must not be an input. */
  private checkResultsFile(inputs: readonly InputLocation[]): void {
    if (inputs.length === 0) return;
    const path = resolve(this.folder, resultsFileName(this.env.file));
    const results = this.where(path);
    const input = inputs.find((i) => !i.modelFolder && (sameLocation(results, i.location) || isWithin(results, i.location)));
    if (!input) return;
    const span = { start: this.lines.offset(input.load.range.start), end: this.lines.offset(input.load.range.end) };
    this.report(span, 'error', 'output-is-input', `${input.path} is where a run of this recipe writes its results file (${path}): the run would replace this input. Rename the input, or the recipe`);
  }

  // ---- helpers --------------------------------------------------------------------------

  /** The first binding of a name, defined anywhere (an index, built on first use: calls of non-functions can be many). */
  private firstBinding(name: string): Binding | undefined {
    if (!this.firstBindings) {
      this.firstBindings = new Map();
      for (const b of this.resolution.bindings) if (!this.firstBindings.has(b.name)) this.firstBindings.set(b.name, b);
    }
    return this.firstBindings.get(name);
  }

  /**
   * "The base" for quick fixes and a text task's default reference: the base of the task
   * vectors written so far (the rule every consumer uses), else a model with a base's name.
   */
  private likelyBase(): WeightNode | undefined {
    if (this.baseSoFar?.vectors !== this.taskVectors.length) {
      this.baseSoFar = { vectors: this.taskVectors.length, node: baseModel(this.taskVectors)?.node };
    }
    if (this.baseSoFar.node) return this.baseSoFar.node;
    // Found once: this runs for every error that offers a fix, and bindings can be many.
    this.baseNamed ??= this.resolution.bindings.filter((b) => isConventionalBaseName(b.name));
    for (const b of this.baseNamed) {
      const v = this.values.get(b);
      if (v?.type === 'model') return v.node;
    }
    return undefined;
  }

  /** Each sweep at its middle value: where the sign of a sweep-dependent weight is judged. */
  private typicalPoint(): ReadonlyMap<number, number> {
    return this.typical;
  }

  private text(span: Span): string {
    return this.lines.text.slice(span.start, span.end);
  }

  private excerpt(span: Span): string {
    const text = this.text(span).replace(/\s+/g, ' ');
    return `'${text.length > 40 ? `${text.slice(0, 37)}...` : text}'`;
  }

  private report(span: Span, severity: Diagnostic['severity'], code: Diagnostic['code'], message: string, related?: Diagnostic['related'], fixes?: readonly Fix[]): void {
    this.diagnostics.push({ span: { start: span.start, end: span.end }, severity, code, message, ...(related ? { related } : {}), ...(fixes && fixes.length > 0 ? { fixes } : {}) });
  }
}

// ---- pure helpers -----------------------------------------------------------------------

/** The methods whose value depends on a statistic of their input (a top-k threshold, norms), for messages: "magnitude_prune, ties or slerp". */
const statisticsMethods = methods.filter((m) => m.statistics).map((m) => m.name);

function unreachable(name: never): never {
  throw new Error(`no checker for built-in ${String(name)}`);
}

function tableOf(header: CheckpointHeader): TensorTable {
  const table = new Map<string, TensorSpec>();
  for (const [name, t] of header.tensors) table.set(name, { dtype: t.dtype, shape: t.shape });
  return table;
}

function nodeName(node: WeightNode, fallback?: string): string {
  let n = node;
  // Iterative: selections can be chained (up to the depth limit).
  while (!n.name && n.op === 'select') n = n.input;
  if (n.name) return `'${n.name}'`;
  if (n.op === 'load') return `'${n.path.replace(/^.*\//, '')}'`;
  return fallback ? `'${fallback}'` : 'a model';
}

/** A posterior's weights as coefficients: its coordinates, and one minus their sum for the last model. */
function posteriorCoefficients(posterior: PosteriorValue): P.Poly[] {
  const first = posterior.variables.map((id) => P.variable(id));
  return [...first, first.reduce((rest, w) => P.add(rest, P.scale(w, -1)), P.constant(1))];
}

function isArithmetic(v: Value): boolean {
  return v.type === 'scalar' || v.type === 'combo' || isWeights(v);
}

function describeCall(e: Expression): string {
  return e.kind === 'call' ? `${e.callee.name}()` : 'this expression';
}

/** Operands of `a + b + c` when the expression is a pure chain of additions. */
function plusChain(e: Expression): Expression[] | undefined {
  if (e.kind === 'paren') return plusChain(e.inner);
  if (e.kind !== 'binary' || e.operator !== '+') return undefined;
  const left = e.left.kind === 'binary' && e.left.operator === '+' ? plusChain(e.left) : [e.left];
  if (!left) return undefined;
  const simple = (x: Expression): boolean => x.kind === 'name' || x.kind === 'call';
  if (!left.every(simple) || !simple(e.right)) return undefined;
  return [...left, e.right];
}

/** The string literal (alone or in a list) that holds `pattern`. */
function patternSpan(expr: Expression | undefined, pattern: string): Span | undefined {
  if (!expr) return undefined;
  if (expr.kind === 'string') return expr.value === pattern ? expr : undefined;
  if (expr.kind === 'list') return expr.items.find((i) => i.kind === 'string' && i.value === pattern);
  return undefined;
}

/** Sum of the weights of the models in a combination (vectors weigh 0). */
function massOf(v: ComboValue): P.Poly {
  let mass = P.constant(0);
  for (const t of v.terms) if (t.value.type === 'model') mass = P.add(mass, t.coef);
  return mass;
}

/** The table of values alignTables accepted: a full value's (they share it), else the tensors of all the partial ones. */
function alignedTable(values: readonly WeightsValue[]): { readonly table: TensorTable | undefined; readonly partial: boolean } {
  if (values.length === 0 || values.some((v) => !v.node.table)) return { table: undefined, partial: false };
  const full = values.find((v) => !v.partial);
  if (full) return { table: full.node.table, partial: false };
  return { table: values.map((v) => v.node.table!).reduce(unionTables), partial: true };
}

/** The terms of left + sign * right, a node in both becoming one term. */
function addTerms(left: ComboValue, right: ComboValue, sign: 1 | -1): { coef: P.Poly; value: WeightsValue }[] {
  const terms = [...left.terms];
  for (const t of right.terms) {
    const coef = sign === 1 ? t.coef : P.scale(t.coef, -1);
    const existing = terms.findIndex((u) => u.value.node === t.value.node);
    if (existing >= 0) terms[existing] = { coef: P.add(terms[existing]!.coef, coef), value: t.value };
    else terms.push({ coef, value: t.value });
  }
  return terms;
}

function mergeDuplicateTerms(combo: ComboValue): ComboValue {
  const terms: { coef: P.Poly; value: WeightsValue }[] = [];
  for (const t of combo.terms) {
    const existing = terms.find((u) => u.value.node === t.value.node);
    if (existing) existing.coef = P.add(existing.coef, t.coef);
    else terms.push({ coef: t.coef, value: t.value });
  }
  return { ...combo, terms };
}

function decimals(x: number): number {
  const text = String(x);
  const exponent = /e-(\d+)$/.exec(text);
  if (exponent) return Number(exponent[1]) + (text.split('e')[0]!.split('.')[1]?.length ?? 0);
  return text.split('.')[1]?.length ?? 0;
}

/** "2GB", "500 MB", "1.5GiB", "123" (bytes) -> bytes. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase().replace(/b$/, '');
  const powers: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4 };
  const factor = powers[unit];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * factor);
  return bytes > 0 ? bytes : undefined;
}

