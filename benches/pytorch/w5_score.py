#!/usr/bin/env python3
"""W5 (shared/spec/BENCHMARKS.md), PyTorch side: HotFlip's character scoring
and top-b pruning for one beam step, by materialising every score and taking
`topk` — the baseline for hotflip's fused kernels (`hotflip bench score`:
src/bench/score.rs on the CPU, kernels/hotflip_score.cu on a GPU).

Workload (the defaults): 10 beam entries × 64 words × 16 positions, an
alphabet of 100 characters (ids 0 PAD and 1 UNK never inserted or flipped
to), char_dim 25, keep 10, so each entry keeps its best 2·keep = 20 children
(char_score.rs `entry_cap`). Words have 1..15 characters, every word open.

What is computed, as src/attack/char_score.rs `for_each_edit` (and
benches/pytorch/w2_hotflip.py, whose tensor code this follows):
  S = grads @ E.T                        [E, W, L, V], S_j(c) = e_j · E_c
  flip c at j < n (allowed c != a_j):    S_j(c) - S_j(a_j)
  delete at j < n (n_full >= 2):         the left shift of j..n-1 (the first
      unseen char of a long word, or PAD, moves in); the sum of the changed
      positions' flips over their number
  insert c at j <= n (n_full < L - 1):   the flip to c at j plus the right
      shift of j+1..n; the same mean
then per entry `topk(2·keep)` over all [2·W·L·V + W·L] scores (-inf where not
allowed), ranked by score (parent + score ranks the same: the parent is
constant per entry). Ties are left to `topk`; hotflip breaks them by entry,
op, word, position and character, which only matters for equal scores.

Timing: CPU with --threads threads (2, as the project's W1/W2 comparisons),
per step with a host clock; CUDA (when available) with CUDA events around
each step, the gradients rotating over enough sets (256 MiB in all) that
they come from device memory, not L2, as hotflip's bench does. Medians.

Memory-bandwidth floor (the fewest bytes one fused step must move: every
input read once, each entry's kept candidates written once; hotflip's
`min_bytes`, printed by `hotflip bench score --json`):
  gradients  E·W·L·D·4  = 10·64·16·25·4     = 1,024,000 B
  char ids   E·W·L·4    = 10·64·16·4        =    40,960 B  (u32)
  table      D·V·4      = 25·100·4          =    10,000 B
  per char   2·V·4      (allowed, code point) =     800 B
  per word   3·E·W·4    (open, length, unseen) =  7,680 B
  parents    E·4                            =        40 B
  written    E·(2·keep·16 + 4)              =     3,240 B  (total, gain, edit key; count)
  total                                       1,086,720 B ≈ 1.09 MB
At H100 SXM's 3.35 TB/s that is 0.32 µs, H100 PCIe 2.0 TB/s 0.54 µs, H200
4.8 TB/s 0.23 µs; the script measures the device's copy bandwidth (a large
device-to-device copy, bytes read + written) and prints the floor from it
and each time's fraction of it. (Arithmetic is not free either: S alone is
E·W·L·V·D = 25.6 M multiply-adds; hotflip's kernel computes only the
visible positions, ~60% of them here, but as separate rounded multiplies
and adds (bit-exact with the CPU), ~31 M FP32 instructions ≈ 1 µs on an
H100's ~30 T/s: for W5 the fused kernel's floor is set by arithmetic and
latency, not bandwidth. Materialising moves far more: S alone is
E·W·L·V·4 = 4.1 MB, the flip and insert score tensors as much again each.)

Usage:
    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
    .venv-torch/bin/python benches/pytorch/w5_score.py [--threads 2] [--iters 50]
        [--device cpu|cuda|both] [--compile] [--check] [--json]
        [--hotflip target/release/hotflip]
With --hotflip, hotflip's own bench runs in the same call (`hotflip
--threads T bench score --json`, timing the CUDA kernels too when it finds a
GPU) and the ratios are printed side by side: W5's target is the fused
version at least 5× faster than materialise + topk.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

PAD = 0
NINF = float("-inf")
FLIP, INSERT, DELETE = 0, 1, 2


def scores(g, ids, nfull, unseen, open_, table, allowed):
    """Every edit's score for E entries, -inf where not allowed:
    [E, 2·W·L·V + W·L] (flips, inserts, deletes; flat index = op block, then
    word, position, char id). g [E, W, L, D]; ids [E, W, L]; nfull, unseen,
    open_ [E, W]; table [V, D]; allowed [V] (bool)."""
    E, W, L = ids.shape
    V = table.shape[0]
    dev = g.device
    pos = torch.arange(L, device=dev)
    block = W * L * V
    out = torch.empty(E, 2 * block + W * L, device=dev)
    flip = out[:, :block].view(E, W, L, V)
    insert = out[:, block:2 * block].view(E, W, L, V)
    delete = out[:, 2 * block:].view(E, W, L)
    S = g @ table.T                                      # [E, W, L, V]: S_j(c)
    base = S.gather(-1, ids[..., None])                  # [E, W, L, 1]: S_j(a_j)
    torch.sub(S, base, out=flip)                         # S_j(c) - S_j(a_j)
    base = base.squeeze(-1)
    n = nfull.clamp(max=L - 1)[..., None]                # [E, W, 1]: visible chars
    visible = (pos < n) & open_[..., None]               # [E, W, L]
    # Deletes at j < n: position k in j..n-1 takes nxt[k]; suffix sums.
    nxt = torch.cat([ids[..., 1:], torch.zeros_like(ids[..., :1])], dim=-1)
    nxt[..., L - 2] = torch.where(nfull > L - 1, unseen, nxt[..., L - 2])
    moved = (nxt != ids) & (pos < n)
    term = torch.where(moved, S.gather(-1, nxt[..., None]).squeeze(-1) - base, 0.0)
    dsum = term.flip(-1).cumsum(-1).flip(-1)
    dcnt = moved.flip(-1).cumsum(-1).flip(-1)
    delete.copy_(torch.where(visible & (nfull[..., None] >= 2) & (dcnt > 0), dsum / dcnt.clamp(min=1), NINF))
    # Inserts at j <= n: the flip at j plus the right shift of j+1..n.
    prv = torch.cat([torch.zeros_like(ids[..., :1]), ids[..., :-1]], dim=-1)
    rmoved = (prv != ids) & (pos >= 1) & (pos <= n)
    rterm = torch.where(rmoved, S.gather(-1, prv[..., None]).squeeze(-1) - base, 0.0)
    rsum = rterm.flip(-1).cumsum(-1).flip(-1)
    rcnt = rmoved.flip(-1).cumsum(-1).flip(-1)
    r1 = torch.cat([rsum[..., 1:], torch.zeros_like(rsum[..., :1])], dim=-1)
    c1 = torch.cat([rcnt[..., 1:], torch.zeros_like(rcnt[..., :1])], dim=-1)
    torch.add(flip, r1[..., None], out=insert)
    insert.div_((c1 + 1)[..., None])
    alone = torch.where(c1 > 0, r1 / c1.clamp(min=1), NINF)  # c = a_j: the shift alone
    insert.scatter_(-1, ids[..., None], alone[..., None])
    char_bias = torch.where(allowed, 0.0, NINF)
    insertable = (pos <= n) & open_[..., None] & (nfull[..., None] < L - 1)
    insert.add_(torch.where(insertable, 0.0, NINF)[..., None]).add_(char_bias)
    flip.add_(torch.where(visible, 0.0, NINF)[..., None]).add_(char_bias)
    flip.scatter_(-1, ids[..., None], NINF)
    return out


def step(g, ids, nfull, unseen, open_, table, allowed, parent, cap, score_fn=scores):
    """One beam step's pruning: per entry the best `cap` (totals, flat indices)."""
    gain = score_fn(g, ids, nfull, unseen, open_, table, allowed)
    top, idx = gain.topk(min(cap, gain.shape[1]), dim=1)
    return parent[:, None] + top, idx


def workload(E, W, L, D, V, seed, device, long_words=False, closed=0.0):
    """Random inputs as hotflip's bench draws them (lengths 1..L-1, ids 2..V-1),
    optionally with long words (an unseen char) and closed words."""
    gen = torch.Generator().manual_seed(seed)
    hi = L + 3 if long_words else L - 1
    nfull = torch.randint(1, hi + 1, (E, W), generator=gen)
    chars = torch.randint(2, V, (E, W, L + 3), generator=gen)
    if long_words:  # some words of one repeated char pair: unchanged shifts
        pair = torch.randint(2, V, (E, W, 2), generator=gen)
        which = torch.randint(0, 2, (E, W, L + 3), generator=gen)
        runs = pair.gather(-1, which)
        chars = torch.where(torch.rand(E, W, 1, generator=gen) < 0.3, runs, chars)
    pos = torch.arange(L)
    ids = torch.where(pos < nfull.clamp(max=L - 1)[..., None], chars[..., :L], torch.zeros_like(chars[..., :L]))
    unseen = torch.where(nfull > L - 1, chars[..., L - 1], torch.zeros_like(nfull))
    open_ = torch.rand(E, W, generator=gen) >= closed
    g = torch.randn(E, W, L, D, generator=gen)
    table = torch.randn(V, D, generator=gen)
    allowed = torch.arange(V) >= 2
    parent = torch.randn(E, generator=gen) if closed > 0 else torch.zeros(E)
    return [t.to(device) for t in (g, ids, nfull, unseen, open_, table, allowed, parent)]


def reference(g, ids, nfull, unseen, open_, table, allowed):
    """char_score.rs's for_each_edit, loop for loop, in f32 (numpy), for one
    batch: {(entry, op, word, pos, char id): score}."""
    E, W, L = ids.shape
    V = table.shape[0]
    S = (g.double() @ table.double().T).float().numpy()
    ids, nfull, unseen, open_ = ids.numpy(), nfull.numpy(), unseen.numpy(), open_.numpy()
    allowed = allowed.numpy()
    f32 = np.float32
    out = {}
    for e in range(E):
        for w in range(W):
            if not open_[e, w]:
                continue
            a, at, n_full = ids[e, w], S[e, w], int(nfull[e, w])
            n = min(n_full, L - 1)
            base = [at[j][a[j]] for j in range(n + 1)]
            for j in range(n):
                for c in range(V):
                    if allowed[c] and c != a[j]:
                        out[(e, FLIP, w, j, c)] = f32(at[j][c] - base[j])
            if n_full >= 2:
                total, count = f32(0), 0
                for j in reversed(range(n)):
                    c = a[j + 1] if j + 1 < n else (int(unseen[e, w]) if n_full > n else PAD)
                    if c != a[j]:
                        total = f32(total + f32(at[j][c] - base[j]))
                        count += 1
                    if count:
                        out[(e, DELETE, w, j, PAD)] = f32(total / f32(count))
            if n_full < L - 1:
                rsum, rcnt = [f32(0)] * (n + 2), [0] * (n + 2)
                for k in reversed(range(1, n + 1)):
                    moved = a[k - 1] != a[k]
                    rsum[k] = f32(rsum[k + 1] + (f32(at[k][a[k - 1]] - base[k]) if moved else f32(0)))
                    rcnt[k] = rcnt[k + 1] + moved
                for j in range(n + 1):
                    for c in range(V):
                        here = c != a[j]
                        if allowed[c] and rcnt[j + 1] + here:
                            tot = f32(rsum[j + 1] + (f32(at[j][c] - base[j]) if here else f32(0)))
                            out[(e, INSERT, w, j, c)] = f32(tot / f32(rcnt[j + 1] + here))
    return out


def decode(flat, W, L, V):
    """Flat indices -> (op, word, pos, char id)."""
    block = W * L * V
    if flat >= 2 * block:
        r = flat - 2 * block
        return DELETE, r // L, r % L, PAD
    op, r = divmod(flat, block)
    return op, r // (L * V), (r // V) % L, r % V


def self_check():
    """The vectorised scores against the loop transcription on small random
    batches with long words, repeated characters and closed words; and topk's
    totals against the reference's best. Exits on a difference."""
    worst = 0.0
    for seed in range(4):
        E, W, L, D, V = 3, 5, 8, 6, 12
        g, ids, nfull, unseen, open_, table, allowed, parent = workload(E, W, L, D, V, seed, "cpu", True, 0.2)
        vec = scores(g, ids, nfull, unseen, open_, table, allowed)
        want = reference(g, ids, nfull, unseen, open_, table, allowed)
        got = {}
        for e in range(E):
            valid = torch.nonzero(vec[e] > NINF).squeeze(1).tolist()
            for i in valid:
                got[(e,) + decode(i, W, L, V)] = vec[e, i].item()
        if got.keys() != want.keys():
            extra, missing = got.keys() - want.keys(), want.keys() - got.keys()
            sys.exit(f"self-check: edit sets differ (seed {seed}): {len(extra)} extra {sorted(extra)[:5]}, "
                     f"{len(missing)} missing {sorted(missing)[:5]}")
        worst = max([worst] + [abs(got[k] - float(want[k])) for k in want])
        cap = 7
        totals, _ = step(g, ids, nfull, unseen, open_, table, allowed, parent, cap)
        for e in range(E):
            best = sorted((float(v) for k, v in want.items() if k[0] == e), reverse=True)[:cap]
            best = [float(np.float32(parent[e].item()) + np.float32(b)) for b in best]
            if max(abs(a - b) for a, b in zip(totals[e].tolist(), best)) > 1e-4:
                sys.exit(f"self-check: topk totals differ from the reference's best (seed {seed}, entry {e})")
    if worst > 1e-4:
        sys.exit(f"self-check: scores differ by {worst} (more than S's rounding explains)")
    return worst


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def time_cpu(args, inputs, fn):
    for _ in range(3):
        fn(*inputs)
    ts = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        fn(*inputs)
        ts.append((time.perf_counter() - t0) * 1e6)
    return median(ts)


def copy_bandwidth():
    """Device-to-device copy, bytes read + written per second (median of 20)."""
    n = 1 << 28  # 1 GiB of f32
    a = torch.empty(n, device="cuda").normal_()
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    ts = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e) / 1e3)
    del a, b
    torch.cuda.empty_cache()
    return 2 * 4 * n / median(ts)


def time_cuda(args, inputs, fn):
    g = inputs[0]
    rest = inputs[1:]
    sets = max(1, min(256, math.ceil((256 << 20) / (g.numel() * 4))))
    grads = [g] + [torch.randn_like(g) for _ in range(sets - 1)]
    for i in range(3):
        fn(grads[i % sets], *rest)
    torch.cuda.synchronize()
    ts = []
    for i in range(args.iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn(grads[i % sets], *rest)
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e) * 1e3)
    # Back-to-back steps (launch gaps hidden by queueing): device time per step.
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for i in range(sets):
        fn(grads[i], *rest)
    e.record()
    e.synchronize()
    return median(ts), s.elapsed_time(e) * 1e3 / sets


def min_bytes(E, W, L, D, V, cap):
    """hotflip's `min_bytes` (src/bench/score.rs): the floor's byte count."""
    rows = E * W
    return 4 * (rows * L * D + rows * L + D * V + 2 * V + 3 * rows + E) + E * (cap * 16 + 4)


def run_hotflip(args):
    cmd = [args.hotflip, "--threads", str(args.threads), "bench", "score", "--json", "--iters", str(args.iters),
           "--entries", str(args.entries), "--words", str(args.words), "--chars", str(args.chars),
           "--alphabet", str(args.alphabet), "--dim", str(args.dim), "--keep", str(args.keep)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10)
    p.add_argument("--words", type=int, default=64)
    p.add_argument("--chars", type=int, default=16, help="positions per word (L)")
    p.add_argument("--alphabet", type=int, default=100)
    p.add_argument("--dim", type=int, default=25)
    p.add_argument("--keep", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--device", choices=["cpu", "cuda", "both"], default="both",
                   help="both: CPU, and CUDA when available")
    p.add_argument("--compile", action="store_true", help="also time torch.compile(scores)")
    p.add_argument("--check", action="store_true", help="check the tensor code against a loop transcription first")
    p.add_argument("--hotflip", metavar="BIN", help="also run `BIN bench score --json` and compare")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    E, W, L, D, V, keep = args.entries, args.words, args.chars, args.dim, args.alphabet, args.keep
    cap = 2 * keep if keep > 0 else 1
    res = {"workload": "W5", "impl": "pytorch", "torch": torch.__version__, "entries": E, "words": W, "chars": L,
           "alphabet": V, "dim": D, "keep": keep, "threads": args.threads,
           "min_bytes": min_bytes(E, W, L, D, V, cap)}
    if args.check:
        res["check_max_abs_diff"] = self_check()
    fns = [("", scores)]
    if args.compile:
        fns.append(("compiled_", torch.compile(scores)))
    if args.device in ("cpu", "both"):
        inputs = workload(E, W, L, D, V, 5, "cpu")
        for tag, fn in fns:
            res[f"cpu_{tag}us"] = time_cpu(args, inputs, lambda *x, fn=fn: step(*x, cap, score_fn=fn))
    cuda = args.device in ("cuda", "both") and torch.cuda.is_available()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch finds no GPU")
    if cuda:
        res["gpu"] = torch.cuda.get_device_name()
        bw = copy_bandwidth()
        res["copy_gbps"] = bw / 1e9
        res["floor_us"] = res["min_bytes"] / bw * 1e6
        inputs = workload(E, W, L, D, V, 5, "cuda")
        for tag, fn in fns:
            latency, per_step = time_cuda(args, inputs, lambda g, *x, fn=fn: step(g, *x, cap, score_fn=fn))
            res[f"cuda_{tag}us"] = latency
            res[f"cuda_{tag}queued_us"] = per_step
    if args.hotflip:
        hf = run_hotflip(args)
        res["hotflip"] = hf
        if "cpu_us" in res:
            res["cpu_pytorch_over_fused"] = res["cpu_us"] / hf["fused_us"]
        if cuda and hf.get("cuda_us"):
            res["cuda_pytorch_over_fused"] = res["cuda_queued_us"] / hf["cuda_us"]
            res["cuda_pytorch_over_fused_step"] = res["cuda_us"] / hf["cuda_latency_us"]
            res["fused_floor_fraction"] = res["floor_us"] / hf["cuda_us"]
    if args.json:
        print(json.dumps(res))
        return
    print(f"W5 PyTorch {torch.__version__}: {E} entries × {W} words × {L} chars, alphabet {V}, dim {D}, "
          f"keep {keep} (top {cap} per entry); floor {res['min_bytes']:,} bytes")
    if "check_max_abs_diff" in res:
        print(f"  check: vectorised = loop transcription (max |diff| {res['check_max_abs_diff']:.2e})")
    for tag, _ in fns:
        if f"cpu_{tag}us" in res:
            print(f"  CPU {args.threads} threads, materialise + topk{' (compiled)' if tag else ''}: "
                  f"{res[f'cpu_{tag}us']:.0f} µs")
    if cuda:
        print(f"  {res['gpu']}: copy {res['copy_gbps']:.0f} GB/s, so the bandwidth floor is {res['floor_us']:.2f} µs")
        for tag, _ in fns:
            q = res[f"cuda_{tag}queued_us"]
            print(f"  CUDA materialise + topk{' (compiled)' if tag else ''}: {res[f'cuda_{tag}us']:.0f} µs per step "
                  f"waited for, {q:.1f} µs per step queued ({res['floor_us'] / q:.1%} of the floor)")
    elif args.device != "cpu":
        print("  CUDA: torch finds no GPU; CPU only")
    if args.hotflip:
        hf = res["hotflip"]
        print(f"  hotflip CPU fused {hf['fused_us']:.0f} µs, materialise+sort {hf['sorted_us']:.0f} µs"
              + (f"; PyTorch CPU / hotflip fused = {res['cpu_pytorch_over_fused']:.1f}×"
                 if "cpu_pytorch_over_fused" in res else ""))
        if hf.get("cuda_us"):
            print(f"  hotflip CUDA on {hf['gpu']}: kernels {hf['cuda_us']:.1f} µs per step, one step waited for "
                  f"{hf['cuda_latency_us']:.1f} µs, with the host merge {hf['cuda_host_us']:.1f} µs")
            if cuda:
                print(f"  PyTorch CUDA / hotflip CUDA: {res['cuda_pytorch_over_fused']:.1f}× per queued step, "
                      f"{res['cuda_pytorch_over_fused_step']:.1f}× per waited-for step (W5 target: ≥ 5×); "
                      f"hotflip's kernels at {res['fused_floor_fraction']:.1%} of the bandwidth floor")
        elif cuda:
            print("  hotflip found no GPU (its --device auto fell back): no CUDA comparison")


if __name__ == "__main__":
    main()
