// What the causal LMs (GPT-2, Llama) share once their weights are uploaded: the tensors by
// name, the head transposed for a plain product, logits through it for the positions asked
// for, and freeing it all. Each family writes its own `hidden` (the blocks).
import { disposeAll } from './family.ts';
import type { CausalLmWeights, FamilyConfig, Tensor, Tf } from './family.ts';
import { headLogits } from './layers.ts';

export abstract class DecoderWeights<C extends FamilyConfig> implements CausalLmWeights {
  readonly config: C;
  protected readonly tf: Tf;
  readonly #tensors: Map<string, Tensor>;
  /** The head as [hidden, vocab]: an untied head uploaded transposed, or a transposed copy of the embedding. */
  readonly #headT: Tensor;
  readonly #ownsHead: boolean;

  /**
   * `embedding` names the token embedding, the head of a tied model; an untied model's
   * `lm_head.weight` is taken as uploaded when `headUploadedTransposed`, else transposed here.
   */
  protected constructor(tf: Tf, config: C, tensors: Map<string, Tensor>, embedding: string, headUploadedTransposed: boolean) {
    this.tf = tf;
    this.config = config;
    this.#tensors = tensors;
    const untied = tensors.get('lm_head.weight');
    this.#ownsHead = !(untied && headUploadedTransposed);
    this.#headT = untied && headUploadedTransposed ? untied : tf.transpose(untied ?? tensors.get(embedding)!);
  }

  dispose(): void {
    disposeAll(this.#tensors);
    if (this.#ownsHead) this.#headT.dispose();
  }

  protected w(name: string): Tensor {
    return this.#tensors.get(name)!;
  }

  /** A tensor that only some configurations have (biases). */
  protected optional(name: string): Tensor | undefined {
    return this.#tensors.get(name);
  }

  logits(ids: Int32Array, batch: number, length: number, rows?: Int32Array): Tensor {
    return this.tf.tidy(() => headLogits(this.tf, this.hidden(ids, batch, length), this.#headT, rows));
  }

  /** The final hidden states [batch, length, hidden], after the last norm. */
  abstract hidden(ids: Int32Array, batch: number, length: number): Tensor;

  protected checkLength(length: number): void {
    if (length > this.config.positions) throw new RangeError(`a sequence of ${length} tokens exceeds the ${this.config.positions} positions of the model`);
  }
}
