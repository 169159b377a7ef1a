// Hover: bindings (type, tensors, norms, similarities), built-in functions and their
// parameters, and checkpoint paths.
import { dirname, resolve } from 'node:path';
import type { Analysis } from '../analysis.ts';
import { stringValue } from '../tokens.ts';
import { builtinByName } from '../builtins.ts';
import type { Span } from '../syntax-tree.ts';
import { builtinDocumentation } from './completion.ts';
import { bindingAt, callAt, cursorContext } from './cursor.ts';
import { describeBinding, type DescribeEnvironment } from './describe.ts';
import { markdown } from './markup.ts';

export interface Hover {
  /** Written with `env.markup` (default Markdown). */
  readonly contents: string;
  readonly span: Span;
}

export function hover(analysis: Analysis, offset: number, env: DescribeEnvironment = {}): Hover | undefined {
  const m = env.markup ?? markdown;
  const atBinding = bindingAt(analysis, offset);
  if (atBinding) return { contents: describeBinding(analysis, atBinding.binding, env), span: atBinding.span };
  const call = callAt(analysis, offset);
  if (call) {
    const builtin = builtinByName.get(call.callee.name);
    if (builtin) return { contents: `${m.strong(builtin.name)}\n\n${builtinDocumentation(builtin, m)}`, span: call.callee };
  }
  const context = cursorContext(analysis, offset);
  const word = context.word;
  if (word && context.call) {
    const builtin = builtinByName.get(context.call.callee);
    const param = builtin?.params.find((p) => p.name === word.image);
    const isKeyword = analysis.tree.tokens.some((t) => t.start === word.end && t.type === 'equals');
    if (param && isKeyword) {
      return { contents: `${m.strong(param.name)} (argument of ${builtin!.name})${param.default !== undefined ? `, default ${param.default}` : ''}\n\n${m.doc(param.doc)}`, span: word };
    }
  }
  if (context.string && context.call) {
    const path = resolve(dirname(analysis.file), stringValue(context.string.image));
    const load = analysis.checked.program.loads.find((l) => l.path === path);
    if (load?.header) {
      const bytes = load.header.files.reduce((a, f) => a + f.size, 0);
      return { contents: `${m.code(load.path)}\n\n${load.header.format}, ${load.header.tensors.size} tensors, ${bytes.toLocaleString('en-US')} bytes`, span: context.string };
    }
  }
  return undefined;
}
