#!/usr/bin/env python3
"""W4 (shared/spec/BENCHMARKS.md), PyTorch side: iAdvT's nearest-neighbour
directions for a batch of positions.

The same computation as `hotflip bench nn` (src/bench/neighbours.rs, the op in
src/ops/neighbours/): for each of P positions the K nearest vocabulary rows
(ids >= 2, not the position's own id) by Euclidean distance
(`torch.cdist` + `topk`), unit directions d = (E_k - w)/||E_k - w|| (0 for
equal vectors), ghat = g . d, alpha = eps * ghat / ||ghat|| over each example's
positions and all K, and r = sum_k alpha d. The data is drawn the same way:
a normal table, positions = their word's row + 0.01 noise, normal gradients,
examples of 400 positions.

Memory: the full [P, V] distance matrix would be 2.6 GB at W4's size, so the
search runs over blocks of --tile positions ([tile, V] at a time, 400 MB at
the default 2048); everything after the search is batched over all positions.

Usage:
    /work/main/.venv-torch/bin/python benches/pytorch/w4_neighbours.py --json
"""

import argparse
import json
import statistics
import sys
import time

import torch

FIRST_WORD = 2  # 0 = PAD and 1 = UNK are not words
EXAMPLE_LEN = 400  # positions per example, as src/bench/neighbours.rs
NOISE = 0.01


def make_problem(positions, vocab, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(vocab, dim, generator=gen)
    ids = torch.randint(FIRST_WORD, vocab, (positions,), generator=gen)
    w = table[ids] + NOISE * torch.randn(positions, dim, generator=gen)
    g = torch.randn(positions, dim, generator=gen)
    lengths = [EXAMPLE_LEN] * (positions // EXAMPLE_LEN)
    if positions % EXAMPLE_LEN:
        lengths.append(positions % EXAMPLE_LEN)
    example = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    return table, ids, w, g, example, len(lengths)


def nearest(table, ids, w, k, tile):
    """[P, K] neighbour ids, nearest first, by blocks of `tile` positions."""
    out = []
    for start in range(0, w.shape[0], tile):
        wb, own = w[start : start + tile], ids[start : start + tile]
        dist = torch.cdist(wb, table)  # [tile, V]
        dist[:, :FIRST_WORD] = float("inf")
        dist[torch.arange(wb.shape[0]), own] = float("inf")
        out.append(torch.topk(dist, k, dim=1, largest=False, sorted=True).indices)
    return torch.cat(out)


def iadvt(table, ids, w, g, example, n_examples, k, eps, tile):
    nbr = nearest(table, ids, w, k, tile)  # [P, K]
    diff = table[nbr] - w[:, None, :]  # [P, K, D]
    norm = diff.norm(dim=-1, keepdim=True)
    d = torch.where(norm > 0, diff / norm.clamp_min(1e-30), torch.zeros_like(diff))
    ghat = (d * g[:, None, :]).sum(-1)  # [P, K]
    sq = torch.zeros(n_examples).index_add_(0, example, (ghat * ghat).sum(-1))
    gnorm = sq.sqrt()[example][:, None]  # [P, 1], each position's example norm
    alpha = torch.where(gnorm > 0, eps * ghat / gnorm.clamp_min(1e-30), torch.zeros_like(ghat))
    r = (alpha[..., None] * d).sum(1)  # [P, D]
    return nbr, alpha, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--positions", type=int, default=12_800)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("-k", "--k", type=int, default=10)
    ap.add_argument("--eps", type=float, default=15.0)
    ap.add_argument("--tile", type=int, default=2048, help="positions per cdist block")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    problem = make_problem(a.positions, a.vocab, a.dim, a.seed)
    with torch.no_grad():
        for _ in range(a.warmup):
            iadvt(*problem, a.k, a.eps, a.tile)
        times = []
        for _ in range(max(1, a.iters)):
            t0 = time.perf_counter()
            iadvt(*problem, a.k, a.eps, a.tile)
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    report = dict(
        workload="W4",
        backend="pytorch-cpu",
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        positions=a.positions,
        vocab=a.vocab,
        dim=a.dim,
        k=a.k,
        tile=a.tile,
        iters=max(1, a.iters),
        ms=s * 1e3,
        gflops=2.0 * a.positions * a.vocab * a.dim / s / 1e9,
    )
    if a.json:
        print(json.dumps(report))
    else:
        print(
            f"W4 PyTorch P {a.positions} x V {a.vocab} x D {a.dim}, K {a.k}: {report['ms']:.1f} ms "
            f"({report['gflops']:.1f} GFLOP/s; median of {report['iters']}, {report['threads']} threads)",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()
