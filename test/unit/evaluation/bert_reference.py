"""An independent BERT / RoBERTa sequence-classifier forward pass in numpy (float64), for the
classifier evaluator's tests.

Reads a model folder (config.json, model.safetensors) itself and classifies each example
given on stdin alone, unpadded:
  {"examples": [{"ids": [...], "type_ids": [...]}, ...], "labels": [...]}
  -> {"logits": [[...], ...], "loss": ..., "accuracy": ...}   (loss and accuracy with labels)
The math follows transformers' BertForSequenceClassification and
RobertaForSequenceClassification: word + position + token-type embeddings and LayerNorm;
post-norm blocks of softmax self-attention and an erf-gelu MLP, Linear weights [out, in];
BERT: tanh pooler on the first token, then `classifier`; RoBERTa: positions from
pad_token_id + 1 over non-padding tokens, token type 0, head `classifier.dense` (tanh) then
`classifier.out_proj` on the first token.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_reference import gelu_new, layer_norm, read_safetensors  # noqa: E402


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def linear(x, w, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def logits(folder, ids, type_ids):
    config = json.load(open(folder + "/config.json"))
    w = read_safetensors(folder + "/model.safetensors")
    roberta = config["model_type"] == "roberta"
    p = "roberta." if roberta else "bert."
    eps = config.get("layer_norm_eps", 1e-12)
    act = gelu_new if config.get("hidden_act", "gelu") == "gelu_new" else gelu
    ids = np.array(ids)
    if roberta:
        pad = config.get("pad_token_id", 1)
        real = (ids != pad).astype(np.int64)
        positions = np.cumsum(real) * real + pad
        types = np.zeros_like(ids)
    else:
        positions = np.arange(len(ids))
        types = np.array(type_ids)
    e = p + "embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][positions] + w[e + "token_type_embeddings.weight"][types]
    x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    heads = config["num_attention_heads"]
    d = x.shape[1] // heads
    for i in range(config["num_hidden_layers"]):
        l = p + "encoder.layer.%d." % i
        q, k, v = (linear(x, w, l + "attention.self." + n) for n in ("query", "key", "value"))
        out = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            scores = q[:, s] @ k[:, s].T / math.sqrt(d)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            out[:, s] = scores @ v[:, s]
        x = layer_norm(linear(out, w, l + "attention.output.dense") + x, w[l + "attention.output.LayerNorm.weight"], w[l + "attention.output.LayerNorm.bias"], eps)
        inner = act(linear(x, w, l + "intermediate.dense"))
        x = layer_norm(linear(inner, w, l + "output.dense") + x, w[l + "output.LayerNorm.weight"], w[l + "output.LayerNorm.bias"], eps)
    first = x[0]
    if roberta:
        return linear(np.tanh(linear(first, w, "classifier.dense")), w, "classifier.out_proj")
    return linear(np.tanh(linear(first, w, "bert.pooler.dense")), w, "classifier")


def score(all_logits, labels):
    nll, correct = 0.0, 0
    for z, label in zip(all_logits, labels):
        m = z.max()
        nll += m + math.log(np.exp(z - m).sum()) - z[label]
        correct += int(np.argmax(z) == label)
    return {"loss": nll / len(labels), "accuracy": correct / len(labels)}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    z = [logits(sys.argv[1], e["ids"], e.get("type_ids")) for e in request["examples"]]
    result = {"logits": [row.tolist() for row in z]}
    if "labels" in request:
        result.update(score(z, request["labels"]))
    json.dump(result, sys.stdout)
