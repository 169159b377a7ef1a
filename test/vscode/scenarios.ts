// What a user sees in VS Code, one scenario per feature. Each scenario gets its own
// workspace folder (base files plus `files`) and its own browser window, so it depends on
// no other. To add one: a name, the recipe files it needs, and the steps, e.g.
//
//   uiScenario('a type error is underlined', { files: { 'bad.tvr': 'x = load("models/base.safetensors") + load("models/sci.safetensors")\n' } },
//     async (wb) => {
//       await wb.openFile('bad.tvr');
//       await wb.step('squiggle', () => wb.activeEditor().locator('.squiggly-error').first().waitFor());
//     }),
import assert from 'node:assert/strict';
import type { Workbench } from './workbench.ts';
import { waitUntil } from './workbench.ts';

export interface UiScenario {
  readonly name: string;
  /** Extra workspace files (path relative to the workspace -> content). */
  readonly files: Readonly<Record<string, string | Uint8Array>>;
  /** Workspace trust on and this folder untrusted: VS Code's restricted mode. */
  readonly restricted: boolean;
  run(workbench: Workbench): Promise<void>;
}

interface ScenarioOptions {
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  readonly restricted?: boolean;
}

export function uiScenario(name: string, options: ScenarioOptions, run: (workbench: Workbench) => Promise<void>): UiScenario {
  return { name, files: options.files ?? {}, restricted: options.restricted ?? false, run };
}

async function languageModeIsTvr(wb: Workbench): Promise<void> {
  await wb.openFile('negate.tvr');
  await wb.step('language-mode', () => wb.statusBarEntry('status.editor.mode').filter({ hasText: /^tvr$/ }).waitFor());
}

/** Tokens of negate.tvr with the scope the grammar gives them; each gets its own colour. (Monaco renders
 * tokens longer than 50 characters in several spans: keep these short.) */
const colouredTokens: readonly { readonly line: string; readonly text: string; readonly scope: string }[] = [
  { line: '# negation', text: '# negation: forget "toxic"', scope: 'comment.line.number-sign.tvr' },
  { line: 'base = load(', text: 'load', scope: 'support.function.builtin.tvr' },
  { line: 'base = load(', text: '"models/base.safetensors"', scope: 'string.quoted.double.tvr' },
  { line: 'edited = base', text: '0.75', scope: 'constant.numeric.tvr' },
];

export const uiScenarios: readonly UiScenario[] = [
  uiScenario('language mode is tvr on a .tvr file', {}, languageModeIsTvr),

  uiScenario('syntax colouring: the grammar scopes and colours comments, built-ins, strings and numbers', {}, async (wb) => {
    await wb.openFile('negate.tvr');
    const colours = await wb.step('colouring', () =>
      waitUntil('distinct token colours', async () => {
        const found = await Promise.all(colouredTokens.map(({ line, text }) => wb.colourOf(wb.token(line, text))));
        return new Set(found).size === found.length ? found : undefined;
      }));
    assert.equal(new Set(colours).size, colouredTokens.length);
    for (const { line, text, scope } of colouredTokens) {
      const scopes = await wb.step(`scopes-${scope}`, () => wb.textMateScopes(wb.token(line, text)));
      assert.equal(scopes[0], scope, `scopes of ${text}: ${scopes.join(' ')}`);
    }
  }),

  uiScenario('the extension activates and logs to the tvr output channel', {}, async (wb) => {
    await wb.openFile('negate.tvr');
    await wb.step('show-output', () => wb.runCommand('tvr: Show Output'));
    await wb.step('output-channel', () => waitUntil('"language server started" in the tvr output channel', async () =>
      (await wb.outputText()).includes('language server started') ? true : undefined, 30_000));
  }),

  uiScenario('a snippet expands into a recipe', {}, async (wb) => {
    await wb.openFile('scratch.tvr');
    await wb.focusEditorEnd();
    await wb.page.keyboard.type('negate');
    const labels = await wb.step('suggestions', () => wb.suggest());
    assert.ok(labels.some((label) => label.startsWith('negate')), `suggestions: ${labels.join(' | ')}`);
    await wb.step('snippet-accepted', () => wb.acceptSuggestion('negate'));
    const lines = await waitUntil('the snippet text in the editor', async () => {
      const text = await wb.editorLines();
      return text.some((line) => line.startsWith('lam = sweep(0, 1, 0.05)')) ? text : undefined;
    });
    assert.equal(lines[0], 'base = load("models/base.safetensors")');
  }),

  uiScenario('restricted mode: the language still works in an untrusted workspace', { restricted: true }, async (wb) => {
    await wb.step('restricted-indicator', () => wb.page.locator('.statusbar-item', { hasText: /Restricted Mode/ }).first().waitFor());
    await languageModeIsTvr(wb);
    await wb.step('show-output', () => wb.runCommand('tvr: Show Output'));
    await wb.step('output-channel', () => waitUntil('the server started untrusted', async () =>
      (await wb.outputText()).includes('workspace trusted: false') ? true : undefined, 30_000));
  }),
];
