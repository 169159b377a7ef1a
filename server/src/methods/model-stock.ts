// Model Stock (Jang et al. 2024), as mergekit merges with it (filter_wise=false): per
// tensor, flattened, the fine-tuned models' average is pulled towards the base by a ratio
// set by the mean angle between their task vectors. The ratio comes from the Gram matrix
// of the offsets (one pass of dot products); the output is one linear node.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { norms, type Gram } from './gram.ts';
import { defineMethod, type Method } from './method.ts';

export interface ModelStockNode extends NodeBase {
  readonly op: 'model_stock';
  readonly kind: 'model';
  readonly base: WeightNode;
  readonly models: readonly WeightNode[];
}

/** mergekit's floor under the product of two offsets' norms (a zero offset has cosine 0). */
const NORM_PRODUCT_FLOOR = 1e-6;

/**
 * t = N c / (1 + (N - 1) c) from the Gram matrix of the N offsets, c the mean pairwise
 * cosine (each clamped to [-1, 1], its norm product to at least 1e-6).
 */
export function modelStockRatio(gram: Gram): number {
  const n = norms(gram);
  const count = gram.length;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) sum += Math.min(1, Math.max(-1, gram[i]![j]! / Math.max(NORM_PRODUCT_FLOOR, n[i]! * n[j]!)));
  }
  const cos = sum / ((count * (count - 1)) / 2);
  return (count * cos) / (1 + (count - 1) * cos);
}

export const modelStock: Method<ModelStockNode> = defineMethod<ModelStockNode>()({
  name: 'model_stock',
  params: {
    base: { type: 'model', doc: 'The pre-trained model the fine-tuned ones started from.' },
    models: { type: 'model', variadic: true, doc: 'Fine-tuned models (at least two).' },
  },
  returns: 'Model',
  summary: 'Model Stock: the fine-tuned models\' average, pulled towards the base by their angle.',
  doc: 'Per tensor, flattened: with the task vectors d_i = m_i - base of N models and c the mean of their pairwise cosines (each product of norms floored at 1e-6, each cosine clamped to [-1, 1]), t = N c / (1 + (N - 1) c) and the result is t mean(m_i) + (1 - t) base, as mergekit\'s `model_stock` (filter_wise: false). Orthogonal task vectors give the base, identical ones their model. mergekit\'s filter_wise: true (a ratio per row) is not offered. Where c = -1/(N - 1) the ratio is infinite and the run stops on the non-finite values.',
  example: 'merged = model_stock(base, ft1, ft2, ft3)',
  reference: 'Model Stock: All we need is just a few fine-tuned models (Jang et al., 2024)',
  tag: 'model_stock',
  statistics: true,
  check({ base, models }, rules) {
    if (models.length < 2) {
      rules.report(models[0]!.expr, 'error', 'argument-count', 'model_stock() needs at least two fine-tuned models besides the base: the ratio comes from the angle between their task vectors');
      return { type: 'error' };
    }
    const aligned = rules.align([base, ...models]);
    if (!aligned) return { type: 'error' };
    const [b, ...ms] = aligned;
    return rules.derive<ModelStockNode>({ op: 'model_stock', base: b!.node, models: ms.map((m) => m.node) }, aligned, { kind: 'model' });
  },
  children: (node) => [node.base, ...node.models],
  structure: (node, key) => ({ op: 'model_stock', base: key.ref(node.base), models: node.models.map((m) => key.ref(m)) }),
  anchors: (node) => [node.base],
  lower(node, b) {
    const base = b.value(node.base);
    const models = node.models.map((m) => b.value(m));
    const offsets = models.map((m) => b.linear([{ coef: 1, arg: m }, { coef: -1, arg: base }]));
    return b.gramCombination(node, offsets, [base, ...models], (gram) => {
      const t = modelStockRatio(gram);
      return [1 - t, ...models.map(() => t / models.length)];
    });
  },
});
