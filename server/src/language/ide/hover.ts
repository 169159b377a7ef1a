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
import { markdown, type Markup } from './markup.ts';
import { layerCountOf } from '../layer-count.ts';
import { formatNumber } from '../poly.ts';
import { nodeInputs, type WeightNode } from '../program.ts';
import { isVarying, valueGroups } from '../tensor-numbers.ts';
import { isWeights } from '../values.ts';
import { isMethodNode } from '../../methods/registry.ts';

export interface Hover {
  /** Written with `env.markup` (default Markdown). */
  readonly contents: string;
  readonly span: Span;
}

/** The method node a call made: the one of the callee's op whose range starts at the callee, among the nodes the recipe's values and saves reach. */
function methodNodeAt(analysis: Analysis, callee: Span): WeightNode | undefined {
  const start = analysis.lines.position(callee.start);
  const roots = [...analysis.checked.values.values()].flatMap((v) => (isWeights(v) ? [v.node] : [])).concat(analysis.checked.program.saves.map((save) => save.node));
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    if (node.range.start.line === start.line && node.range.start.character === start.character && isMethodNode(node)) return node;
    stack.push(...nodeInputs(node));
  }
  return undefined;
}

/** The value each group of the node's tensors takes from a per-tensor argument (nothing when it is one number). */
function perTensorValues(node: WeightNode, param: string, m: Markup): string {
  // A method node keeps a per-tensor argument under the parameter's name (methods/method.ts).
  const value = (node as unknown as Record<string, unknown>)[param];
  if (!isVarying(value) || !node.table) return '';
  const layers = layerCountOf(node);
  const groups = valueGroups(value, node.table.keys(), layers);
  const shown = groups.slice(0, MAX_GROUPS).map((g) => [g.filter === null ? 'other tensors' : `"${g.filter}"`, g.layer === undefined ? 'none' : String(g.layer), String(g.tensors), formatNumber(g.value)]);
  const more = groups.length > MAX_GROUPS ? [[`... ${groups.length - MAX_GROUPS} more groups`, '', '', '']] : [];
  return `\n\nPer tensor, over ${layers} layer${layers === 1 ? '' : 's'}:\n\n${m.table(['filter', 'layer', 'tensors', param], [...shown, ...more], ['left', 'right', 'right', 'right'])}`;
}

const MAX_GROUPS = 24;

export function hover(analysis: Analysis, offset: number, env: DescribeEnvironment = {}): Hover | undefined {
  const m = env.markup ?? markdown;
  const atBinding = bindingAt(analysis, offset);
  if (atBinding) return { contents: describeBinding(analysis, atBinding.binding, env), span: atBinding.span };
  const call = callAt(analysis, offset);
  if (call) {
    const builtin = builtinByName.get(call.callee.name);
    if (builtin) return { contents: `${m.strong(builtin.name)}\n\n${builtinDocumentation(builtin, m)}`, span: call.callee };
  }
  // Hover names the character at `offset`; the cursor context reads the text before a cursor, so ask it just after that character (a one-letter keyword such as `t=` is hovered at its first and only character).
  const context = cursorContext(analysis, offset + 1);
  const word = context.word;
  if (word && context.call) {
    const builtin = builtinByName.get(context.call.callee);
    const param = builtin?.params.find((p) => p.name === word.image);
    const isKeyword = analysis.tree.tokens.some((t) => t.start === word.end && t.type === 'equals');
    if (param && isKeyword) {
      const node = param.perTensor ? methodNodeAt(analysis, context.call.calleeSpan) : undefined;
      const perTensor = node ? perTensorValues(node, param.name, m) : '';
      return { contents: `${m.strong(param.name)} (argument of ${builtin!.name})${param.default !== undefined ? `, default ${param.default}` : ''}\n\n${m.doc(param.doc)}${perTensor}`, span: word };
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
