// LSP counts '\n', '\r\n' and a lone '\r' as line ends; so must the core.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { analyze } from '../../../server/src/language/analysis.ts';

it('treats a lone carriage return as a line end, as LSP clients do', () => {
  const env = { file: '/tmp/r.tvr', checkpoint: () => ({ status: 'pending' as const }) };
  const analysis = analyze('x = 1\ry = bsae\n', env);
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors.map((d) => [d.code, analysis.lines.range(d.span)]), [
    ['undefined-name', { start: { line: 1, character: 4 }, end: { line: 1, character: 8 } }],
  ]);
  assert.equal(analysis.lines.offset({ line: 1, character: 4 }), 10);
});
