#!/usr/bin/env python3
"""W1 (shared/spec/BENCHMARKS.md), PyTorch side: char_cnn_lstm forward + backward.

The Rust engine's W1 (`src/bench/engine.rs`, `benches/w1.rs`) is reported as a
ratio against this script on the same machine and thread count, so the model
must do exactly the same arithmetic: the architecture and parameter names
follow shared/spec/MODELS.md (`char_cnn_lstm`), and the batch, like the Rust
workload's, fills every character position with a random non-PAD id.

Usage:
    .venv-torch/bin/python benches/pytorch/w1_char_cnn_lstm.py --preset paper --json
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

# Must match N_CHARS / N_CLASSES in src/bench/engine.rs.
N_CHARS = 70
N_CLASSES = 4

PRESETS = {
    # HotFlip §4 with Kim et al.'s small char-CNN (MODELS.md): F = 525.
    "paper": dict(
        char_dim=25,
        kernel_widths=[1, 2, 3, 4, 5, 6],
        kernel_filters=[25 * w for w in range(1, 7)],
        highway_layers=1,
        lstm_hidden=500,
        lstm_layers=2,
    ),
    "small": dict(
        char_dim=16,
        kernel_widths=[1, 2, 3, 4],
        kernel_filters=[32] * 4,
        highway_layers=1,
        lstm_hidden=128,
        lstm_layers=1,
    ),
}


class Highway(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Linear(dim, dim)
        self.transform = nn.Linear(dim, dim)

    def forward(self, x):
        t = torch.sigmoid(self.gate(x))
        h = F.relu(self.transform(x))
        return t * h + (1 - t) * x


class CharCnnLstm(nn.Module):
    """Module and parameter names are the checkpoint contract of MODELS.md, so a
    state_dict of this module loads a project checkpoint unchanged."""

    def __init__(self, n_chars, n_classes, char_dim, kernel_widths, kernel_filters,
                 highway_layers, lstm_hidden, lstm_layers, dropout=0.0):
        super().__init__()
        # padding_idx keeps the PAD row at zero and out of the gradient, as the
        # contract requires.
        self.char_embedding = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(char_dim, f, w) for w, f in zip(kernel_widths, kernel_filters)
        )
        n_features = sum(kernel_filters)
        self.highway = nn.ModuleList(Highway(n_features) for _ in range(highway_layers))
        self.lstm = nn.LSTM(
            n_features, lstm_hidden, num_layers=lstm_layers, batch_first=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.classifier = nn.Linear(lstm_hidden, n_classes)

    def forward(self, chars, lengths):
        """chars: [B, W, L] int64 ids; lengths: [B] true word counts (on CPU)."""
        b, w, l = chars.shape
        x = self.char_embedding(chars.reshape(b * w, l))   # [B*W, L, D]
        x = x.transpose(1, 2)                               # Conv1d wants channels first
        # Narrow convolution, tanh, max over positions: one feature per filter.
        x = torch.cat([torch.tanh(conv(x)).amax(dim=2) for conv in self.convs], dim=1)
        for layer in self.highway:
            x = layer(x)
        x = x.reshape(b, w, -1)
        # Packing makes h_n the state at each document's own last word, which is
        # what the contract asks for once a batch mixes lengths. In this
        # benchmark every document has all W words, so it costs only the
        # packing itself, as the Rust side's masking does.
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.classifier(h_n[-1])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--words", type=int, default=40)
    p.add_argument("--chars", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.benchmark = True

    model = CharCnnLstm(N_CHARS, N_CLASSES, **PRESETS[args.preset]).to(device)
    # Dropout is 0 anyway; train() keeps the cuDNN LSTM on its trainable path
    # (its backward refuses to run in eval mode).
    model.train()

    # One fixed batch per seed. Ids start at 2 so no position is PAD or UNK:
    # every position does real work, matching the Rust workload.
    gen = torch.Generator().manual_seed(args.seed)
    chars = torch.randint(2, N_CHARS, (args.batch, args.words, args.chars), generator=gen)
    labels = torch.randint(0, N_CLASSES, (args.batch,), generator=gen)
    lengths = torch.full((args.batch,), args.words, dtype=torch.int64)  # stays on CPU
    chars, labels = chars.to(device), labels.to(device)

    def sync():
        # CUDA launches are asynchronous; without this the clock would time
        # only the kernel launches.
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(chars, lengths), labels)
        loss.backward()

    for _ in range(args.warmup):
        step()
    sync()

    times = []
    for _ in range(max(args.iters, 1)):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)

    # Median, not mean: on a shared 2-core machine a single preempted
    # iteration would otherwise dominate.
    median_s = statistics.median(times)
    report = {
        "impl": "pytorch",
        "preset": args.preset,
        "batch": args.batch,
        "words": args.words,
        "chars": args.chars,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "docs_per_s": args.batch / median_s,
        "median_s": median_s,
        "iters": len(times),
        "torch_version": torch.__version__,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"W1 pytorch {args.preset} on {args.device} ({report['threads']} threads): "
            f"batch {args.batch}, {args.words} words x {args.chars} chars: "
            f"median {median_s * 1e3:.2f} ms/iter over {len(times)} iters, "
            f"{report['docs_per_s']:.1f} docs/s (torch {torch.__version__})"
        )


if __name__ == "__main__":
    main()
