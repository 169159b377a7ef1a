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
      const candidates = [...visible.keys()];
      const suggestion = closest(e.name, candidates);
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

/** The candidate with the smallest edit distance, if it is close enough to be a plausible typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(1, Math.floor(name.length / 3));
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - name.length) > limit) continue;
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row[j] = d;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
