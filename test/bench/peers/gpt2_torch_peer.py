"""Peer for the GPT-2 part of test/bench/evaluation.bench.ts: the same GPT-2 forward pass
(transformers' GPT2LMHeadModel, tied head, logits for every position) in PyTorch on the
CPU, with torch.nn.functional ops only (the transformers library is not installed),
reading the same float32 weights from a safetensors file. Prints one JSON line.

usage: gpt2_torch_peer.py WEIGHTS --layers 12 --heads 12 --hidden 768 --vocab 50257
         --positions 1024 [--epsilon 1e-5] --batch 4 --length 256 --runs 3 [--threads N,1]
         [--check-ids 1,2,3 --check-out LOGITS.f32]

Timing: for each torch.set_num_threads value of --threads, one warm-up pass, then --runs
passes of [batch, length] seeded token ids; the median wall time. The fastest setting is
the peer's figure (all are in "settings"): Debian's torch runs matmuls in OpenBLAS, whose
own thread pool uses every core whatever set_num_threads says, so set_num_threads(cores)
(OpenMP threads for the other ops, spinning beside OpenBLAS's) can be slower than 1.
--check-ids: the logits [len(ids), vocab] of that one sequence are written to --check-out
as raw little-endian float32, for the benchmark to compare with tvr.
Exits 3 with {"error": ...} when torch cannot be imported.
"""
import argparse
import json
import math
import os
import struct
import sys
import time


def read_safetensors(path, torch):
    """name -> float32 tensor (views into one buffer read from the file)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise SystemExit(f"{name}: dtype {entry['dtype']}, expected F32")
        start, end = entry["data_offsets"]
        count = (end - start) // 4
        out[name] = torch.frombuffer(data, dtype=torch.float32, offset=start, count=count).view(*entry["shape"]) if count else torch.zeros(entry["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    for name in ("layers", "heads", "hidden", "vocab", "positions", "batch", "length", "runs"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--epsilon", type=float, default=1e-5)
    p.add_argument("--threads", default=f"{os.cpu_count()},1")
    p.add_argument("--check-ids", default="")
    p.add_argument("--check-out", default="")
    a = p.parse_args()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as error:
        print(json.dumps({"error": f"{sys.executable} cannot import torch ({error})"}))
        sys.exit(3)

    w = read_safetensors(a.weights, torch)
    h, heads = a.hidden, a.heads
    size = h // heads
    head = w.get("lm_head.weight", w["transformer.wte.weight"])

    def forward(ids):
        """Logits [batch * length, vocab] for ids [batch, length]."""
        batch, length = ids.shape
        x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:length]
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        lowest = torch.finfo(torch.float32).min

        def dense(t, name):
            # transformers' Conv1D: addmm(bias, x, weight) with the weight stored [in, out].
            return torch.addmm(w[f"{name}.bias"], t.reshape(-1, t.shape[-1]), w[f"{name}.weight"]).view(batch, length, -1)

        def norm(t, name):
            return F.layer_norm(t, (h,), w[f"{name}.weight"], w[f"{name}.bias"], a.epsilon)

        for i in range(a.layers):
            pre = f"transformer.h.{i}"
            q, k, v = dense(norm(x, f"{pre}.ln_1"), f"{pre}.attn.c_attn").split(h, dim=2)
            q, k, v = (t.view(batch, length, heads, size).transpose(1, 2) for t in (q, k, v))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(size)
            scores = torch.where(causal, scores, lowest)
            attended = torch.matmul(F.softmax(scores, dim=-1), v).transpose(1, 2).reshape(batch, length, h)
            x = x + dense(attended, f"{pre}.attn.c_proj")
            # gelu_new = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), torch's tanh GELU.
            x = x + dense(F.gelu(dense(norm(x, f"{pre}.ln_2"), f"{pre}.mlp.c_fc"), approximate="tanh"), f"{pre}.mlp.c_proj")
        x = norm(x, "transformer.ln_f")
        return torch.matmul(x.reshape(-1, h), head.t())

    def median(values):
        s, mid = sorted(values), len(values) // 2
        return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2

    settings = []
    with torch.no_grad():
        if a.check_ids:
            ids = torch.tensor([[int(t) for t in a.check_ids.split(",")]], dtype=torch.long)
            with open(a.check_out, "wb") as f:
                f.write(forward(ids).contiguous().numpy().astype("<f4").tobytes())
        generator = torch.Generator().manual_seed(1)
        ids = torch.randint(0, a.vocab, (a.batch, a.length), generator=generator)
        for threads in dict.fromkeys(int(t) for t in a.threads.split(",")):
            torch.set_num_threads(threads)
            forward(ids)  # warm-up
            walls, cpus = [], []
            for _ in range(a.runs):
                wall, cpu = time.perf_counter(), time.process_time()
                forward(ids)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            settings.append({"threads": threads, "seconds": walls, "median_s": median(walls), "cpu_median_s": median(cpus)})
    best = min(settings, key=lambda s: s["median_s"])
    result = {"torch": torch.__version__, "batch": a.batch, "length": a.length, **best, "settings": settings}
    result["tokens_per_s"] = a.batch * a.length / best["median_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
