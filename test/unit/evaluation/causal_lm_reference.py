"""What the causal-LM references share (gpt2_reference.py, llama_reference.py): reading a
safetensors file in float64, the token-weighted sliding-window scoring of documents, and the
stdin/stdout protocol: {"ids": [...]} -> {"logits": [[...], ...]}, {"documents": [[...], ...]}
-> {"loss", "accuracy", "scored"}, {"token_logprobs": [[...], ...]} -> {"token_logprobs": [[...], ...]}.
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


def scored_rows(logits, context, ids):
    """(t, logits predicting token t) for every token after the first, with the usual sliding
    window (stride half the context; each window scores only the tokens after the last one scored)."""
    stride = context // 2
    previous_end = 0
    for begin in range(0, len(ids), stride):
        end = min(begin + context, len(ids))
        new = end - max(previous_end, begin + 1)
        z = logits(ids[begin:end])
        for t in range(end - new, end):
            yield t, z[t - 1 - begin]
        previous_end = end
        if end == len(ids):
            break


def log_softmax_at(row, index):
    m = row.max()
    return row[index] - m - math.log(np.exp(row - m).sum())


def score(logits, context, documents):
    """Token-weighted loss and next-token accuracy."""
    nll, correct, scored = 0.0, 0, 0
    for ids in documents:
        for t, row in scored_rows(logits, context, ids):
            nll -= log_softmax_at(row, ids[t])
            correct += int(np.argmax(row) == ids[t])
            scored += 1
    return {"loss": nll / scored, "accuracy": correct / scored, "scored": scored}


def token_logprobs(logits, context, documents):
    """Per document, log p(token t | tokens before t) for every token after the first."""
    out = []
    for ids in documents:
        values = [0.0] * max(0, len(ids) - 1)
        for t, row in scored_rows(logits, context, ids):
            values[t - 1] = log_softmax_at(row, ids[t])
        out.append(values)
    return out


def serve(logits, context_key):
    """Answers the request on stdin about the folder sys.argv[1]; `logits(folder, ids)` is the model."""
    folder = sys.argv[1]
    request = json.load(sys.stdin)
    if "token_logprobs" in request:
        context = json.load(open(folder + "/config.json"))[context_key]
        json.dump({"token_logprobs": token_logprobs(lambda ids: logits(folder, ids), context, request["token_logprobs"])}, sys.stdout)
    elif "documents" in request:
        context = json.load(open(folder + "/config.json"))[context_key]
        json.dump(score(lambda ids: logits(folder, ids), context, request["documents"]), sys.stdout)
    else:
        json.dump({"logits": logits(folder, request["ids"]).tolist()}, sys.stdout)
