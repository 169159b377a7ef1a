// docs/builtins.md and docs/diagnostics.md are generated from the tables the checker
// uses; this fails when someone changes a table without regenerating them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { builtinsMarkdown, diagnosticsMarkdown } from '../../../scripts/gen-reference.ts';

const root = new URL('../../../', import.meta.url);

test('docs/builtins.md is up to date (node scripts/gen-reference.ts)', () => {
  assert.equal(readFileSync(new URL('docs/builtins.md', root), 'utf8'), builtinsMarkdown());
});

test('docs/diagnostics.md is up to date (node scripts/gen-reference.ts)', () => {
  assert.equal(readFileSync(new URL('docs/diagnostics.md', root), 'utf8'), diagnosticsMarkdown());
});
