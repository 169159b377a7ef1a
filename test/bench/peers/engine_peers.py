"""Peers for test/bench/engine.bench.ts: the same recipes in numpy (memory-mapped
safetensors, tensor by tensor) and in torch the way the task-vectors reference code
works (whole state dicts in memory). Prints one JSON line: seconds of work, CPU seconds (all threads) and peak RSS.

usage: engine_peers.py numpy|torch ta|ties OUT BASE FT1 FT2 ... --lam L --density D [--fsync]
       engine_peers.py numpy-bf16 ta|ties OUT BASE_INDEX FT1_INDEX ...   (sharded bf16 checkpoints,
       model.safetensors.index.json; bf16 output, round to nearest even; the bench has no NaNs)
(--fsync: fsync the output before exiting, as `tvr run --sync` does before its rename)
"""
import argparse
import json
import os
import resource
import struct
import time


def read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def header_bytes(tensors):
    """safetensors header for float32 tensors [(name, shape)] in order."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors:
        size = 4
        for d in shape:
            size *= d
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw


def ties(np, flat, density):
    """TIES of the rows of `flat` (one task vector each): trim to the top `density`, elect signs, disjoint mean."""
    n = flat.shape[1]
    kk = int(density * n)
    if kk < n:
        a = np.abs(flat)
        kth = np.partition(a, n - kk, axis=1)[:, n - kk:n - kk + 1]
        flat = np.where(a >= kth, flat, 0) if kk > 0 else np.zeros_like(flat)
    elected = np.sign(flat.sum(axis=0))
    agree = (np.sign(flat) == elected) & (flat != 0)
    return (flat * agree).sum(axis=0) / np.maximum(agree.sum(axis=0), 1)


def run_numpy(args):
    import numpy as np

    def mapped(path):
        header, start = read_header(path)
        data = np.memmap(path, dtype=np.uint8, mode="r")
        return {k: data[start + v["data_offsets"][0]: start + v["data_offsets"][1]].view(np.float32).reshape(v["shape"])
                for k, v in header.items()}

    base = mapped(args.base)
    fts = [mapped(p) for p in args.ft]
    names = list(read_header(args.base)[0].keys())
    with open(args.out, "wb") as out:
        out.write(header_bytes([(k, base[k].shape) for k in names]))
        for k in names:
            b = base[k]
            if args.workload == "ta":
                acc = fts[0][k] - b
                for ft in fts[1:]:
                    acc += ft[k]
                    acc -= b
                np.multiply(acc, args.lam, out=acc)
                acc += b
                acc.tofile(out)
            else:
                merged = ties(np, np.stack([(ft[k] - b).reshape(-1) for ft in fts]), args.density)
                (b + args.lam * merged.reshape(b.shape).astype(np.float32)).astype(np.float32).tofile(out)
        if args.fsync:
            out.flush()
            os.fsync(out.fileno())


def run_numpy_bf16(args):
    """Task arithmetic or TIES over sharded bf16 checkpoints, tensor by tensor, in float32 (numpy has no bf16)."""
    import numpy as np

    def mapped(index_path):
        folder = os.path.dirname(index_path)
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for shard in shards:
            header, start = read_header(os.path.join(folder, shard))
            data = np.memmap(os.path.join(folder, shard), dtype=np.uint8, mode="r")
            for k, v in header.items():
                tensors[k] = (data[start + v["data_offsets"][0]: start + v["data_offsets"][1]].view(np.uint16), v["shape"])
        return tensors

    def decode(u16):
        return (u16.astype(np.uint32) << 16).view(np.float32)

    base = mapped(args.base)
    fts = [mapped(p) for p in args.ft]
    names = list(base.keys())
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for k in names:
        size = 2 * base[k][0].size
        header[k] = {"dtype": "BF16", "shape": base[k][1], "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(args.out, "wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for k in names:
            b = decode(base[k][0])
            if args.workload == "ta":
                acc = decode(fts[0][k][0]) - b
                for ft in fts[1:]:
                    acc += decode(ft[k][0])
                    acc -= b
                np.multiply(acc, args.lam, out=acc)
                acc += b
            else:
                merged = ties(np, np.stack([decode(ft[k][0]) - b for ft in fts]), args.density)
                acc = (b + np.float32(args.lam) * merged.astype(np.float32)).astype(np.float32)
            u = acc.view(np.uint32)
            ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16).tofile(out)


def run_torch(args):
    import torch

    torch.set_grad_enabled(False)

    def load(path):
        """The whole checkpoint in memory, as torch.load gives it to the reference code."""
        header, start = read_header(path)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        return {k: torch.frombuffer(data, dtype=torch.float32, offset=start + v["data_offsets"][0],
                                    count=(v["data_offsets"][1] - v["data_offsets"][0]) // 4).reshape(v["shape"])
                for k, v in header.items()}

    names = list(read_header(args.base)[0].keys())
    # As in task_vectors.py: each TaskVector loads the pretrained and its finetuned state dict.
    vectors = []
    for path in args.ft:
        pretrained, finetuned = load(args.base), load(path)
        vectors.append({k: finetuned[k] - pretrained[k] for k in names})
        del pretrained, finetuned
    if args.workload == "ta":
        total = vectors[0]
        for v in vectors[1:]:
            total = {k: total[k] + v[k] for k in names}
        pretrained = load(args.base)
        merged = {k: pretrained[k] + args.lam * total[k] for k in names}
    else:
        pretrained = load(args.base)
        merged = {}
        for k in names:
            flat = torch.stack([v[k].reshape(-1) for v in vectors])
            n = flat.shape[1]
            kk = int(args.density * n)
            if kk < n:
                a = flat.abs()
                kth = a.kthvalue(n - kk + 1, dim=1, keepdim=True).values if kk > 0 else None
                flat = flat * (a >= kth) if kk > 0 else torch.zeros_like(flat)
            elected = torch.sign(flat.sum(dim=0))
            agree = (torch.sign(flat) == elected) & (flat != 0)
            tv = (flat * agree).sum(dim=0) / agree.sum(dim=0).clamp(min=1)
            merged[k] = pretrained[k] + args.lam * tv.reshape(pretrained[k].shape)
    with open(args.out, "wb") as out:
        out.write(header_bytes([(k, tuple(merged[k].shape)) for k in names]))
        for k in names:
            merged[k].contiguous().numpy().tofile(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["numpy", "numpy-bf16", "torch"])
    parser.add_argument("workload", choices=["ta", "ties"])
    parser.add_argument("out")
    parser.add_argument("base")
    parser.add_argument("ft", nargs="+")
    parser.add_argument("--lam", type=float, default=0.4)
    parser.add_argument("--density", type=float, default=0.2)
    parser.add_argument("--fsync", action="store_true")
    args = parser.parse_args()
    if args.peer == "torch":
        import torch  # noqa: F401  (imported before timing, like numpy below)
    else:
        import numpy  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    {"numpy": run_numpy, "numpy-bf16": run_numpy_bf16, "torch": run_torch}[args.peer](args)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "max_rss_bytes": after.ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
