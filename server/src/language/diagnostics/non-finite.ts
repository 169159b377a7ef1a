// non-finite: a number or a coefficient that folds to Infinity or NaN. The checker finds
// where and which value; the messages are written here.

const advice = 'numbers in a recipe must stay within about ±1.8e308 (64-bit floats); use smaller coefficients';

/** Infinity, -Infinity or NaN, in words. */
export function nonFiniteWords(x: number): string {
  return Number.isNaN(x) ? 'NaN (not a number, e.g. Infinity - Infinity)' : x > 0 ? 'Infinity' : '-Infinity';
}

/** A number literal past the largest 64-bit float, as written. */
export function literalOverflowMessage(literal: string): string {
  return `${literal} is beyond the largest number (about 1.8e308): it would be Infinity; write a smaller number`;
}

export interface FoldedFacts {
  /** The expression's text. */
  readonly excerpt: string;
  /** A number folds to the value; a combination's coefficient scales weights by it. */
  readonly folded: 'number' | 'coefficient';
  /** The largest magnitude it reaches (NaN when it is NaN). */
  readonly reach: number;
  /** Whether it depends on a sweep (it reaches the value at some point of it). */
  readonly dependsOnSweep: boolean;
}

export function foldedMessage(facts: FoldedFacts): string {
  const what = facts.folded === 'coefficient' ? 'scales weights by' : facts.dependsOnSweep ? 'reaches' : 'folds to';
  return `${facts.excerpt} ${what} ${nonFiniteWords(facts.reach)}${facts.dependsOnSweep ? ' at some sweep point' : ''}: ${advice}`;
}

/** Coefficients that overflow only multiplied along a chain of bindings. */
export function chainScaleMessage(excerpt: string, scale: number): string {
  return `${excerpt} scales the weights it is built from by ${nonFiniteWords(scale)} (the coefficients along its chain of bindings multiply): ${advice}`;
}

/** Fixed weights (mean(..., weights=[...])) whose sum overflows. */
export function weightsSumMessage(sum: number): string {
  return `these weights sum to ${nonFiniteWords(sum)}: ${advice}`;
}
