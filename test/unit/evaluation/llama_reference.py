"""An independent Llama forward pass in numpy (float64), for the text evaluator's tests.

Reads a model folder (config.json, model.safetensors) itself and prints the logits of the
token ids given on stdin as JSON: {"ids": [...]} -> {"logits": [[...], ...]}, or the
token-weighted loss of documents: {"documents": [[ids], ...]} -> {"loss", "accuracy", "scored"}.
The math follows transformers' LlamaForCausalLM: RMSNorm, rotary position embeddings
(rotate-half convention; rope_scaling "llama3"), grouped-query causal attention, SwiGLU MLP,
Linear weights [out, in] with biases when attention_bias / mlp_bias, tied head unless
lm_head.weight exists.
"""
import json
import math

import numpy as np

from causal_lm_reference import read_safetensors, serve


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def inverse_frequencies(config, head_dim):
    """theta^(-2i/d) per pair of dimensions, with Llama 3.1's wavelength-dependent rescaling."""
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    freqs = [theta ** (-2.0 * i / head_dim) for i in range(head_dim // 2)]
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "default":
        return np.array(freqs)
    assert kind == "llama3", kind
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    scaled = []
    for f in freqs:
        wavelength = 2 * math.pi / f
        if wavelength < old / high:
            scaled.append(f)
        elif wavelength > old / low:
            scaled.append(f / factor)
        else:
            t = (old / wavelength - low) / (high - low)
            scaled.append((1 - t) * f / factor + t * f)
    return np.array(scaled)


def rotate(x, positions, freqs):
    """Rotary embedding of x [tokens, d]: dimension i is paired with i + d/2 and turned by position * freq."""
    half = x.shape[-1] // 2
    angle = positions[:, None] * freqs[None, :]
    c, s = np.cos(angle), np.sin(angle)
    a, b = x[:, :half], x[:, half:]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)


def logits(folder, ids):
    config = json.load(open(folder + "/config.json"))
    w = read_safetensors(folder + "/model.safetensors")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    d = config.get("head_dim") or hidden // heads
    eps = config.get("rms_norm_eps", 1e-6)
    freqs = inverse_frequencies(config, d)

    def linear(x, name):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    x = w["model.embed_tokens.weight"][ids]
    causal = np.tril(np.ones((t, t), dtype=bool))
    for i in range(config["num_hidden_layers"]):
        p = "model.layers.%d." % i
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(a, p + "self_attn.q_proj")
        k = linear(a, p + "self_attn.k_proj")
        v = linear(a, p + "self_attn.v_proj")
        out = np.zeros((t, heads * d))
        for h in range(heads):
            g = h // (heads // kv_heads)
            qh = rotate(q[:, h * d:(h + 1) * d], positions, freqs)
            kh = rotate(k[:, g * d:(g + 1) * d], positions, freqs)
            scores = np.where(causal, qh @ kh.T / math.sqrt(d), -np.inf)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            out[:, h * d:(h + 1) * d] = scores @ v[:, g * d:(g + 1) * d]
        x = x + linear(out, p + "self_attn.o_proj")
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + linear(silu(linear(m, p + "mlp.gate_proj")) * linear(m, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


if __name__ == "__main__":
    serve(logits, "max_position_embeddings")
