// Mixtures of causal language models over the same text, from each model's log-probability
// of every next token (CausalLm.tokenLogProbs): an ensemble's loss (the probability of a
// token is the weighted sum of the models' probabilities of it), and Branch-Train-Merge's
// domain posterior (Bayes' rule over whole documents, averaged over documents). Float64,
// in log space, so a long document's likelihood does not underflow.

/** Per model, per document, the log-probability of each next token; every model over the same documents and tokens. */
export type TokenLogProbs = readonly (readonly Float64Array[])[];

export interface MixtureMetrics {
  /** Mean negative log-probability of the mixture over every scored token (token-weighted, as a single model's loss). */
  readonly loss: number;
  readonly perplexity: number;
  readonly scored: number;
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Loss and perplexity of p(token) = sum_i w_i p_i(token); weights sum to 1, a zero weight drops its model. */
export function mixtureMetrics(logProbs: TokenLogProbs, weights: readonly number[]): MixtureMetrics {
  const used = weights.flatMap((w, i) => (w > 0 ? [{ logWeight: Math.log(w), model: logProbs[i]! }] : []));
  if (used.length === 0) throw new RangeError('an ensemble needs a positive weight');
  let nll = 0;
  let scored = 0;
  const documents = used[0]!.model.length;
  for (let d = 0; d < documents; d++) {
    const tokens = used[0]!.model[d]!.length;
    for (let t = 0; t < tokens; t++) {
      nll -= logSumExp(used.map((u) => u.logWeight + u.model[d]![t]!));
      scored++;
    }
  }
  if (scored === 0) throw new RangeError('no document has two tokens or more, so no token can be predicted');
  const loss = nll / scored;
  return { loss, perplexity: Math.exp(loss), scored };
}

export interface Posterior {
  readonly weights: readonly number[];
  /** Documents that gave evidence (those with a token to predict). */
  readonly documents: number;
}

/**
 * P(model_j | d) = P(d | model_j) / sum_k P(d | model_k) under a uniform prior, for each
 * document d, averaged over the documents; with `topk`, the k largest kept (ties to the
 * model listed first) and renormalised, the others 0.
 */
export function documentPosterior(logProbs: TokenLogProbs, topk?: number): Posterior {
  const models = logProbs.length;
  const sums = new Array<number>(models).fill(0);
  let documents = 0;
  for (let d = 0; d < (logProbs[0]?.length ?? 0); d++) {
    if (logProbs[0]![d]!.length === 0) continue;
    const likelihoods = logProbs.map((model) => model[d]!.reduce((a, b) => a + b, 0));
    const evidence = logSumExp(likelihoods);
    likelihoods.forEach((l, j) => { sums[j] += Math.exp(l - evidence); });
    documents++;
  }
  if (documents === 0) throw new RangeError('no document has two tokens or more, so none gives evidence for a model');
  let weights = sums.map((s) => s / documents);
  if (topk !== undefined && topk < models) {
    const kept = new Set(weights.map((w, j) => ({ w, j })).sort((a, b) => b.w - a.w || a.j - b.j).slice(0, topk).map((x) => x.j));
    const total = weights.reduce((sum, w, j) => sum + (kept.has(j) ? w : 0), 0);
    weights = weights.map((w, j) => (kept.has(j) ? w / total : 0));
  }
  return { weights, documents };
}
