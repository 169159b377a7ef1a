// Completion: names in scope with their type (and norm when known), built-ins with
// signatures, keyword arguments, choices of string arguments, and file paths inside
// path strings. Items expected by the surrounding argument sort first.
import { dirname, resolve } from 'node:path';
import type { Analysis } from '../analysis.ts';
import { builtinByName, builtins, signatureLabel, type Builtin, type Param, type ParamType } from '../builtins.ts';
import type { Binding } from '../names.ts';
import type { Span } from '../syntax-tree.ts';
import { typeName, type Value } from '../values.ts';
import { cursorContext, type CallSite } from './cursor.ts';
import { describeValueShort } from './describe.ts';
import { vectorBindingFor, vectorStats, type StatsGroup, type StatsSource } from './vector-stats.ts';

export type CompletionKind = 'variable' | 'function' | 'keyword-argument' | 'value' | 'file' | 'folder';

export interface CompletionItem {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  /** Markdown. */
  readonly documentation?: string;
  readonly insertText?: string;
  /** `insertText` uses snippet syntax ($1, $0). */
  readonly snippet?: boolean;
  readonly sortText?: string;
  /** The text the item replaces (the partial word or path). */
  readonly replace: Span;
  /** Ask the editor to show completions again after inserting (e.g. after a folder). */
  readonly retrigger?: boolean;
}

export interface DirectoryEntry {
  readonly name: string;
  readonly isDirectory: boolean;
}

export interface CompletionEnvironment {
  readonly stats?: StatsSource;
  readonly statsGroups?: readonly StatsGroup[];
  /** Lists a folder for path completion; throws or returns [] when it cannot. */
  readonly readDirectory?: (absolutePath: string) => readonly DirectoryEntry[];
}

/** Built-in parameters that name files, and the file names they accept. */
const pathParams: Record<string, { param: string; accept: RegExp }> = {
  load: { param: 'path', accept: /(\.safetensors|\.safetensors\.index\.json|model\.json)$/ },
  task: { param: 'data', accept: /\.(safetensors|npy|jsonl?)$/ },
  save: { param: 'path', accept: /\.safetensors$/ },
};

export function complete(analysis: Analysis, offset: number, env: CompletionEnvironment = {}): CompletionItem[] {
  const context = cursorContext(analysis, offset);
  if (context.inComment) return [];
  const call = context.call;
  const param = call ? paramAt(call) : undefined;
  if (context.string) {
    const spec = call ? pathParams[call.callee] : undefined;
    if (spec && param?.name === spec.param) return completePath(analysis, context.string, offset, spec.accept, env);
    if (param?.choices) return choiceItems(param, { start: context.string.start, end: Math.max(offset, context.string.end) });
    return [];
  }
  const replace: Span = context.word ? { start: context.word.start, end: context.word.end } : { start: offset, end: offset };
  const items: CompletionItem[] = [];
  if (call && call.keyword && param?.choices) items.push(...choiceItems(param, replace));
  if (call && call.atArgumentStart) items.push(...keywordItems(call, replace));
  if (param?.type === 'bool') {
    for (const value of ['true', 'false']) items.push({ label: value, kind: 'value', replace, sortText: `0${value}` });
  }
  const expected = param?.type;
  // concat, not push(...): a recipe can have more names than a call has room for arguments.
  return items.concat(nameItems(analysis, offset, replace, expected, env), builtinItems(replace, expected, statementStart(analysis, offset)));
}

/** The parameter the cursor's argument binds to. */
export function paramAt(call: CallSite): Param | undefined {
  const builtin = builtinByName.get(call.callee);
  if (!builtin) return undefined;
  if (call.keyword) return builtin.params.find((p) => p.name === call.keyword);
  const positional = builtin.params.filter((p) => !p.keywordOnly);
  return positional[call.positionalIndex] ?? positional.find((p) => p.variadic);
}

function keywordItems(call: CallSite, replace: Span): CompletionItem[] {
  const builtin = builtinByName.get(call.callee);
  if (!builtin) return [];
  const positional = builtin.params.filter((p) => !p.keywordOnly && !p.variadic);
  return builtin.params
    .filter((p) => !p.variadic && !call.givenKeywords.includes(p.name))
    // Positional parameters already filled by position are not offered as keywords.
    .filter((p) => p.keywordOnly || positional.indexOf(p) >= call.positionalIndex)
    .map((p) => ({
      label: `${p.name}=`,
      kind: 'keyword-argument' as const,
      detail: `${typeLabel(p.type)}${p.default !== undefined ? ` = ${p.default}` : ''}`,
      documentation: p.doc,
      insertText: `${p.name}=`,
      sortText: p.keywordOnly ? `1${p.name}` : `0${p.name}`,
      replace,
      retrigger: true,
    }));
}

function choiceItems(param: Param, replace: Span): CompletionItem[] {
  return (param.choices ?? []).map((choice, i) => ({
    label: `"${choice}"`,
    kind: 'value' as const,
    detail: `${param.name}`,
    documentation: param.doc,
    insertText: JSON.stringify(choice),
    sortText: `0${String(i).padStart(2, '0')}`,
    replace,
  }));
}

function nameItems(analysis: Analysis, offset: number, replace: Span, expected: ParamType | undefined, env: CompletionEnvironment): CompletionItem[] {
  const visible = new Map<string, Binding>();
  const limit = visibleBefore(analysis, offset);
  for (const b of analysis.resolution.bindings) {
    if (b.index >= limit) continue;
    if (!visible.has(b.name)) visible.set(b.name, b);
  }
  const items: CompletionItem[] = [];
  for (const binding of visible.values()) {
    const value = analysis.checked.values.get(binding);
    items.push({
      label: binding.name,
      kind: 'variable',
      detail: detailOf(analysis, binding, value, env),
      documentation: describeValueShort(value),
      sortText: `${matches(expected, value) ? '0' : '2'}${binding.name}`,
      replace,
    });
  }
  return items;
}

/** Statements before this index are visible at the offset: not the one being written, nor later ones. */
function visibleBefore(analysis: Analysis, offset: number): number {
  const statements = analysis.tree.statements;
  let current = -1;
  for (let i = 0; i < statements.length && statements[i]!.start <= offset; i++) current = i;
  if (current < 0) return 0;
  const line = analysis.lines.position(offset).line;
  const endLine = analysis.lines.position(statements[current]!.end).line;
  return offset <= statements[current]!.end || line === endLine ? current : current + 1;
}

function detailOf(analysis: Analysis, binding: Binding, value: Value | undefined, env: CompletionEnvironment): string {
  const type = value ? typeName(value) : 'unknown';
  if (value?.type !== 'vector' || !env.stats || !env.statsGroups) return type;
  const vector = vectorBindingFor(analysis, binding);
  if (!vector) return type;
  const stats = vectorStats(vector, env.statsGroups, env.stats);
  if (stats.status === 'ready') return `Vector, norm ${stats.value.norm.toPrecision(4)}`;
  if (stats.status === 'computing') return 'Vector, norm being computed';
  return type;
}

function matches(expected: ParamType | undefined, value: Value | undefined): boolean {
  if (!expected || !value) return false;
  switch (expected) {
    case 'model': return value.type === 'model';
    case 'vector': return value.type === 'vector';
    case 'weights': return value.type === 'model' || value.type === 'vector';
    case 'scalar':
    case 'number': return value.type === 'scalar';
    case 'tasks': return value.type === 'task';
    case 'string':
    case 'strings': return value.type === 'string';
    case 'bool': return value.type === 'bool';
    case 'numbers': return value.type === 'list';
  }
}

function builtinItems(replace: Span, expected: ParamType | undefined, atStatementStart: boolean): CompletionItem[] {
  return builtins.map((b) => ({
    label: b.name,
    kind: 'function' as const,
    detail: signatureLabel(b),
    documentation: builtinDocumentation(b),
    insertText: `${b.name}($0)`,
    snippet: true,
    sortText: `${returnsExpected(b, expected) || (atStatementStart && b.returns === 'nothing') ? '1' : '3'}${b.name}`,
    replace,
    retrigger: true,
  }));
}

function returnsExpected(b: Builtin, expected: ParamType | undefined): boolean {
  if (!expected) return false;
  if (expected === 'model') return /Model/.test(b.returns) || b.returns.startsWith('the kind');
  if (expected === 'vector') return /Vector/.test(b.returns) || b.returns.startsWith('the kind');
  if (expected === 'weights') return /Model|Vector|kind/.test(b.returns);
  if (expected === 'scalar') return b.returns === 'Sweep';
  if (expected === 'tasks') return b.returns === 'Task';
  return false;
}

export function builtinDocumentation(b: Builtin): string {
  const params = b.params.map((p) => `- \`${p.name}\`${p.default !== undefined ? ` (default ${p.default})` : ''}: ${p.doc}`).join('\n');
  return [`${b.summary}`, b.doc, params, `\`\`\`tvr\n${b.example}\n\`\`\``, b.reference ? `Reference: ${b.reference}` : ''].filter(Boolean).join('\n\n');
}

function statementStart(analysis: Analysis, offset: number): boolean {
  const line = analysis.lines.position(offset).line;
  const before = analysis.lines.lineText(line).slice(0, analysis.lines.position(offset).character);
  return /^\s*[A-Za-z_]*$/.test(before);
}

function typeLabel(type: ParamType): string {
  const labels: Record<ParamType, string> = {
    model: 'Model', vector: 'Vector', weights: 'Model or Vector', scalar: 'number or sweep', number: 'number', numbers: 'list of numbers',
    string: 'string', strings: 'string or list of strings', bool: 'true or false', tasks: 'task or list of tasks',
  };
  return labels[type];
}

function completePath(analysis: Analysis, string: { start: number; end: number; image: string }, offset: number, accept: RegExp, env: CompletionEnvironment): CompletionItem[] {
  if (!env.readDirectory) return [];
  const typed = string.image.slice(1, offset - string.start);
  const slash = typed.lastIndexOf('/');
  const folderPart = slash >= 0 ? typed.slice(0, slash + 1) : '';
  const folder = resolve(dirname(analysis.file), folderPart || '.');
  let entries: readonly DirectoryEntry[];
  try {
    entries = env.readDirectory(folder);
  } catch {
    return [];
  }
  const replace: Span = { start: string.start + 1 + folderPart.length, end: offset };
  return entries
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory || accept.test(e.name)))
    .map((e) => ({
      label: e.isDirectory ? `${e.name}/` : e.name,
      kind: e.isDirectory ? ('folder' as const) : ('file' as const),
      insertText: e.isDirectory ? `${e.name}/` : e.name,
      sortText: `${e.isDirectory ? '1' : '0'}${e.name}`,
      replace,
      ...(e.isDirectory ? { retrigger: true } : {}),
    }));
}
