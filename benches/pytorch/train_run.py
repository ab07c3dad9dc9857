#!/usr/bin/env python3
"""A whole training run in PyTorch beside `hotflip train`, for peak memory
(issue 16 item 4): the same model (hotflip_models.py, sizes and vocabulary
from a hotflip checkpoint's config.json and vocab.json), the same data
files, epochs, batch size, optimiser (Adam, per-step exponential decay
0.9998, gradient-norm clip 5) and thread count, a dev evaluation after every
epoch and a test evaluation at the end, as `hotflip train` does.

Not a bit-exact twin: batch order and initialisation are PyTorch's, the
word_cnn module applies no dropout, and AG News text is cleaned by an
approximation of hotflip's clean_ag_news (backslash escapes, HTML entities
and tags, whitespace). It is what a PyTorch user would run for the same job,
so its peak RSS (`/usr/bin/time -v`) is the figure to set beside hotflip's.

Usage:
    python benches/pytorch/train_run.py --like RUN/best --dataset sst2 --epochs 3 --threads 2 --json
"""

import argparse
import csv
import html
import json
import os
import random
import re
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotflip_models import build  # noqa: E402

UNK = 1


def clean_ag_news(s):
    s = s.replace("\\\\", "\\").replace("\\n", " ").replace("\\", " ")
    s = html.unescape(s)
    s = re.sub(r"<[^>]*>", " ", s)
    return " ".join(s.split())


def load_sst2(d):
    def read(name):
        out = []
        with open(os.path.join(d, f"stsa.binary.{name}"), encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    label, text = line.split(" ", 1)
                    out.append((text, int(label)))
        return out

    return read("train"), read("dev"), read("test")


def load_ag_news_small(d):
    train, dev, test = [], [], []
    with open(os.path.join(d, "test.csv"), encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            ex = (clean_ag_news(row[1] + " " + row[2]), int(row[0]) - 1)
            if i >= 6000:
                test.append(ex)
            elif i % 10 == 0:
                dev.append(ex)
            else:
                train.append(ex)
    return train, dev, test


class Encoder:
    def __init__(self, config, vocab):
        self.config = config
        self.index = {t: i + 2 for i, t in enumerate(vocab["tokens"])}
        self.chars = vocab["kind"] == "chars"
        self.lower = bool(config.get("lowercase", False))

    def __call__(self, text):
        words = text.split()[: self.config["max_words"]] or ["."]
        if self.lower:
            words = [w.lower() for w in words]
        if self.chars:
            return [[self.index.get(c, UNK) for c in w] for w in words]
        return [self.index.get(w, UNK) for w in words]


def batches(model, data, size):
    for i in range(0, len(data), size):
        chunk = data[i: i + size]
        ids, lengths = model.batch([x for x, _ in chunk])
        yield ids, lengths, torch.tensor([y for _, y in chunk])


def accuracy(model, data):
    model.eval()
    right = 0
    with torch.no_grad():
        for ids, lengths, labels in batches(model, data, 128):
            right += (model(ids, lengths).argmax(dim=1) == labels).sum().item()
    model.train()
    return right / max(len(data), 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--like", required=True, help="a hotflip checkpoint dir: its config.json and vocab.json")
    p.add_argument("--dataset", choices=["sst2", "ag_news_small"], required=True)
    p.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(os.path.join(args.like, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.like, "vocab.json")) as f:
        vocab = json.load(f)
    folder = os.path.join(args.data_dir, "sst2" if args.dataset == "sst2" else "ag_news")
    splits = load_sst2(folder) if args.dataset == "sst2" else load_ag_news_small(folder)
    enc = Encoder(config, vocab)
    train, dev, test = ([(enc(t), y) for t, y in s] for s in splits)
    model = build(config)
    model.train()
    if config["arch"] == "char_cnn_lstm" and config.get("dropout", 0) > 0:
        # hotflip drops out the last highway layer's output (as train_throughput.py).
        model.highway[-1].register_forward_hook(
            lambda _m, _i, out: F.dropout(out, config["dropout"], training=model.training))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9998)
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    log = []
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(train)
        for ids, lengths, labels in batches(model, train, args.batch):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(ids, lengths), labels).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        log.append({"epoch": epoch, "dev_accuracy": accuracy(model, dev), "minutes": (time.perf_counter() - t0) / 60})
        if not args.json:
            print(json.dumps(log[-1]), file=sys.stderr)
    report = {"impl": "pytorch", "arch": config["arch"], "dataset": args.dataset, "epochs": args.epochs,
              "train": len(train), "dev": len(dev), "test": len(test), "threads": torch.get_num_threads(),
              "seconds": time.perf_counter() - t0, "best_dev": max(e["dev_accuracy"] for e in log),
              "test_accuracy": accuracy(model, test), "torch_version": torch.__version__}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
