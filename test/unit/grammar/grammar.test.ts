// Runs the TextMate grammar tests (cases/*.tvr, vscode-tmgrammar-test's `# ^^^ scope` format)
// under node:test, one test per case file, plus a check that a wrong assertion is caught,
// so a misconfigured tool cannot pass silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const grammar = join(root, 'grammar/tvr.tmLanguage.json');
const tool = join(root, 'node_modules/vscode-tmgrammar-test/dist/unit.js');
const casesDir = join(here, 'cases');

function runGrammarTest(caseFile: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [tool, '--compact', '--grammar', grammar, caseFile], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const cases = readdirSync(casesDir).filter((name) => name.endsWith('.tvr')).sort();

test('grammar case files exist', () => {
  assert.ok(cases.length >= 3, `expected grammar cases in ${relative(root, casesDir)}, found ${cases.length}`);
});

for (const name of cases) {
  test(`grammar: ${name}`, () => {
    const { status, output } = runGrammarTest(join(casesDir, name));
    assert.equal(status, 0, output);
  });
}

const wrongAssertions = [
  { title: 'a comment is not a string', text: '# a comment\n#  ^^^^^^^ string.quoted.double.tvr\n' },
  { title: 'a built-in is not a user function', text: 'x = load("m")\n#   ^^^^ entity.name.function.tvr\n' },
  { title: 'a keyword argument is not a binding', text: 'x = ties(a, density=0.2)\n#           ^^^^^^^ variable.other.definition.tvr\n' },
];

for (const { title, text } of wrongAssertions) {
  test(`grammar test tool reports a wrong assertion: ${title}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
    try {
      const file = join(dir, 'wrong.tvr');
      writeFileSync(file, `# SYNTAX TEST "source.tvr" "deliberately wrong"\n${text}`);
      const { status, output } = runGrammarTest(file);
      assert.notEqual(status, 0, `expected a failure, got:\n${output}`);
      assert.match(output, /missing required scopes/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
