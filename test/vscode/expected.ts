// What the fixture workspace must show, computed here from the fixtures' own values (shared
// by the UI scenarios and the in-host suite).
import assert from 'node:assert/strict';
import { models, taskVectorNorm } from './workspace.ts';

/** The L2 norms of negate.tvr's task vectors. */
export const expectedNorms: Readonly<Record<'sci' | 'toxic', number>> = {
  sci: taskVectorNorm(models.sci, models.base),
  toxic: taskVectorNorm(models.toxic, models.base),
};

/**
 * The norm a hover states, as written: "L2 norm 0.1429 over 24 parameters" rendered, or its
 * Markdown "**L2 norm 0.1429** over ..."; undefined while it is being computed.
 */
export function hoverNorm(hover: string): string | undefined {
  return /L2 norm ([-+0-9.e]+)(?:\*\*)? over/.exec(hover)?.[1];
}

/** Hovers write values with 4 significant digits: `shown` must be `expected` rounded so. */
export function assertShownDigits(shown: string, expected: number, what: string): void {
  const step = 10 ** (Math.floor(Math.log10(Math.abs(expected))) - 3);
  assert.ok(Math.abs(Number(shown) - expected) <= (step / 2) * (1 + 1e-9), `${what}: shown ${shown}, expected ${expected}`);
}
