// model-weight-sum: a combination of models whose weights sum to neither 1 (a Model) nor
// 0 (a Vector). The checker finds the facts; the message and the fixes are written here.
import type { Fix } from '../diagnostics.ts';
import { formatNumber } from '../poly.ts';
import type { Span } from '../syntax-tree.ts';

export interface WeightSumFacts {
  /** The sum, formatted (in terms of the sweeps when it depends on them: `1 + lam`). */
  readonly sum: string;
  /** The sum when it is a number. */
  readonly constantSum: number | undefined;
  /** Each model term: its name and its weight, formatted. */
  readonly models: readonly { readonly name: string; readonly weight: string }[];
  /** The operands' texts when the expression is `a + b + ...` of models only: the fixes rewrite such a sum. */
  readonly summands: readonly string[] | undefined;
  /** The name of the recipe's base (language/base-model.ts), when it has one. */
  readonly base: string | undefined;
  /** The expression's text, and whether it needs parentheses to be divided. */
  readonly text: string;
  readonly needsParens: boolean;
}

export function weightSumMessage(facts: WeightSumFacts): string {
  const listing = facts.models.map((m) => `${m.name}: ${m.weight}`).join(', ');
  const hint = facts.constantSum === 2 && facts.models.length === 2 ? ' (adding two models counts the shared base twice)' : '';
  return `the model weights sum to ${facts.sum} (${listing})${hint}: a Model needs weights summing to 1 and a task Vector to 0. ` +
    'Average models with mean(...), or add task vectors (finetuned - base) to one model';
}

/** A sum of models becomes their mean or their task vectors added to the base; any other constant sum is divided out. */
export function weightSumFixes(facts: WeightSumFacts, span: Span): Fix[] {
  const fixes: Fix[] = [];
  const { summands, base } = facts;
  if (summands) {
    const mean = `mean(${summands.join(', ')})`;
    fixes.push({ title: `Average them: ${mean}`, edits: [{ span, newText: mean }], preferred: true });
    if (base && !summands.includes(base)) {
      const sum = `${base} + ${summands.map((t) => `(${t} - ${base})`).join(' + ')}`;
      fixes.push({ title: `Add their task vectors to ${base}: ${sum}`, edits: [{ span, newText: sum }] });
    }
  }
  const divisor = facts.constantSum;
  if (divisor !== undefined && divisor !== 0 && fixes.length === 0) {
    const divided = `${facts.needsParens ? `(${facts.text})` : facts.text} / ${formatNumber(divisor)}`;
    fixes.push({ title: `Divide by ${formatNumber(divisor)} so the weights sum to 1`, edits: [{ span, newText: divided }] });
  }
  return fixes;
}
