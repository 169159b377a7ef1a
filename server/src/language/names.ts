// Name resolution. A recipe is a sequence of bindings: a name is visible from the line
// after its definition on. Reports undefined names (with "did you mean"), uses before
// the definition, duplicate bindings and unused bindings.
import { builtinByName } from './builtins.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { LineIndex } from './line-index.ts';
import { walk, type Assignment, type NameRef, type Statement, type SyntaxTree } from './syntax-tree.ts';

export interface Binding {
  readonly name: string;
  readonly statement: Assignment;
  /** Position of the statement in the tree. */
  readonly index: number;
  readonly references: NameRef[];
}

export interface Resolution {
  /** Every definition, in source order (duplicates included). */
  readonly bindings: readonly Binding[];
  /** Each name reference -> the binding it denotes (undefined when unresolved). */
  readonly targets: ReadonlyMap<NameRef, Binding | undefined>;
  readonly diagnostics: readonly Diagnostic[];
}

export function resolveNames(tree: SyntaxTree, lines: LineIndex): Resolution {
  const bindings: Binding[] = [];
  const targets = new Map<NameRef, Binding | undefined>();
  const diagnostics: Diagnostic[] = [];
  const visible = new Map<string, Binding>();
  const allByName = new Map<string, Binding[]>();
  const bindingOfStatement = new Map<Statement, Binding>();

  tree.statements.forEach((statement, index) => {
    if (statement.kind === 'assignment') {
      const binding: Binding = { name: statement.target.name, statement, index, references: [] };
      bindings.push(binding);
      bindingOfStatement.set(statement, binding);
      const list = allByName.get(binding.name) ?? [];
      list.push(binding);
      allByName.set(binding.name, list);
    }
  });

  const suggester = new NameSuggester([...allByName.values()].map((list) => ({ name: list[0]!.name, lower: list[0]!.name.toLowerCase(), index: list[0]!.index })));

  tree.statements.forEach((statement, index) => {
    const expression = statement.kind === 'assignment' ? statement.value : statement.expression;
    walk(expression, (e) => {
      if (e.kind !== 'name') return;
      const binding = visible.get(e.name);
      targets.set(e, binding);
      if (binding) {
        binding.references.push(e);
        return;
      }
      const later = allByName.get(e.name)?.find((b) => b.index >= index);
      if (later) {
        const where = later.index === index ? 'in its own definition' : `before its definition on line ${lines.position(later.statement.start).line + 1}`;
        diagnostics.push({ span: e, severity: 'error', code: 'use-before-definition', message: `'${e.name}' is used ${where}` });
        return;
      }
      if (builtinByName.has(e.name)) {
        diagnostics.push({ span: e, severity: 'error', code: 'type-mismatch', message: `'${e.name}' is a function: call it, e.g. ${e.name}(...)` });
        return;
      }
      const suggestion = suggester.suggest(e.name, index);
      diagnostics.push({
        span: e,
        severity: 'error',
        code: 'undefined-name',
        message: `'${e.name}' is not defined${suggestion ? `; did you mean '${suggestion}'?` : ''}`,
        ...(suggestion ? { fixes: [{ title: `Change to '${suggestion}'`, edits: [{ span: e, newText: suggestion }], preferred: true }] } : {}),
      });
    });
    if (statement.kind === 'assignment') {
      const name = statement.target.name;
      const previous = visible.get(name);
      if (previous) {
        diagnostics.push({
          span: statement.target,
          severity: 'error',
          code: 'duplicate-binding',
          message: `'${name}' is already defined on line ${lines.position(previous.statement.start).line + 1}; choose another name`,
          related: [{ span: previous.statement.target, message: `first definition of '${name}'` }],
        });
      } else {
        const binding = bindingOfStatement.get(statement)!;
        if (builtinByName.has(name)) {
          diagnostics.push({ span: statement.target, severity: 'warning', code: 'builtin-shadowed', message: `'${name}' hides the built-in function ${name}()` });
        }
        visible.set(name, binding);
      }
    }
  });

  return { bindings, targets, diagnostics };
}

/** Unused-binding hints; separate so the checker can exempt bindings used by side effects. */
export function unusedBindings(resolution: Resolution, lines: LineIndex): Diagnostic[] {
  return resolution.bindings
    .filter((b) => b.references.length === 0)
    .map((b) => {
      const line = lines.position(b.statement.start).line;
      const lineStart = lines.offset({ line, character: 0 });
      const nextLine = lines.offset({ line: line + 1, character: 0 });
      const endsWithNewline = lines.text[nextLine - 1] === '\n' && nextLine > b.statement.end;
      return {
        span: b.statement.target,
        severity: 'hint' as const,
        code: 'unused-binding' as const,
        message: `'${b.name}' is never used`,
        unnecessary: true,
        fixes: [{ title: `Remove the unused binding '${b.name}'`, edits: [{ span: { start: lineStart, end: endsWithNewline ? nextLine : b.statement.end }, newText: '' }] }],
      };
    });
}

/**
 * Work done by name suggestions: edit distances computed and index lookups made.
 * Tests read it to show that one undefined name costs the same at 50,000 lines as at 50.
 */
export const suggestionWork = { distances: 0, lookups: 0 };

// Bounds that keep "did you mean" near-linear in the size of a recipe (see docs/language.md, Limits).
/** Longer names get no suggestion: a typo in them is not what happened. */
const maxSuggestedLength = 64;
/** Beyond the one-edit neighbourhood (looked up, not scanned), at most this many bindings are compared per undefined name. */
const scanBudget = 256;
/** Distinct undefined names that get a suggestion per analysis: a recipe with more is broken beyond typos. */
export const maxSuggestedNames = 200;

/** The largest edit distance that still reads as a typo of a name of this length. */
function typoBound(length: number): number {
  return Math.max(1, Math.floor(length / 3));
}

/** The candidate with the smallest edit distance, if it is close enough to be a plausible typo. For small sets (built-ins, arguments, choices). */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > maxSuggestedLength) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = typoBound(name.length);
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    const d = editDistance(lower, candidate.toLowerCase(), Math.min(limit, bestDistance - 1));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/**
 * Optimal string alignment distance (insertions, deletions, substitutions and adjacent
 * transpositions), or `bound + 1` as soon as it is known to exceed `bound`.
 */
export function editDistance(a: string, b: string, bound = Infinity): number {
  suggestionWork.distances++;
  if (Math.abs(a.length - b.length) > bound) return bound + 1;
  let twoBack = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    let rowMinimum = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, twoBack[j - 2]! + 1);
      current[j] = d;
      if (d < rowMinimum) rowMinimum = d;
    }
    // A row's minimum never decreases further down: past the bound, the distance is too.
    if (rowMinimum > bound) return bound + 1;
    [twoBack, previous, current] = [previous, current, twoBack];
  }
  return Math.min(previous[b.length]!, bound + 1);
}

interface Definition {
  readonly name: string;
  readonly lower: string;
  /** Statement index: visible to uses in later statements. */
  readonly index: number;
}

interface Match {
  readonly definition: Definition;
  readonly distance: number;
}

const identifierCharacters = 'abcdefghijklmnopqrstuvwxyz0123456789_';

/** Every string one edit (deletion, transposition, substitution, insertion) away from `word`. */
function oneEditAway(word: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < word.length; i++) out.push(word.slice(0, i) + word.slice(i + 1));
  for (let i = 0; i + 1 < word.length; i++) out.push(word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2));
  for (let i = 0; i <= word.length; i++) {
    for (const c of identifierCharacters) {
      if (i < word.length) out.push(word.slice(0, i) + c + word.slice(i + 1));
      out.push(word.slice(0, i) + c + word.slice(i));
    }
  }
  return out;
}

/**
 * "Did you mean" for undefined names, near-linear in the recipe: each distinct undefined
 * name is matched once (then cached); names one edit away are found by lookup in an index
 * wherever they are defined, and farther ones among the closest preceding definitions of
 * similar length (at most `scanBudget` of them). A small recipe is simply compared whole.
 */
class NameSuggester {
  private readonly definitions: readonly Definition[];
  private byLower: Map<string, Definition[]> | undefined;
  private byLength: Map<number, Definition[]> | undefined;
  private readonly cache = new Map<string, readonly Match[]>();

  constructor(definitions: readonly Definition[]) {
    this.definitions = definitions;
  }

  /** The best match defined before statement `useIndex` (closest, then first defined). */
  suggest(name: string, useIndex: number): string | undefined {
    let matches = this.cache.get(name);
    if (!matches) {
      matches = this.cache.size < maxSuggestedNames ? this.matches(name, useIndex) : [];
      this.cache.set(name, matches);
    }
    return matches.find((m) => m.definition.index < useIndex)?.definition.name;
  }

  private matches(name: string, useIndex: number): readonly Match[] {
    if (name.length > maxSuggestedLength) return [];
    const lower = name.toLowerCase();
    const limit = typoBound(name.length);
    const found = new Map<Definition, number>();
    const consider = (d: Definition): void => {
      if (found.has(d)) return;
      const distance = editDistance(lower, d.lower, limit);
      if (distance <= limit) found.set(d, distance);
    };
    if (this.definitions.length <= scanBudget) {
      for (const d of this.definitions) consider(d);
    } else {
      this.indexed(lower, limit, useIndex, found, consider);
    }
    return [...found].map(([definition, distance]) => ({ definition, distance })).sort((a, b) => a.distance - b.distance || a.definition.index - b.definition.index);
  }

  private indexed(lower: string, limit: number, useIndex: number, found: ReadonlyMap<Definition, number>, consider: (d: Definition) => void): void {
    if (!this.byLower || !this.byLength) {
      this.byLower = new Map();
      this.byLength = new Map();
      for (const d of this.definitions) {
        push(this.byLower, d.lower, d);
        push(this.byLength, d.lower.length, d);
      }
    }
    for (const variant of [lower, ...oneEditAway(lower)]) {
      suggestionWork.lookups++;
      for (const d of this.byLower.get(variant) ?? []) consider(d);
    }
    if (limit < 2 || [...found.values()].some((distance) => distance <= 1)) return;
    // Two edits or more: the closest definitions above the use, of a length within the bound,
    // taken newest first from the ends of the length buckets (each in source order).
    const cursors: { bucket: readonly Definition[]; next: number }[] = [];
    for (let length = lower.length - limit; length <= lower.length + limit; length++) {
      const bucket = this.byLength.get(length);
      if (bucket) cursors.push({ bucket, next: firstAtOrAfter(bucket, useIndex) - 1 });
    }
    for (let taken = 0; taken < scanBudget; taken++) {
      let newest: { bucket: readonly Definition[]; next: number } | undefined;
      for (const c of cursors) if (c.next >= 0 && (!newest || c.bucket[c.next]!.index > newest.bucket[newest.next]!.index)) newest = c;
      if (!newest) break;
      consider(newest.bucket[newest.next--]!);
    }
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Position of the first definition at or after statement `index` (definitions are in source order). */
function firstAtOrAfter(definitions: readonly Definition[], index: number): number {
  let low = 0;
  let high = definitions.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (definitions[mid]!.index < index) low = mid + 1;
    else high = mid;
  }
  return low;
}
