"""An independent GPT-2 forward pass in numpy (float64), for the text evaluator's tests.

Reads a model folder (config.json, model.safetensors) itself and prints the logits of the
token ids given on stdin as JSON: {"ids": [...]} -> {"logits": [[...], ...]}.
The math follows transformers' GPT2LMHeadModel: pre-norm blocks, Conv1D weights [in, out],
gelu_new, causal softmax attention, final layer norm, tied head unless lm_head.weight exists.
"""
import json
import math
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry["dtype"]
        start, end = entry["data_offsets"]
        out[name] = np.frombuffer(data[base + start:base + end], dtype="<f4").reshape(entry["shape"]).astype(np.float64)
    return out


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


def score(folder, documents):
    """Token-weighted loss and next-token accuracy with the usual sliding window
    (stride half the context; each window scores only the tokens after the last one scored)."""
    context = json.load(open(folder + "/config.json"))["n_positions"]
    stride = context // 2
    nll, correct, scored = 0.0, 0, 0
    for ids in documents:
        previous_end = 0
        for begin in range(0, len(ids), stride):
            end = min(begin + context, len(ids))
            new = end - max(previous_end, begin + 1)
            z = logits(folder, ids[begin:end])
            for t in range(end - new, end):
                row = z[t - 1 - begin]
                m = row.max()
                nll += m + math.log(np.exp(row - m).sum()) - row[ids[t]]
                correct += int(np.argmax(row) == ids[t])
                scored += 1
            previous_end = end
            if end == len(ids):
                break
    return {"loss": nll / scored, "accuracy": correct / scored, "scored": scored}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    if "documents" in request:
        json.dump(score(sys.argv[1], request["documents"]), sys.stdout)
    else:
        json.dump({"logits": logits(sys.argv[1], request["ids"]).tolist()}, sys.stdout)
