// Completion: names in scope with their type (and norm when known), built-ins with
// signatures, keyword arguments, choices of string arguments, and file paths inside
// path strings. Items expected by the surrounding argument sort first.
import { dirname, resolve } from 'node:path';
import type { Analysis } from '../analysis.ts';
import { builtinByName, builtins, signatureLabel, type Builtin, type Param, type ParamType } from '../builtins.ts';
import type { Binding } from '../names.ts';
import type { Span } from '../syntax-tree.ts';
import { typeName, type Value } from '../values.ts';
import { cursorContext, type CallSite, type CursorContext } from './cursor.ts';
import { describeValueShort } from './describe.ts';
import { markdown, type Markup } from './markup.ts';
import { vectorBindingFor, vectorStats, type StatsGroup, type StatsSource } from './vector-stats.ts';

export type CompletionKind = 'variable' | 'function' | 'keyword-argument' | 'value' | 'file' | 'folder';

export interface CompletionItem {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  /** Written with `env.markup` (default Markdown). */
  readonly documentation?: string;
  /** Plain text to insert (default: the label). */
  readonly insertText?: string;
  /** The insertion as a snippet ($0 marks where the cursor ends), for clients that take snippets. */
  readonly snippet?: string;
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
  /** Lists a folder for path completion (the one `completionFolder` names); throws or returns [] when it cannot. */
  readonly readDirectory?: (absolutePath: string) => readonly DirectoryEntry[];
  readonly markup?: Markup;
}

/** Built-in parameters that name files, and the file names they accept. */
const pathParams: Record<string, { param: string; accept: RegExp }> = {
  load: { param: 'path', accept: /(\.safetensors|\.safetensors\.index\.json|model\.json)$/ },
  task: { param: 'data', accept: /\.(safetensors|npy|jsonl?)$/ },
  save: { param: 'path', accept: /\.safetensors$/ },
};

export function complete(analysis: Analysis, offset: number, env: CompletionEnvironment = {}): CompletionItem[] {
  const markup = env.markup ?? markdown;
  const context = cursorContext(analysis, offset);
  if (context.inComment) return [];
  const call = context.call;
  const param = call ? paramAt(call) : undefined;
  if (context.string) {
    const site = pathSite(analysis, context, offset);
    if (site) return completePath(site, offset, env);
    if (param?.choices) return choiceItems(param, { start: context.string.start, end: Math.max(offset, context.string.end) }, markup);
    return [];
  }
  const replace: Span = context.word ? { start: context.word.start, end: context.word.end } : { start: offset, end: offset };
  const items: CompletionItem[] = [];
  if (call && call.keyword && param?.choices) items.push(...choiceItems(param, replace, markup));
  if (call && call.atArgumentStart) items.push(...keywordItems(call, replace, markup));
  if (param?.type === 'bool') {
    for (const value of ['true', 'false']) items.push({ label: value, kind: 'value', replace, sortText: `0${value}` });
  }
  const expected = param?.type;
  // concat, not push(...): a recipe can have more names than a call has room for arguments.
  return items.concat(nameItems(analysis, offset, replace, expected, env, markup), builtinItems(replace, expected, statementStart(analysis, offset), markup));
}

/** The folder that path completion at `offset` lists, if the cursor is in a path argument (a caller may read it ahead, asynchronously). */
export function completionFolder(analysis: Analysis, offset: number): string | undefined {
  return pathSite(analysis, cursorContext(analysis, offset), offset)?.folder;
}

/** A path argument being typed: the folder part typed so far, where it resolves, and which files it takes. */
interface PathSite {
  readonly string: { readonly start: number; readonly end: number; readonly image: string };
  readonly folderPart: string;
  readonly folder: string;
  readonly accept: RegExp;
}

function pathSite(analysis: Analysis, context: CursorContext, offset: number): PathSite | undefined {
  const call = context.call;
  const spec = call ? pathParams[call.callee] : undefined;
  if (!context.string || !call || !spec || paramAt(call)?.name !== spec.param || context.inComment) return undefined;
  const typed = context.string.image.slice(1, offset - context.string.start);
  const slash = typed.lastIndexOf('/');
  const folderPart = slash >= 0 ? typed.slice(0, slash + 1) : '';
  return { string: context.string, folderPart, folder: resolve(dirname(analysis.file), folderPart || '.'), accept: spec.accept };
}

/** The parameter the cursor's argument binds to. */
export function paramAt(call: CallSite): Param | undefined {
  const builtin = builtinByName.get(call.callee);
  if (!builtin) return undefined;
  if (call.keyword) return builtin.params.find((p) => p.name === call.keyword);
  const positional = builtin.params.filter((p) => !p.keywordOnly);
  return positional[call.positionalIndex] ?? positional.find((p) => p.variadic);
}

function keywordItems(call: CallSite, replace: Span, markup: Markup): CompletionItem[] {
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
      documentation: markup.doc(p.doc),
      insertText: `${p.name}=`,
      sortText: p.keywordOnly ? `1${p.name}` : `0${p.name}`,
      replace,
      retrigger: true,
    }));
}

function choiceItems(param: Param, replace: Span, markup: Markup): CompletionItem[] {
  return (param.choices ?? []).map((choice, i) => ({
    label: `"${choice}"`,
    kind: 'value' as const,
    detail: `${param.name}`,
    documentation: markup.doc(param.doc),
    insertText: JSON.stringify(choice),
    sortText: `0${String(i).padStart(2, '0')}`,
    replace,
  }));
}

function nameItems(analysis: Analysis, offset: number, replace: Span, expected: ParamType | undefined, env: CompletionEnvironment, markup: Markup): CompletionItem[] {
  const visible = new Map<string, Binding>();
  const limit = visibleBefore(analysis, offset);
  for (const b of analysis.resolution.bindings) {
    if (b.index >= limit) continue;
    if (!visible.has(b.name)) visible.set(b.name, b);
  }
  const items: CompletionItem[] = [];
  for (const binding of visible.values()) {
    const value = analysis.checked.values.get(binding);
    const short = describeValueShort(value);
    items.push({
      label: binding.name,
      kind: 'variable',
      detail: detailOf(analysis, binding, value, env),
      ...(short !== undefined ? { documentation: markup.text(short) } : {}),
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
    case 'mixture': return value.type === 'list' || value.type === 'posterior';
    case 'evaluand': return value.type === 'model' || value.type === 'ensemble';
    case 'task': return value.type === 'task';
    case 'tensor-rule': return value.type === 'string' || value.type === 'scalar' || value.type === 'list';
  }
}

function builtinItems(replace: Span, expected: ParamType | undefined, atStatementStart: boolean, markup: Markup): CompletionItem[] {
  // Without snippets the name alone: typing `(` then brings signature help, and no parenthesis is left unbalanced.
  return builtins.map((b) => ({
    label: b.name,
    kind: 'function' as const,
    detail: signatureLabel(b),
    documentation: builtinDocumentation(b, markup),
    insertText: b.name,
    snippet: `${b.name}($0)`,
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
  if (expected === 'tasks' || expected === 'task') return b.returns === 'Task';
  if (expected === 'mixture') return b.returns === 'Posterior';
  if (expected === 'evaluand') return /Model|Ensemble/.test(b.returns);
  return false;
}

export function builtinDocumentation(b: Builtin, markup: Markup = markdown): string {
  const params = b.params.map((p) => `- ${markup.doc(`\`${p.name}\``)}${p.default !== undefined ? ` (default ${p.default})` : ''}: ${markup.doc(p.doc)}`).join('\n');
  return [markup.doc(b.summary), markup.doc(b.doc), params, markup.block(b.example, 'tvr'), b.reference ? `Reference: ${b.reference}` : ''].filter(Boolean).join('\n\n');
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
    mixture: 'list of numbers or posterior', evaluand: 'Model or Ensemble', task: 'task', 'tensor-rule': 'filter, number or gradient',
  };
  return labels[type];
}

function completePath({ string, folderPart, folder, accept }: PathSite, offset: number, env: CompletionEnvironment): CompletionItem[] {
  if (!env.readDirectory) return [];
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
