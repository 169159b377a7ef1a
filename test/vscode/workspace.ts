// The example workspace a scenario opens: recipes and real (tiny) safetensors checkpoints
// of one architecture, a base and two fine-tuned descendants.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeModel, perturbModel, safetensorsBytes, type FixtureModel } from '../helpers/checkpoint-fixtures.ts';

const architecture = [
  { name: 'encoder.weight', shape: [4, 3] },
  { name: 'encoder.bias', shape: [4] },
  { name: 'head.weight', shape: [2, 4] },
];

const base = makeModel(architecture, { seed: 1, scale: 0.5 });
/** The checkpoints of the workspace, with their exact values for reference computations (e.g. a vector norm shown on hover). */
export const models: Readonly<Record<'base' | 'sci' | 'toxic', FixtureModel>> = {
  base,
  sci: perturbModel(base, { seed: 2, scale: 0.05 }),
  toxic: perturbModel(base, { seed: 3, scale: 0.05 }),
};

/** A recipe the checker accepts without a diagnostic (so any squiggle a scenario sees is its own). */
export const negateRecipe = `# negation: forget "toxic"
base = load("models/base.safetensors")
sci = load("models/sci.safetensors") - base
toxic = load("models/toxic.safetensors") - base
edited = base + 0.5*sci - 0.75*toxic
save(edited, "out/edited.safetensors")
`;

/** Files every workspace has; a scenario adds its own recipes on top. */
export const baseFiles: Readonly<Record<string, string | Uint8Array>> = {
  'models/base.safetensors': safetensorsBytes(models.base, { metadata: { format: 'pt' } }),
  'models/sci.safetensors': safetensorsBytes(models.sci, { metadata: { format: 'pt' } }),
  'models/toxic.safetensors': safetensorsBytes(models.toxic, { metadata: { format: 'pt' } }),
  'negate.tvr': negateRecipe,
  'scratch.tvr': '',
};

export function writeWorkspace(dir: string, extra: Readonly<Record<string, string | Uint8Array>> = {}): string {
  for (const [rel, content] of Object.entries({ ...baseFiles, ...extra })) {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}
