// LiNeS (Wang et al. 2024, "Layer-increasing Network Scaling"): scale a task vector's
// tensors linearly by the depth of their layer, keeping shallow layers near the pre-trained
// model and deep ones near the fine-tuned one. The layer index comes from the tensor's name;
// the scale of a tensor is a constant of the plan, so each output tensor is one linear node.
import type { NodeBase, WeightNode } from '../language/program.ts';
import { layerIndex } from '../language/tensor-numbers.ts';
import { defineMethod, type Method } from './method.ts';

export interface LinesNode extends NodeBase {
  readonly op: 'lines';
  readonly kind: 'vector';
  readonly input: WeightNode;
  /** Scale of the first layer (index 0) and of tensors without a layer index. */
  readonly alpha: number;
  /** Scale of the last layer (index layers - 1). */
  readonly beta: number;
  /** L: the given `layers`, else 1 + the largest layer index among the input's tensors (0 when none has one). */
  readonly layers: number;
}

/** The scale of tensor `name`: alpha + (beta - alpha) l / (L - 1) at layer l; alpha without a layer index or when L <= 1. */
export function linesScale(node: Pick<LinesNode, 'alpha' | 'beta' | 'layers'>, name: string): number {
  const layer = layerIndex(name);
  if (layer === undefined || node.layers <= 1) return node.alpha;
  return node.alpha + (node.beta - node.alpha) * (layer / (node.layers - 1));
}

export const lines: Method<LinesNode> = defineMethod<LinesNode>()({
  name: 'lines',
  params: {
    vector: { type: 'vector', doc: 'The task vector to scale.' },
    alpha: { type: 'number', default: 0, doc: 'Scale of the first layer (index 0), and of every tensor whose name gives no layer index (embeddings, final norm, output head).' },
    beta: { type: 'number', default: 1, doc: 'Scale of the last layer (index L - 1); layers in between are scaled linearly.' },
    layers: { type: 'number', default: 0, min: 0, integer: true, doc: 'L, the number of layers; 0 counts them from the tensor names (1 + the largest index). Give it when the vector holds only some layers (after `select`).' },
  },
  returns: 'Vector',
  summary: 'LiNeS: scale each tensor of a task vector linearly by its layer depth.',
  doc: 'Each tensor of layer l (0-based) is multiplied by alpha + (beta - alpha) l / (L - 1): the first layer by `alpha`, the last by `beta`. The layer index is read from the tensor name: the first path segment `layers`, `layer`, `blocks` or `h` followed by a whole-number segment (`model.layers.3.`, `transformer.h.3.`, `encoder.layer.3.`, `blocks.3.`; segments separated by `.` or `/`). Tensors whose name gives no layer index are scaled by `alpha`, as in the authors\' code (which gives such tensors its minimum scale); with L = 1 every tensor is scaled by `alpha`. L counts one stack: a model with two stacks of layers (an encoder and a decoder) is scaled by the index within each against the deepest of them. The paper writes the scale as α + β (l - 1)/(L - 1) over layers 1..L: its β is `beta - alpha` here. With the defaults (0 and 1) the first layer and the tensors outside the layers keep their pre-trained values and the last layer takes the whole update. Add it to the base: `base + lines(ft - base, alpha=0.2, beta=1)`; after a merge, `base + lines(ties(a, b), alpha=0.5, beta=1)`.',
  example: 'edited = base + lines(t1, alpha=0, beta=1)',
  reference: 'LiNeS: Post-training Layer Scaling Prevents Forgetting and Enhances Model Merging (Wang et al., 2024)',
  tag: 'lines',
  statistics: false,
  gain: (node) => Math.max(Math.abs(node.alpha), Math.abs(node.beta)),
  facts: (node) => [node.layers > 1
    ? `LiNeS over ${node.layers} layers: layer 0 scaled by ${node.alpha}, layer ${node.layers - 1} by ${node.beta}; tensors without a layer index by ${node.alpha}`
    : `LiNeS: every tensor scaled by ${node.alpha} (${node.layers === 1 ? 'one layer' : 'no tensor name gives a layer index'})`],
  check({ vector, alpha, beta, layers }, rules) {
    let deepest = -1;
    const names = [...(vector.value.node.table?.keys() ?? [])];
    for (const name of names) deepest = Math.max(deepest, layerIndex(name) ?? -1);
    if (layers > 0 && deepest >= layers) {
      const name = names.find((n) => layerIndex(n) === deepest)!;
      rules.report(vector.expr, 'error', 'invalid-value', `lines() was given layers=${layers}, but tensor ${name} of this vector is in layer ${deepest} (counted from 0): give at least layers=${deepest + 1}, or leave it out to count the layers from the tensor names`);
      return { type: 'error' };
    }
    if (names.length > 0 && deepest < 0) {
      rules.report(vector.expr, 'warning', 'invalid-value', 'no tensor name of this vector gives a layer index (a segment layers, layer, blocks or h followed by a number): lines() scales every tensor by alpha');
    }
    return rules.derive<LinesNode>({ op: 'lines', input: vector.value.node, alpha, beta, layers: layers > 0 ? layers : deepest + 1 }, [vector.value]);
  },
  children: (node) => [node.input],
  structure: (node, key) => ({ op: 'lines', alpha: node.alpha, beta: node.beta, layers: node.layers, input: key.ref(node.input) }),
  anchors: (node) => [node.input],
  lower(node, b) {
    return b.linear([{ coef: linesScale(node, b.tensor), arg: b.value(node.input) }]);
  },
});
