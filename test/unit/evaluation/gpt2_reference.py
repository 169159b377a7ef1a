"""An independent GPT-2 forward pass in numpy (float64), for the text evaluator's tests.

Reads a model folder (config.json, model.safetensors) itself and prints the logits of the
token ids given on stdin as JSON: {"ids": [...]} -> {"logits": [[...], ...]}.
The math follows transformers' GPT2LMHeadModel: pre-norm blocks, Conv1D weights [in, out],
gelu_new, causal softmax attention, final layer norm, tied head unless lm_head.weight exists.
"""
import json
import math

import numpy as np

from causal_lm_reference import read_safetensors, serve


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def logits(folder, ids):
    config = json.load(open(folder + "/config.json"))
    w = read_safetensors(folder + "/model.safetensors")
    heads, eps = config["n_head"], config.get("layer_norm_epsilon", 1e-5)
    t = len(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:t]
    hidden = x.shape[1]
    d = hidden // heads
    causal = np.tril(np.ones((t, t), dtype=bool))
    for i in range(config["n_layer"]):
        p = "transformer.h.%d." % i
        a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        out = np.zeros((t, hidden))
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            scores = q[:, s] @ k[:, s].T / math.sqrt(d)
            scores = np.where(causal, scores, -np.inf)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            out[:, s] = scores @ v[:, s]
        x = x + out @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    head = w.get("lm_head.weight", w["transformer.wte.weight"])
    return x @ head.T


if __name__ == "__main__":
    serve(logits, "n_positions")
