// Random and mutated recipes for robustness tests (fast-check arbitraries), and one call
// of every IDE query at an offset, so that in-process and server-level fuzzing exercise
// the same surface.
import fc from 'fast-check';
import type { Analysis } from '../../server/src/language/analysis.ts';
import { builtins } from '../../server/src/language/builtins.ts';
import { codeActions } from '../../server/src/language/ide/code-actions.ts';
import { complete, type CompletionEnvironment } from '../../server/src/language/ide/completion.ts';
import { format } from '../../server/src/language/ide/format.ts';
import { hover } from '../../server/src/language/ide/hover.ts';
import { definition, documentSymbols, prepareRename, references, rename } from '../../server/src/language/ide/navigation.ts';
import { semanticTokens } from '../../server/src/language/ide/semantic-tokens.ts';
import { signatureHelp } from '../../server/src/language/ide/signature-help.ts';

/** Recipes that check clean against `writeRecipeWorkspace`: the seeds of mutations. */
export const validRecipes: readonly string[] = [
  [
    '# Forget toxicity, add science',
    'base = load("base.safetensors")',
    'sci = load("sci.safetensors")',
    'toxic = load("toxic.safetensors")',
    'tau = sci - base',
    'nu = toxic - base',
    'edited = base + 0.5*tau - (toxic - base)',
    'save(edited, "out/edited.safetensors", dtype="bf16")',
    '',
  ].join('\n'),
  [
    'base = load("base.safetensors", exclude="head/*")',
    'a = load("sci.safetensors", exclude=["head/*"])',
    'b = load("sharded/model.safetensors.index.json", exclude="head/*")',
    'merged = base + 0.3*ties(a - base, dare(b - base, p=0.5, seed=1), density=0.2)',
    'soup = mean(a, b, weights=[0.25, 0.75])',
    'mid = slerp(a, b, t=0.25)',
    'control = base - random_like(a - base, seed=3)',
    'save(merged, "out/m.safetensors")',
    'save(soup, "out/s.safetensors", shard_size="1MB")',
    'save(mid, "out/mid.safetensors", overwrite=true)',
    'save(control, "out/c.safetensors")',
    '',
  ].join('\n'),
  [
    'h = load("half/base.safetensors")',
    't = load("half/tuned.safetensors") - h',
    'f = load("tfjs/base/model.json")',
    'g = magnitude_prune(load("tfjs/tuned/model.json") - f, density=0.1)',
    'enc = select(t, "encoder/*")',
    'lam = 0.25',
    'save(h + lam*t, "out/h.safetensors")',
    'save(f + g, "out/f.safetensors")',
    'save(exclude(h, "head/*") + enc, "out/e.safetensors")',
    '',
  ].join('\n'),
];

const names = ['base', 'sci', 'toxic', 'tau', 'nu', 'x', 'lam', 'edited', '_', 'a1', 'Base', 'density', 'p', 'seed', 'values'];
const numbers = ['0', '1', '0.5', '.5', '1e-3', '2E+8', '1e308', '1e999', '123456789012345678901234567890', '0.0000', '3.'];
const strings = ['"base.safetensors"', '"sci.safetensors"', '"sharded/model.safetensors.index.json"', '"tfjs/base/model.json"', '"broken.safetensors"', '"missing.safetensors"', '""', '"\\""', '"unterminated', '"f16"', '"head/*"', '"2GB"', '"a\\\\b"'];
const punctuation = ['+', '-', '*', '/', '(', ')', '[', ']', ',', '=', '\n', '\n\n', '# comment\n', 'true', 'false'];
const oddities = ['é', '😀', '\u0000', '\r', '\r\n', '\t', '\u2028', '~', '$', '@', '"', '\\', 'ß'];

/** One token of the language's vocabulary (or a stray character). */
export const tokenArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...names, ...builtins.map((b) => b.name)) },
  { weight: 2, arbitrary: fc.constantFrom(...numbers) },
  { weight: 2, arbitrary: fc.constantFrom(...strings) },
  { weight: 5, arbitrary: fc.constantFrom(...punctuation) },
  { weight: 1, arbitrary: fc.constantFrom(...oddities) },
);

/** Random token sequences, joined with or without spaces. */
export const tokenRecipeArbitrary: fc.Arbitrary<string> = fc.tuple(fc.array(tokenArbitrary, { maxLength: 80 }), fc.array(fc.constantFrom('', ' ', '  '), { minLength: 1, maxLength: 80 }))
  .map(([tokens, gaps]) => tokens.map((t, i) => t + gaps[i % gaps.length]!).join(''));

export type Mutation =
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'duplicate'; readonly at: number; readonly length: number }
  | { readonly kind: 'insert'; readonly at: number; readonly text: string }
  | { readonly kind: 'flip-bracket'; readonly nth: number }
  | { readonly kind: 'huge-number'; readonly nth: number; readonly text: string }
  | { readonly kind: 'long-line'; readonly at: number; readonly repeat: number }
  | { readonly kind: 'nest'; readonly at: number; readonly depth: number; readonly closed: boolean };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(tokenArbitrary, fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 4 })) }),
  fc.record({ kind: fc.constant('flip-bracket' as const), nth: fc.nat() }),
  fc.record({ kind: fc.constant('huge-number' as const), nth: fc.nat(), text: fc.constantFrom('1e308', '1e400', '-1e400', '9'.repeat(400), '0.' + '0'.repeat(400) + '1', '1e-400') }),
  fc.record({ kind: fc.constant('long-line' as const), at: fc.nat(), repeat: fc.integer({ min: 100, max: 3000 }) }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: fc.integer({ min: 1, max: 200 }), closed: fc.boolean() }),
);

export function applyMutation(text: string, m: Mutation): string {
  const at = (n: number) => (text.length === 0 ? 0 : n % (text.length + 1));
  switch (m.kind) {
    case 'delete': return text.slice(0, at(m.at)) + text.slice(at(m.at) + m.length);
    case 'duplicate': return text.slice(0, at(m.at) + m.length) + text.slice(at(m.at));
    case 'insert': return text.slice(0, at(m.at)) + m.text + text.slice(at(m.at));
    case 'flip-bracket': {
      const brackets = [...text.matchAll(/[()[\]]/g)];
      if (brackets.length === 0) return text;
      const b = brackets[m.nth % brackets.length]!;
      const flipped = { '(': ')', ')': '(', '[': ']', ']': '[' }[b[0]]!;
      return text.slice(0, b.index) + flipped + text.slice(b.index + 1);
    }
    case 'huge-number': {
      const numbersIn = [...text.matchAll(/\d+(\.\d*)?/g)];
      if (numbersIn.length === 0) return text + m.text;
      const n = numbersIn[m.nth % numbersIn.length]!;
      return text.slice(0, n.index) + m.text + text.slice(n.index + n[0].length);
    }
    case 'long-line': {
      const lineEnd = text.indexOf('\n', at(m.at));
      const end = lineEnd < 0 ? text.length : lineEnd;
      return text.slice(0, end) + ' + tau'.repeat(m.repeat) + text.slice(end);
    }
    case 'nest': {
      const inner = text.slice(at(m.at));
      return text.slice(0, at(m.at)) + '('.repeat(m.depth) + (m.closed ? `x${')'.repeat(m.depth)}` : '') + inner;
    }
  }
}

/** A valid recipe with a few mutations applied. */
export const mutatedRecipeArbitrary: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...validRecipes), fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }))
  .map(([recipe, mutations]) => mutations.reduce(applyMutation, recipe));

/** Every IDE query once at `offset` (rename to a fresh name and to a taken one); returns how many answered something. */
export function runEveryQuery(analysis: Analysis, offset: number, env: CompletionEnvironment): number {
  const answers = [
    complete(analysis, offset, env),
    hover(analysis, offset, env),
    signatureHelp(analysis, offset),
    definition(analysis, offset),
    references(analysis, offset, true),
    references(analysis, offset, false),
    prepareRename(analysis, offset),
    rename(analysis, offset, 'renamed_1'),
    rename(analysis, offset, 'base'),
    semanticTokens(analysis),
    documentSymbols(analysis),
    format(analysis),
    codeActions(analysis, { start: Math.max(0, offset - 5), end: offset }),
  ];
  return answers.filter((a) => a !== undefined).length;
}
