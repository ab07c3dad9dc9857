#!/usr/bin/env python3
"""PyTorch twin of `hotflip train --arch bilstm_tagger` on FCE, to tell a bug
in hotflip's tagger training from a property of the model and data (issue 15).

Same vocabulary (read from a hotflip run's best/vocab.json, so the same
lowercasing and --min-count), same modules (benches/pytorch/hotflip_models.py),
same training recipe: Adam (lr 1e-3, exponential decay 0.9998 per step),
joint gradient-norm clipping at 5, batch 32, dropout 0.5 on the embedded
words and on the FFNN output, mean token cross-entropy over real tokens.
Prints, per epoch, the training loss and test precision / recall / F0.5 of
label `i` (argmax decision, as hotflip).

  benches/experiments/ged_torch_check.py --run runs/ged --data ../shared/data/fce --epochs 2 --threads 2
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pytorch"))
from hotflip_models import build  # noqa: E402


def read(path):
    out, cur = [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                out.append(cur)
                cur = []
            continue
        tok, lab = line.split("\t")
        cur.append((tok.strip(), 1 if lab.strip() == "i" else 0))
    if cur:
        out.append(cur)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a hotflip bilstm_tagger run directory (its best/ vocab and config)")
    ap.add_argument("--data", required=True, help="folder with fce-public.{train,test}.original.tsv")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    cfg = json.load(open(os.path.join(a.run, "best", "config.json")))
    vocab = json.load(open(os.path.join(a.run, "best", "vocab.json")))
    ids = {t: i + 2 for i, t in enumerate(vocab["tokens"])}
    lower = cfg.get("lowercase", True)
    cfg["vocab"] = len(vocab["tokens"]) + 2
    cfg["n_classes"] = 2

    def enc(sents):
        return [([ids.get(t.lower() if lower else t, 1) for t, _ in s], [l for _, l in s]) for s in sents]

    train = enc(read(os.path.join(a.data, "fce-public.train.original.tsv")))
    test = enc(read(os.path.join(a.data, "fce-public.test.original.tsv")))
    model = build(cfg)
    if cfg["normalize_embeddings"]:
        counts = torch.zeros(cfg["vocab"])
        for w, _ in train:
            counts.index_add_(0, torch.tensor(w), torch.ones(len(w)))
        model.embedding.freq.copy_(counts / counts.sum())
    p = cfg["dropout"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9998)

    def forward(batch, train_mode):
        x, lengths = model.batch([w for w, _ in batch])
        e = F.embedding(x, model.table())
        e = F.dropout(e, p, train_mode)
        packed = torch.nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        out, _ = model.lstm(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        z = F.dropout(F.relu(model.hidden(out)), p, train_mode)
        return model.classifier(z), lengths

    def evaluate():
        model.eval()
        tp = fp = fn = 0
        with torch.no_grad():
            order = sorted(range(len(test)), key=lambda i: len(test[i][0]))
            for k in range(0, len(order), 128):
                batch = [test[i] for i in order[k : k + 128]]
                logits, lengths = forward(batch, False)
                pred = logits.argmax(-1)
                for b, (_, labels) in enumerate(batch):
                    for t, y in enumerate(labels):
                        yh = int(pred[b, t])
                        tp += yh == 1 and y == 1
                        fp += yh == 1 and y == 0
                        fn += yh == 0 and y == 1
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f = 1.25 * pr * rc / (0.25 * pr + rc) if pr + rc else 0.0
        return pr, rc, f

    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = list(range(len(train)))
        random.shuffle(order)
        batches = []
        for pool in range(0, len(order), 32 * 50):  # hotflip's length bucketing
            chunk = sorted(order[pool : pool + 32 * 50], key=lambda i: len(train[i][0]))
            batches += [chunk[k : k + 32] for k in range(0, len(chunk), 32)]
        random.shuffle(batches)
        total, n = 0.0, 0
        for members in batches:
            batch = [train[i] for i in members]
            logits, lengths = forward(batch, True)
            y = torch.zeros(logits.shape[:2], dtype=torch.long)
            mask = torch.zeros(logits.shape[:2])
            for b, (_, labels) in enumerate(batch):
                y[b, : len(labels)] = torch.tensor(labels)
                mask[b, : len(labels)] = 1
            ce = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none")
            loss = (ce * mask.reshape(-1)).sum() / mask.sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item()
            n += 1
        pr, rc, f = evaluate()
        print(
            json.dumps(
                {
                    "epoch": epoch + 1,
                    "minutes": (time.time() - start) / 60,
                    "train_loss": total / n,
                    "test": {"precision": pr, "recall": rc, "f05": f},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
