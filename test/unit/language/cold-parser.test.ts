// Deep nesting in the first text a process parses: Chevrotain computes its recovery
// follow sets lazily, so the first recovery deep in the stack must not overflow it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { analyze } from '../../../server/src/language/analysis.ts';

it('parses 100 unclosed nested calls as the first text of a process', () => {
  const env = { file: '/tmp/r.tvr', checkpoint: () => ({ status: 'pending' as const }) };
  const analysis = analyze(`x = ${'f('.repeat(100)}1\n`, env);
  assert.ok(analysis.diagnostics.some((d) => d.code === 'syntax' && /never closed/.test(d.message)));
});
