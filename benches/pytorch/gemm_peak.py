#!/usr/bin/env python3
"""Practical float32 GEMM ceiling of this machine, as PyTorch's BLAS reaches it.

W1 is dominated by matrix products (LSTM gates, highway layers, convolutions
lowered to GEMM), so this number bounds what any engine, ours or PyTorch, can
reach on the same cores; compare it with `benches/gemm.rs`.

Usage:
    .venv-torch/bin/python benches/pytorch/gemm_peak.py --threads 2 --json
"""

import argparse
import json
import statistics
import time

import torch


def time_matmul(n, iters, warmup):
    # Fixed inputs and a preallocated output, so allocation is not timed.
    a = torch.randn(n, n, dtype=torch.float32)
    b = torch.randn(n, n, dtype=torch.float32)
    out = torch.empty(n, n, dtype=torch.float32)
    for _ in range(warmup):
        torch.matmul(a, b, out=out)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--warmup", type=int, default=3)
    # Enough repetitions for a stable median, capped so the 2048 case (about
    # 17 GFLOP per call) stays quick on two cores.
    p.add_argument("--min-seconds", type=float, default=1.0,
                   help="target total timed seconds per size (at least 5 iters)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = []
    for n in args.sizes:
        flop = 2.0 * n ** 3
        # Calibrate iterations from one probe call.
        probe = time_matmul(n, 1, 1)
        iters = max(5, min(200, int(args.min_seconds / max(probe, 1e-6))))
        median_s = time_matmul(n, iters, args.warmup)
        results.append({
            "impl": "pytorch",
            "op": "matmul_f32",
            "n": n,
            "threads": torch.get_num_threads(),
            "iters": iters,
            "median_s": median_s,
            "gflops": flop / median_s / 1e9,
            "torch_version": torch.__version__,
        })

    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(f"matmul f32 {r['n']:>5}x{r['n']}: median {r['median_s'] * 1e3:9.3f} ms, "
                  f"{r['gflops']:7.1f} GFLOP/s ({r['threads']} threads, {r['iters']} iters, "
                  f"torch {r['torch_version']})")


if __name__ == "__main__":
    main()
