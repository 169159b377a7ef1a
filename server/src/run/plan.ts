// What a run will evaluate, checked before anything runs: per evaluate(...) statement,
// its tasks (role, metric, evaluator), the base the references use, and per edited
// model the sweep grid in evaluation order. Problems that would only surface halfway
// through a run (an external command in an untrusted workspace, a head that is not a
// TensorFlow.js model, a malformed command) fail here, naming the recipe line.
import { isTextDataPath } from '../checkpoints/text-data.ts';
import { preOrder } from '../engine/plan/walk.ts';
import { gridOrder } from '../engine/sweep/order.ts';
import { higherIsBetter } from '../engine/sweep/objective.ts';
import type { ObjectiveTask } from '../engine/sweep/objective.ts';
import { EvaluationError } from '../engine/evaluation/errors.ts';
import { parseCommandTemplate } from '../engine/evaluation/command.ts';
import { transformerFamily } from '../engine/evaluation/transformers/registry.ts';
import { baseModel } from '../language/base-model.ts';
import { evaluatedNodes, nodeInputs } from '../language/program.ts';
import type { EnsembleValue, EvaluateStatement, LoadNode, SweepPoint, SweepVar, TaskValue, TypedProgram, WeightNode } from '../language/program.ts';
import type { MetricName, TaskInfo } from '../results/schema.ts';
import { sweepsOf } from './nodes.ts';

const METRICS: readonly MetricName[] = ['accuracy', 'loss', 'perplexity'];

export interface PlannedTask extends ObjectiveTask {
  readonly task: TaskValue;
  readonly info: TaskInfo;
}

export interface PlannedModel {
  readonly name: string;
  /** The model; for an ensemble, its first member. */
  readonly node: WeightNode;
  /** Set when the evaluated value is an ensemble (one point: its members are fixed). */
  readonly ensemble?: EnsembleValue;
  readonly sweeps: readonly SweepVar[];
  /** Every grid point, in evaluation order (coarse first). */
  readonly points: readonly SweepPoint[];
}

export interface PlannedEvaluation {
  readonly id: number;
  readonly statement: EvaluateStatement;
  readonly tasks: readonly PlannedTask[];
  readonly base: { readonly node: WeightNode; readonly name: string; readonly uses: number } | undefined;
  readonly models: readonly PlannedModel[];
}

export interface PlanOptions {
  /** External evaluator commands are refused (an untrusted workspace). */
  readonly untrusted: boolean;
}

export function planEvaluations(program: TypedProgram, options: PlanOptions): PlannedEvaluation[] {
  return program.evaluations.map((statement, i) => planEvaluation(program, statement, i + 1, options));
}

function line(range: { readonly start: { readonly line: number } }): string {
  return `line ${range.start.line + 1}`;
}

function planEvaluation(program: TypedProgram, statement: EvaluateStatement, id: number, options: PlanOptions): PlannedEvaluation {
  const tasks: PlannedTask[] = [];
  const names = new Set<string>();
  for (const [role, list] of [['target', statement.targets], ['control', statement.controls]] as const) {
    for (const task of list) {
      if (names.has(task.name)) throw new EvaluationError('model', `${line(statement.range)}: two tasks of this evaluate(...) are named '${task.name}'; give one another name with name="..."`);
      names.add(task.name);
      tasks.push(planTask(task, role, options));
    }
  }
  // The base of the task vectors inside the evaluated models (language/base-model.ts).
  const found = baseModel(preOrder(statement.models.flatMap(evaluatedNodes)));
  const base = found && sweepsOf(found.node).size === 0 ? { ...found, name: found.node.name ?? 'base' } : undefined;
  const models = statement.models.map((m): PlannedModel => {
    const name = m.node.name ?? m.name.replace(/^'(.*)'$/, '$1');
    if (m.ensemble) return { name: m.ensemble.name, node: m.node, ensemble: m.ensemble, sweeps: [], points: [new Map()] };
    const sweeps = program.sweeps.filter((s) => sweepsOf(m.node).has(s.id));
    const points = gridOrder(sweeps.map((s) => s.values.length)).map((indices) => new Map(indices.map((i, axis) => [sweeps[axis]!.id, sweeps[axis]!.values[i]!])));
    // The checker quotes names for its messages ('edited'); results show them bare.
    return { name, node: m.node, sweeps, points };
  });
  const textTasks = tasks.filter((t) => t.task.command === undefined && isTextDataPath(t.task.data));
  if (textTasks.length > 0) {
    for (const node of [...(base ? [base.node] : []), ...statement.models.flatMap(evaluatedNodes)]) checkTextModel(node, statement, textTasks);
  }
  return { id, statement, tasks, base, models };
}

/**
 * A model evaluated on text tasks by the built-in evaluator must be a folder of a family it
 * runs (transformers/registry.ts), and a classifier is not asked for perplexity: known from
 * its config.json before anything runs.
 */
function checkTextModel(node: WeightNode, statement: EvaluateStatement, textTasks: readonly PlannedTask[]): void {
  const config = firstLoad(node)?.header?.hfConfig;
  // Without a parsed config.json here, the evaluator reads the folder at the first evaluation.
  if (!config) return;
  const model = `model ${node.name ?? 'evaluated'} (${config.path})`;
  const family = transformerFamily({ model_type: config.modelType, architectures: config.architectures }, `${line(statement.range)}: ${model}`);
  if (family.task !== 'sequence-classification') return;
  const perplexity = textTasks.find((t) => t.metric === 'perplexity');
  if (perplexity) {
    throw new EvaluationError('model', `${line(perplexity.task.range)}: task '${perplexity.name}' asks for perplexity, but ${model} is a ${family.name} sequence classifier: perplexity scores a language model's next tokens; use metric="accuracy" or "loss"`);
  }
}

function planTask(task: TaskValue, role: 'target' | 'control', options: PlanOptions): PlannedTask {
  const where = `${line(task.range)}: task '${task.name}'`;
  if (!(METRICS as readonly string[]).includes(task.metric)) {
    throw new EvaluationError('model', `${where}: metric "${task.metric}" is not one of ${METRICS.join(', ')}`);
  }
  const metric = task.metric as MetricName;
  for (const [what, node] of [['head', task.head], ['finetuned', task.finetuned]] as const) {
    if (sweepsOf(node).size > 0) throw new EvaluationError('model', `${where}: its ${what} model depends on a sweep; a task's ${what} must be a fixed model`);
  }
  if (task.command !== undefined) {
    if (options.untrusted) {
      throw new EvaluationError('untrusted', `${where} runs an external evaluator command, and this workspace is not trusted: tvr runs no commands from an untrusted recipe. Trust the workspace (or run without --untrusted) to evaluate it`);
    }
    try {
      parseCommandTemplate(task.command);
    } catch (error) {
      throw new EvaluationError('external', `${where}: cannot use the command ${JSON.stringify(task.command)}: ${(error as Error).message}`);
    }
  } else if (!isTextDataPath(task.data) && headFormat(task.head) !== 'tfjs-layers') {
    // A text task's model is its own head: the evaluator reads its folder's config.json (GPT-2) at the first evaluation.
    throw new EvaluationError('model', `${where}: the built-in evaluator runs TensorFlow.js LayersModels, but the head model is ${headFormat(task.head) ?? 'not a loaded checkpoint'}; give the task an external evaluator, task(..., command="...") (see docs/evaluation.md)`);
  }
  const higher = higherIsBetter(metric);
  return {
    task,
    name: task.name,
    role,
    metric,
    higherIsBetter: higher,
    info: { name: task.name, role, metric, higherIsBetter: higher, data: task.data, evaluator: task.command === undefined ? 'builtin' : 'external' },
  };
}

/** The format of the first checkpoint a head model loads (what gives its topology). */
function headFormat(head: WeightNode): string | undefined {
  return firstLoad(head)?.header?.format;
}

/** The first checkpoint a model loads, down its first inputs. */
function firstLoad(start: WeightNode): LoadNode | undefined {
  // Down the first input, by a loop: a head may be a chain of thousands of bindings.
  for (let node: WeightNode | undefined = start; node; node = nodeInputs(node)[0]) if (node.op === 'load') return node;
  return undefined;
}
