// type-mismatch: a value of the wrong type. The checker finds what was wanted and what was
// given; the messages and the fixes are written here.
import type { ParamType } from '../builtins.ts';
import type { Fix } from '../diagnostics.ts';
import type { Span } from '../syntax-tree.ts';
import type { Value } from '../values.ts';
import { article } from './invalid-operation.ts';

export interface ArgumentTypeFacts {
  readonly fn: string;
  readonly param: string;
  readonly wanted: ParamType;
  /** The given value's kind and its type name (values.ts typeName). */
  readonly given: Value['type'];
  readonly givenName: string;
  /** Models in the given Ensemble, when it is one. */
  readonly members?: number;
}

const expected: Readonly<Record<ParamType, string>> = {
  model: 'a Model',
  vector: 'a task Vector',
  weights: 'a Model or a Vector',
  scalar: 'a number',
  number: 'a number',
  numbers: 'a list of numbers, e.g. [0.3, 0.7]',
  mixture: 'a list of numbers, e.g. [0.3, 0.7]',
  evaluand: 'a Model or an Ensemble',
  task: 'a task',
  string: 'a string',
  strings: 'a string or a list of strings',
  bool: 'true or false',
  tasks: 'a task or a list of tasks, e.g. [digits, fashion]',
  'tensor-rule': 'a filter string, a number, or a list of numbers (a gradient)',
};

/** How to turn the given value into the wanted one, where there is a common way. */
function hint(facts: ArgumentTypeFacts): string {
  const { wanted, given } = facts;
  if (given === 'vector' && (wanted === 'model' || wanted === 'evaluand')) return ' (a task Vector): add it to a base model, e.g. base + vector';
  if (given === 'model' && wanted === 'vector') return ' (a point, not a direction): subtract the base, e.g. finetuned - base';
  if (given === 'ensemble' && (wanted === 'model' || wanted === 'weights')) {
    const k = facts.members ?? 0;
    return ` (${k} models evaluated together, ${k} forward passes per token, with no weights of its own): save or combine its models, or mean(...) of them for one Model`;
  }
  return '';
}

export function argumentTypeMessage(facts: ArgumentTypeFacts): string {
  return `${facts.fn}() expects ${expected[facts.wanted]} for '${facts.param}', but this is ${article(facts.givenName)}${hint(facts)}`;
}

export interface KindFixFacts {
  readonly wanted: ParamType;
  readonly given: Value['type'];
  /** The argument's text, and whether it needs parentheses as an operand of + or -. */
  readonly text: string;
  readonly needsParens: boolean;
  /** The recipe's base model (language/base-model.ts), when it has one. */
  readonly base: string | undefined;
}

/** A Model where a Vector is needed becomes its task vector; a Vector where a Model is needed is added to the base. */
export function kindFixes(facts: KindFixFacts, span: Span): Fix[] | undefined {
  const { base, text } = facts;
  if (!base) return undefined;
  const operand = facts.needsParens ? `(${text})` : text;
  if (facts.wanted === 'vector' && facts.given === 'model' && text !== base) {
    return [{ title: `Use the task vector ${operand} - ${base}`, edits: [{ span, newText: `${operand} - ${base}` }], preferred: true }];
  }
  if (facts.wanted === 'model' && facts.given === 'vector') {
    return [{ title: `Apply it to the base: ${base} + ${operand}`, edits: [{ span, newText: `${base} + ${operand}` }], preferred: true }];
  }
  return undefined;
}

/** `x = f(...)` where f returns nothing; `call` is `f()`, or 'this expression'. */
export function assignedNothingMessage(call: string, target: string): string {
  return `${call} returns nothing; it cannot be assigned to '${target}'`;
}

export function discardedValueMessage(type: string): string {
  return `this ${type} is computed and then discarded: assign it to a name or pass it to save(...)`;
}

export function operandTypeMessage(operator: string, type: string): string {
  return `'${operator}' needs numbers, Models or Vectors, but this is a ${type}`;
}

export function unscalableMessage(type: string): string {
  return `cannot negate or scale a ${type}`;
}

export function fixedNumbersMessage(param: string): string {
  return `'${param}' must hold fixed numbers`;
}

export function mixedMeanMessage(odd: string, first: string): string {
  return `mean() averages values of one kind: this is a ${odd} but the first is a ${first}`;
}

/** load(...) of a PEFT LoRA adapter, with the fix that makes it lora(...). */
export function adapterAsModelMessage(path: string): string {
  return `${path} is a PEFT LoRA adapter (adapter_config.json), a change to a model rather than a Model: lora("${path}") gives its ΔW as a Vector to add to the base model it was trained on`;
}

export function adapterAsModelFixes(path: string, callee: Span): Fix[] {
  return [{ title: `Use lora("${path}")`, edits: [{ span: callee, newText: 'lora' }], preferred: true }];
}

/** save(...) of a Vector holding only an adapter's tensors (the engine needs a loaded model to write from). */
export const partialSaveMessage = 'this Vector holds only the tensors a LoRA adapter changes, and no loaded model to take dtypes and format from: save it added to the base model it was trained on: save(base + lora(...), ...)';
