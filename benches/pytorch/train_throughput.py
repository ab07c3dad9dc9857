#!/usr/bin/env python3
"""Training throughput, PyTorch side: documents per second through one
training step of char_cnn_lstm (forward with dropout, cross-entropy,
backward, gradient-norm clipping, Adam with exponential learning-rate decay).

The Rust side is `hotflip bench train` (src/bench/train.rs), which calls the
same step `hotflip train` runs. Both use W1's synthetic batch (every character
position a random non-PAD id; 70 characters, 4 classes), the module from
hotflip_models.py (MODELS.md names and semantics) and hotflip's training
defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, decay 0.9998 per step,
clip 5; dropout on the highway output with the preset's rate (small 0.5,
paper 0), where hotflip's char_cnn_lstm applies it.

Usage:
    .venv-torch/bin/python benches/pytorch/train_throughput.py --preset small --threads 2 --json
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotflip_models import CharCnnLstm  # noqa: E402

# Must match N_CHARS / N_CLASSES in src/bench/engine.rs.
N_CHARS = 70
N_CLASSES = 4

# CharCnnLstmConfig::small / ::paper in src/models/char_cnn_lstm.rs.
PRESETS = {
    "small": dict(char_dim=16, kernel_widths=[1, 2, 3, 4], kernel_filters=[32] * 4, highway_layers=1,
                  lstm_hidden=128, lstm_layers=1, dropout=0.5),
    "paper": dict(char_dim=25, kernel_widths=[1, 2, 3, 4, 5, 6], kernel_filters=[25 * w for w in range(1, 7)],
                  highway_layers=1, lstm_hidden=500, lstm_layers=2, dropout=0.0),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--words", type=int, default=40)
    p.add_argument("--chars", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = dict(n_chars=N_CHARS, n_classes=N_CLASSES, max_word_len=args.chars, max_words=args.words,
               **PRESETS[args.preset])
    model = CharCnnLstm(cfg)
    model.train()
    if cfg["dropout"] > 0:
        # hotflip drops out the last highway layer's output (the word
        # features the LSTM reads); a forward hook puts it in the same place
        # without changing the shared module.
        model.highway[-1].register_forward_hook(lambda _m, _i, out: F.dropout(out, cfg["dropout"], training=True))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9998)

    gen = torch.Generator().manual_seed(args.seed)
    chars = torch.randint(2, N_CHARS, (args.batch, args.words, args.chars), generator=gen)
    labels = torch.randint(0, N_CLASSES, (args.batch,), generator=gen)
    lengths = torch.full((args.batch,), args.words, dtype=torch.int64)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(chars, lengths), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(max(args.iters, 1)):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    median_s = statistics.median(times)
    report = {
        "impl": "pytorch",
        "workload": "train",
        "preset": args.preset,
        "batch": args.batch,
        "words": args.words,
        "chars": args.chars,
        "dropout": cfg["dropout"],
        "threads": torch.get_num_threads(),
        "iters": len(times),
        "median_s": median_s,
        "docs_per_s": args.batch / median_s,
        "torch_version": torch.__version__,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"training step pytorch {args.preset} ({report['threads']} threads): "
              f"{report['docs_per_s']:.1f} docs/s (median {median_s * 1e3:.2f} ms over {len(times)} steps)")


if __name__ == "__main__":
    main()
