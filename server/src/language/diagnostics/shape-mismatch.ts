// shape-mismatch: operands whose tensor tables differ. The checker compares the tables and
// describes each difference (shapes.ts describeDifference); the messages are written here.

function tensors(count: number): string {
  return `${count} tensor${count === 1 ? '' : 's'}`;
}

export interface TableDifferenceFacts {
  /** The other operand's text. */
  readonly other: string;
  /** How many tensors differ, and the first differences described. */
  readonly count: number;
  readonly details: readonly string[];
}

/** `a + b` or `a - b`; `oneSideLacks`: some tensor is on one side only, which select(...) can fix. */
export function operandTablesMessage(facts: TableDifferenceFacts, oneSideLacks: boolean): string {
  return `tensor tables differ from ${facts.other}: ${tensors(facts.count)} differ${facts.count === 1 ? 's' : ''}; ${facts.details.join('; ')}` +
    (oneSideLacks ? '. Use select(...) or exclude(...) to compare the same tensors' : '');
}

/** A value of mean(...) or another built-in that needs its values' tables to match. */
export function alignedTablesMessage(facts: TableDifferenceFacts): string {
  return `tensor tables differ from ${facts.other}: ${tensors(facts.count)} differ; ${facts.details.join('; ')}`;
}

/** A partial Vector (a LoRA adapter's) with tensors the other operand lacks or shapes otherwise. */
export function partialTablesMessage(partial: string, facts: TableDifferenceFacts): string {
  return `${partial} changes ${tensors(facts.count)} that ${facts.other} lacks or holds in another shape: ${facts.details.join('; ')}. An adapter applies to the model it was trained on`;
}

export interface HeadDifference {
  readonly tensor: string;
  readonly shape: readonly number[];
  /** Its shape in the head model; undefined when the head model lacks it. */
  readonly headShape: readonly number[] | undefined;
}

/** An evaluated model whose tensors a task's head model cannot complete; the first three differences are named. */
export function headTablesMessage(model: string, task: string, differences: readonly HeadDifference[]): string {
  const described = differences.slice(0, 3).map((d) => d.headShape
    ? `"${d.tensor}" is [${d.shape.join(', ')}] here but [${d.headShape.join(', ')}] in the head model`
    : `"${d.tensor}" is not in the head model`);
  return `${model} cannot be completed by the head model of task '${task}': ${tensors(differences.length)} differ; ${described.join('; ')}`;
}
