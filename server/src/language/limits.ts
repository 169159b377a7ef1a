// The language's documented limits (docs/language.md, "Limits"): each keeps a hostile or
// mistaken recipe a diagnostic at check time rather than a crash, a stack overflow or an
// exhausted heap later. Real recipes stay far below every one of them.

/** Largest recipe analysed, in UTF-8 bytes: a real recipe is a few kilobytes. Larger text gets one diagnostic. */
export const maxRecipeBytes = 1024 * 1024;

/**
 * Longest chain of weight operations (a load is 1, each operation on it one more),
 * through names or nested calls. The engine and the IDE walk values recursively.
 */
export const maxChainDepth = 256;

/**
 * Most passes over the inputs one value may need, one after another: each magnitude_prune,
 * ties, slerp or random_like of a value that already needed one reads every input again and
 * recomputes the chain before it, so a chain of n such steps costs n^2/2.
 */
export const maxStatisticsPasses = 16;

/** Evaluations a recipe's run may make unless an evaluate(...) sets max_evaluations=. */
export const defaultMaxEvaluations = 10_000;

/** The highest max_evaluations= accepts: a run plans every sweep point in memory. */
export const ceilingMaxEvaluations = 100_000;

/** Why a recipe is too large to analyse, or undefined when it is not. */
export function recipeSizeProblem(text: string): string | undefined {
  // Each UTF-16 unit is at most 3 UTF-8 bytes: most texts need no count.
  if (text.length * 3 <= maxRecipeBytes) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxRecipeBytes) return undefined;
  return `this recipe is ${formatExactCount(bytes)} bytes, more than the ${formatExactCount(maxRecipeBytes)} (1 MiB) tvr analyses, so it is not checked: a recipe is a short program of bindings; split it into several recipes, or generate fewer lines`;
}

/** Points of the grid of sweeps with these sizes, without listing them (Infinity past 1.8e308). */
export function gridSize(sizes: Iterable<number>): number {
  let points = 1;
  for (const size of sizes) points *= size;
  return points;
}

/**
 * Evaluations a run makes for one evaluate(...) statement: every sweep point of every
 * model on each task (validation), each model's chosen point (test), and the references:
 * the base and each fine-tuned model on both splits (the base only when one is found, so
 * this is an upper bound by 2 per task).
 */
export function evaluationCount(gridPoints: readonly number[], tasks: number): number {
  let models = 0;
  for (const points of gridPoints) models += (points + 1) * tasks;
  return models + 4 * tasks;
}

/** A count as a person reads it: 1,002,006; about 2.59e+10 past exact integers; more than 1e308 past doubles. */
export function formatExactCount(n: number): string {
  if (Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  return Number.isFinite(n) ? `about ${n.toPrecision(3)}` : 'more than 1e308';
}
