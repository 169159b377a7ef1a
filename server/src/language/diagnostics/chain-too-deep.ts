// chain-too-deep: a value at the end of too long a chain of operations, or of too many
// statistics passes one after another. The checker counts; the messages are written here.

export function chainDepthMessage(depth: number, limit: number): string {
  return `this value is the end of a chain of ${depth} operations (through names and nested calls), more than the ${limit} tvr evaluates: ` +
    'build it in fewer steps (e.g. 8*v rather than three doublings, one mean(a, b, c) rather than nested means), or save an intermediate result and load it in another recipe';
}

/** `statisticsMethods`: the methods that read their inputs' statistics first (each one a pass). */
export function statisticsPassesMessage(passes: number, limit: number, statisticsMethods: readonly string[]): string {
  const methods = `${statisticsMethods.slice(0, -1).join(', ')} or ${statisticsMethods.at(-1)}`;
  return `this value needs ${passes} passes over its inputs, one after another, more than the ${limit} tvr makes: ` +
    `each ${methods} applied to the result of another reads every input again (and recomputes what came before). ` +
    'Apply them to independent values, or save an intermediate result and load it in another recipe';
}
