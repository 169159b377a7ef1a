// The README.md model card of a Hugging Face model folder output, in the Hub's format:
// YAML front matter (base_model, tags, library_name), then the recipe, the chosen
// coefficients, the provenance tvr records in the weights' metadata and, when the run
// evaluated, the evaluation tables. Text from files and recipes is escaped
// (display-text.ts): a recipe or a folder name cannot add markup or break the front matter.
import { basename, dirname, relative } from 'node:path';
import { isInside } from '../checkpoints/write-hf-folder.ts';
import { markdownCode, markdownFence, markdownText } from '../display-text.ts';
import type { ModelCardRequest } from '../engine/outputs.ts';
import { preOrder } from '../engine/plan/walk.ts';
import type { WeightNode } from '../language/program.ts';
import { methodOf } from '../methods/registry.ts';
import { evaluationMarkdown } from './markdown.ts';
import type { EvaluationResult } from './schema.ts';

export interface ModelCardInput extends ModelCardRequest {
  readonly recipeText: string;
  /** The run's evaluations (empty when it evaluated nothing). */
  readonly evaluations: readonly EvaluationResult[];
}

/** Hub tags for the methods a saved value is made with, in the order they first appear. */
function methodTags(root: WeightNode): string[] {
  const tags = new Set<string>(['tvr']);
  const nodes = [...preOrder([root])];
  if (new Set(nodes.filter((n) => n.op === 'load').map((n) => n.path)).size > 1) tags.add('merge');
  for (const node of nodes) {
    switch (node.op) {
      case 'load': case 'select': break;
      case 'combine': tags.add(node.kind === 'vector' || node.terms.some((t) => t.node.kind === 'vector') ? 'task-arithmetic' : 'model-soup'); break;
      default: tags.add(methodOf(node).tag);
    }
  }
  return [...tags];
}

const YAML_RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

/**
 * A YAML scalar showing `text` as it is: plain when it is a simple name (no YAML
 * meaning: not a number, a boolean or null), else double-quoted with every character
 * YAML would not take literally escaped.
 */
export function yamlScalar(text: string): string {
  if (/^[A-Za-z_][A-Za-z0-9._/-]*$/.test(text) && !YAML_RESERVED.test(text)) return text;
  const wellFormed = text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  return JSON.stringify(wellFormed).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A path as the card shows it: relative to the recipe's folder when inside it (a card is for publishing; absolute paths name someone's disk). */
function shownPath(path: string, recipeDir: string): string {
  return isInside(path, recipeDir) ? relative(recipeDir, path) : path;
}

export function modelCard(input: ModelCardInput): string {
  const { version, recipe: recipePath, recipeHash, inputs, seeds, point } = input.provenance;
  const recipeDir = dirname(recipePath);
  const sweeps = Object.entries(point);
  const lines = [
    '---',
    `base_model: ${yamlScalar(input.baseModel)}`,
    'tags:',
    ...methodTags(input.save.node).map((tag) => `- ${yamlScalar(tag)}`),
    'library_name: transformers',
    '---',
    '',
    `# ${markdownText(basename(input.save.path))}`,
    '',
    `Made with tvr ${markdownText(version)} by the recipe below from ${markdownCode(input.baseModel)}${inputs.length > 1 ? ` and ${inputs.length - 1} other model${inputs.length === 2 ? '' : 's'}` : ''}${input.torchDtype ? `; weights stored as ${input.torchDtype}` : ''}.`,
    '',
    '## Recipe',
    '',
    markdownFence(input.recipeText.replace(/\n$/, ''), 'tvr'),
    '',
    '## Chosen coefficients',
    '',
    ...(sweeps.length === 0
      ? ['The recipe has no sweeps: its coefficients are the numbers written in it.']
      : ['| sweep | value |', '|---|---:|', ...sweeps.map(([name, value]) => `| ${markdownCode(name, 'table-cell')} | ${value} |`)]),
    '',
    '## Provenance',
    '',
    `Also in the metadata of every weights file (keys \`tvr.*\`). Recipe ${markdownCode(basename(recipePath))}, sha256 ${markdownCode(recipeHash)}.`,
    '',
    '| input | sha256 of its header |',
    '|---|---|',
    ...inputs.map((i) => `| ${markdownCode(shownPath(i.path, recipeDir), 'table-cell')} | ${i.header_sha256 === null ? 'unread' : markdownCode(i.header_sha256, 'table-cell')} |`),
    ...(seeds.length > 0 ? ['', `Seeds: ${seeds.map((s) => `${markdownCode(s.op)} seed ${s.seed} (recipe line ${s.line})`).join('; ')}.`] : []),
  ];
  if (input.evaluations.length > 0) {
    lines.push('', '## Evaluation');
    for (const e of input.evaluations) {
      lines.push('', ...(input.evaluations.length > 1 ? [`### Evaluation ${e.id} (recipe line ${e.line})`, ''] : []), evaluationMarkdown(e));
    }
  }
  return `${lines.join('\n')}\n`;
}
