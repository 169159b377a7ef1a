// Robustness of the language core: thousands of random token sequences and mutated
// recipes, and extreme inputs, through analyze() and every IDE query at random offsets.
// Nothing may throw, every call returns within a time bound, and the answers keep their
// basic invariants (ranges inside the text, ordered tokens, formatting is idempotent).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import type { GramResult } from '../../../server/src/checkpoints/statistics.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { analyze, type Analysis } from '../../../server/src/language/analysis.ts';
import type { CheckEnvironment, CheckpointLookup } from '../../../server/src/language/check.ts';
import type { CompletionEnvironment } from '../../../server/src/language/ide/completion.ts';
import { format } from '../../../server/src/language/ide/format.ts';
import { semanticTokens } from '../../../server/src/language/ide/semantic-tokens.ts';
import { statsGroups, type StatsSource } from '../../../server/src/language/ide/vector-stats.ts';
import { fixtureDir, seededRandom } from '../../helpers/checkpoint-fixtures.ts';
import { mutatedRecipeArbitrary, runEveryQuery, tokenRecipeArbitrary, validRecipes } from '../../helpers/recipe-fuzz.ts';
import { writeRecipeWorkspace } from '../../helpers/recipe-fixtures.ts';

/** Generous for a shared 2-core machine: real calls take well under a millisecond to a few. */
const callBoundMs = 1000;
const extremeBoundMs = 5000;

function timed<T>(what: string, boundMs: number, run: () => T): T {
  const started = performance.now();
  const result = run();
  const elapsed = performance.now() - started;
  assert.ok(elapsed < boundMs, `${what} took ${elapsed.toFixed(0)} ms (bound ${boundMs} ms)`);
  return result;
}

/** Headers of every fixture checkpoint, read once; anything else is not found. */
async function headerLookup(dir: string, paths: readonly string[]): Promise<(path: string) => CheckpointLookup> {
  const known = new Map<string, CheckpointLookup>();
  for (const path of paths) {
    const absolute = join(dir, path);
    try {
      known.set(absolute, { status: 'ok', header: await readCheckpointHeader(absolute) });
    } catch (error) {
      known.set(absolute, { status: 'error', error: error as CheckpointError });
    }
  }
  return (path) => known.get(path) ?? { status: 'error', error: new CheckpointError('not-found', path, `${path}: no such file`) };
}

/** Statistics as the server would have them once computed: a Gram matrix for any group. */
const readyStats: StatsSource = {
  lookup(paths) {
    const size = paths.length;
    const matrix = new Float64Array(size * size).map((_, i) => (i % (size + 1) === 0 ? 2 : 0.5));
    const gram: GramResult = {
      paths, size, includesReference: true, skipped: [], total: matrix, bytesRead: 0,
      tensors: ['encoder/kernel', 'encoder/bias', 'head/kernel', 'head/bias', 'dense1/kernel'].map((name) => ({ name, elements: 10, gram: matrix })),
    };
    return { status: 'ready', gram };
  },
};

const directory: CompletionEnvironment['readDirectory'] = (path) => {
  if (path.endsWith('nowhere')) throw new Error('ENOENT');
  return [{ name: 'base.safetensors', isDirectory: false }, { name: 'sharded', isDirectory: true }, { name: '.hidden', isDirectory: false }];
};

function checkInvariants(analysis: Analysis): void {
  const length = analysis.text.length;
  for (const d of analysis.diagnostics) {
    assert.ok(d.span.start >= 0 && d.span.start <= d.span.end && d.span.end <= length, `diagnostic span ${JSON.stringify(d.span)} outside 0..${length}: ${d.message}`);
    for (const fix of d.fixes ?? []) for (const e of fix.edits) assert.ok(e.span.start >= 0 && e.span.start <= e.span.end && e.span.end <= length, `fix "${fix.title}" edits outside the text`);
  }
  let previousEnd = 0;
  for (const t of semanticTokens(analysis)) {
    assert.ok(t.start >= previousEnd && t.start < t.end && t.end <= length, `semantic token ${JSON.stringify(t)} overlaps or leaves the text`);
    previousEnd = t.end;
  }
}

/** Formatting yields text that parses as cleanly as before, means the same (same diagnostics) and is already formatted. */
function checkFormatting(analysis: Analysis, env: CheckEnvironment): void {
  const edits = format(analysis);
  if (edits.length === 0) return;
  assert.deepEqual(edits.map((e) => e.span), [{ start: 0, end: analysis.text.length }]);
  const formatted = analyze(edits[0]!.newText, env);
  const what = `formatting ${JSON.stringify(analysis.text)} gave ${JSON.stringify(edits[0]!.newText)}`;
  assert.deepEqual(formatted.tree.errors.map((e) => e.message), [], `${what}, which does not parse`);
  // Messages quote source text and line numbers, which layout may change.
  const codes = (a: Analysis) => a.diagnostics.map((d) => `${d.code}: ${d.message.replace(/line \d+/g, 'line N').replace(/\s+/g, '')}`).sort();
  assert.deepEqual(codes(formatted), codes(analysis), `${what}, which checks differently`);
  assert.deepEqual(format(formatted), [], `${what}, which formats again differently`);
}

describe('robustness of analyze() and the IDE queries', () => {
  const { dir, cleanup } = fixtureDir();
  const workspace = writeRecipeWorkspace(dir);
  let env: CheckEnvironment;
  const completionEnv = (analysis: Analysis, stats: boolean): CompletionEnvironment => ({
    readDirectory: directory,
    ...(stats ? { stats: readyStats, statsGroups: statsGroups(analysis) } : {}),
  });

  before(async () => {
    const lookup = await headerLookup(dir, [...Object.keys(workspace.models), 'broken.safetensors', 'tfjs/base']);
    env = { file: join(dir, 'fuzz.tvr'), checkpoint: lookup };
  });
  after(cleanup);

  /** Analyzes `text` and runs every query at `offsets` (and both ends), each within the bound; with norms known or not. */
  function exercise(text: string, offsets: readonly number[], stats: boolean, boundMs = callBoundMs): Analysis {
    const analysis = timed(`analyze(${JSON.stringify(text.slice(0, 60))}...)`, boundMs, () => analyze(text, env));
    checkInvariants(analysis);
    for (const offset of [0, text.length, ...offsets.map((o) => o % (text.length + 1))]) {
      timed(`queries at ${offset}`, boundMs, () => runEveryQuery(analysis, offset, completionEnv(analysis, stats)));
    }
    return analysis;
  }

  it('starts from recipes that check clean', () => {
    for (const recipe of validRecipes) {
      const analysis = analyze(recipe, env);
      assert.deepEqual(analysis.diagnostics.filter((d) => d.severity === 'error' || d.severity === 'warning').map((d) => d.message), [], recipe);
    }
  });

  it('survives random token sequences', () => {
    fc.assert(fc.property(tokenRecipeArbitrary, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), (text, offsets, stats) => {
      checkFormatting(exercise(text, offsets, stats), env);
    }), { numRuns: 1500 });
  });

  it('survives mutated recipes: deletions, duplications, bracket flips, huge numbers, unicode, long lines, nesting', () => {
    fc.assert(fc.property(mutatedRecipeArbitrary, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), (text, offsets, stats) => {
      checkFormatting(exercise(text, offsets, stats), env);
    }), { numRuns: 1500 });
  });

  it('survives any string at all', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(fc.nat(), { maxLength: 3 }), fc.boolean(), (text, offsets, stats) => {
      exercise(text, offsets, stats);
    }), { numRuns: 500 });
  });

  const random = seededRandom(7);
  const manyLines = Array.from({ length: 10_000 }, (_, i) => `v${i} = ${i === 0 ? 'load("base.safetensors")' : `v${i - 1} + 0.${i % 10}*(v0 - v0)`}`).join('\n');
  const extremes: readonly { name: string; text: string }[] = [
    { name: '5,000 nested parentheses, closed', text: `x = ${'('.repeat(5000)}1${')'.repeat(5000)}\n` },
    { name: '5,000 nested parentheses, never closed', text: `x = ${'('.repeat(5000)}1\ny = 2\n` },
    { name: '5,000 nested calls, never closed', text: `x = ${'mean('.repeat(5000)}\n` },
    { name: '5,000 nested lists', text: `x = ${'['.repeat(5000)}${']'.repeat(5000)}\n` },
    { name: 'brackets closed by the wrong kind, 5,000 deep', text: `x = ${'('.repeat(5000)}1${']'.repeat(5000)}\n` },
    { name: 'a 100,000-long chain of unary minus', text: `x = ${'-'.repeat(100_000)}1\n` },
    { name: 'a call with 50,000 arguments', text: `x = mean(${Array(50_000).fill('base').join(', ')})\n` },
    { name: 'a 1 MB line', text: `x = ${'a + '.repeat(250_000)}a\n` },
    { name: '10,000 lines of bindings', text: manyLines },
    { name: 'a 300-digit number and 1e999', text: `x = ${'9'.repeat(300)} * 1e999 - 1e-999\n` },
    { name: 'only newlines', text: '\n'.repeat(100_000) },
    { name: 'CRLF line ends and a byte order mark', text: `\uFEFFbase = load("base.safetensors")\r\nt = load("sci.safetensors") - base\r\nsave(base + t, "o.safetensors")\r\n` },
    { name: 'NUL bytes and lone surrogates', text: `x\u0000 = "\uD800" + \uDC00\n` },
    { name: 'random bytes', text: Array.from({ length: 20_000 }, () => String.fromCharCode(Math.floor(random() * 0x3000))).join('') },
  ];
  for (const e of extremes) {
    it(`survives ${e.name}`, () => {
      exercise(e.text, [1, 7, Math.floor(e.text.length / 2), e.text.length - 1], true, extremeBoundMs);
    });
  }
});
