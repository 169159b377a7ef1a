// Shows that the end-to-end suite fails when a feature it checks is broken: for each mutant,
// a copy of the sources with one feature broken on purpose is built and packaged, and the
// checks of that feature run against it; each must FAIL. The real sources are never touched.
//
//   node test/vscode/mutants.ts [--only NAME]
//
// Exit code 0 when every mutant was caught, 1 when one survived (the suite passed with a broken
// feature), 2 when something could not run. Each mutant's screenshots and logs go to
// test-results/vscode-mutants/<name>/. Needs scripts/setup-vscode-e2e.sh first. It takes a
// few minutes (a build, a package and a code-server per mutant): run it after changing the
// suite, not in CI.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface Mutant {
  readonly name: string;
  /** What a user would see. */
  readonly breaks: string;
  readonly file: string;
  /** Must occur exactly once in `file`. */
  readonly find: string;
  readonly replace: string;
  /** The checks that must fail (run.ts --only). */
  readonly checks: readonly string[];
}

const mutants: readonly Mutant[] = [
  {
    name: 'no-diagnostics',
    breaks: 'the server publishes no diagnostics',
    file: 'server/src/lsp/diagnostics.ts',
    find: 'diagnostics: analysis.diagnostics.map(',
    replace: 'diagnostics: analysis.diagnostics.slice(0, 0).map(',
    checks: ['diagnostics:', 'in-host'],
  },
  {
    name: 'no-completion',
    breaks: 'completion returns no items',
    file: 'server/src/lsp/completion.ts',
    find: 'return items.map((item): CompletionItem',
    replace: 'return items.slice(0, 0).map((item): CompletionItem',
    checks: ['completion', 'in-host'],
  },
  {
    name: 'no-hover',
    breaks: 'hover returns nothing',
    file: 'server/src/lsp/hover.ts',
    find: 'return result ? {',
    replace: 'return false ? {',
    checks: ['hover', 'in-host'],
  },
  {
    name: 'wrong-norm',
    breaks: 'the hover shows a norm 1% too large',
    file: 'server/src/language/ide/describe.ts',
    find: '`**L2 norm ${formatNumber(norm)}**',
    replace: '`**L2 norm ${formatNumber(norm * 1.01)}**',
    checks: ['hover', 'in-host'],
  },
  {
    name: 'quick-fix-without-edit',
    breaks: 'the quick fix is offered but changes nothing',
    file: 'server/src/lsp/code-actions.ts',
    find: 'fix.edits.map((e) => toTextEdit(analysis, e))',
    replace: '[]',
    checks: ['quick fix', 'in-host'],
  },
  {
    name: 'run-without-json',
    breaks: 'Run Recipe starts the CLI without --json, so no results reach the panel',
    file: 'client/src/run/cli-process.ts',
    find: "'run', request.recipe, '--json', ",
    replace: "'run', request.recipe, ",
    checks: ['Run Recipe'],
  },
  {
    name: 'panel-base-column',
    breaks: 'the results table shows the fine-tuned metric in the base column',
    file: 'client/src/webview/table.ts',
    find: "referenceCell(reference('base', task.name), task, 'base')",
    replace: "referenceCell(reference('finetuned', task.name), task, 'base')",
    checks: ['Run Recipe'],
  },
  {
    name: 'untrusted-runs-commands',
    breaks: 'an untrusted workspace runs external evaluator commands',
    file: 'client/src/run/cli-process.ts',
    find: "...(request.trusted ? [] : ['--untrusted'])",
    replace: '',
    checks: ['external evaluator'],
  },
];

function node(args: readonly string[], cwd: string): number {
  const result = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
  return result.status ?? 2;
}

/** A copy of what the build and the extension need (not the README: the checks do not read it), with `mutant` applied; returns the .vsix. */
function buildMutant(mutant: Mutant, dir: string): string {
  for (const entry of ['package.json', '.vscodeignore', 'grammar', 'client', 'server', 'scripts/build.ts']) {
    cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const file = join(dir, mutant.file);
  const text = readFileSync(file, 'utf8');
  const count = text.split(mutant.find).length - 1;
  if (count !== 1) throw new Error(`${mutant.name}: ${JSON.stringify(mutant.find)} occurs ${count} times in ${mutant.file} (the source changed: update the mutant)`);
  writeFileSync(file, text.replace(mutant.find, mutant.replace));
  if (node(['scripts/build.ts', '--production'], dir) !== 0) throw new Error(`${mutant.name}: the build failed`);
  const vsix = join(dir, 'mutant.vsix');
  const packaged = node(['node_modules/@vscode/vsce/vsce', 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', vsix], dir);
  if (packaged !== 0) throw new Error(`${mutant.name}: vsce package failed`);
  return vsix;
}

function main(): number {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const selected = mutants.filter((mutant) => !values.only || mutant.name.includes(values.only));
  if (selected.length === 0) {
    console.error(`mutants: none matches ${values.only}; names: ${mutants.map((m) => m.name).join(', ')}`);
    return 2;
  }
  const outcomes: string[] = [];
  let survived = 0;
  for (const mutant of selected) {
    console.log(`\nmutant ${mutant.name}: ${mutant.breaks}`);
    const dir = mkdtempSync(join(tmpdir(), 'tvr-mutant-'));
    try {
      const vsix = buildMutant(mutant, dir);
      const code = node(['test/vscode/run.ts', '--vsix', vsix, '--artifacts', join(root, 'test-results/vscode-mutants', mutant.name), ...mutant.checks.flatMap((check) => ['--only', check])], root);
      if (code === 2) throw new Error(`${mutant.name}: the suite could not run`);
      if (code === 0) survived += 1;
      outcomes.push(`${code === 1 ? 'caught  ' : 'SURVIVED'} ${mutant.name}: ${mutant.breaks}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\n${outcomes.join('\n')}\n${selected.length - survived} of ${selected.length} mutants caught`);
  return survived === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`mutants: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
}
