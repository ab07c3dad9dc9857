#!/usr/bin/env python3
"""How many neighbours the words of a checkpoint have above cosine thresholds.

HotFlip's word flips need cosine > 0.8 on the model's own embeddings; this
says whether any candidate exists at all and how many there are per word
(BENCHMARKS.md, word level). With --vectors, the same counts on the raw
vectors of a word2vec/GloVe text file for the checkpoint's words, to tell
what fine-tuning did from what the vector space gives.

    python benches/experiments/embedding_cosines.py RUN/best [--thresholds 0.8,0.9] [--vectors FILE]
"""
import argparse
import json
import pathlib

import numpy as np
from safetensors.numpy import load_file


def neighbour_counts(w, thresholds, block):
    """Per word: the highest cosine to another word, and the count above each threshold."""
    u = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    best = np.empty(len(u), dtype=np.float32)
    counts = np.zeros((len(thresholds), len(u)), dtype=np.int64)
    for i in range(0, len(u), block):
        s = u[i : i + block] @ u.T
        s[np.arange(len(s)), np.arange(i, i + len(s))] = -1.0  # not itself
        best[i : i + len(s)] = s.max(axis=1)
        for k, t in enumerate(thresholds):
            counts[k, i : i + len(s)] = (s > t).sum(axis=1)
    return best, counts


def report(name, best, counts, thresholds):
    print(f"{name}: {len(best)} words, highest cosine {best.max():.3f}, median nearest-neighbour cosine {np.median(best):.3f}")
    for k, t in enumerate(thresholds):
        c = counts[k]
        print(
            f"  cosine > {t:.2f}: words with a neighbour {(c > 0).sum()} ({(c > 0).mean():.1%}), "
            f"mean neighbours per word {c.mean():.2f}, median {np.median(c):.0f}"
        )


def load_vectors(path, words):
    want = {w: i for i, w in enumerate(words)}
    out = np.zeros((len(words), 0), dtype=np.float32)
    found = np.zeros(len(words), dtype=bool)
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip().split(" ")
            i = want.get(parts[0])
            if i is None or len(parts) < 3:
                continue
            v = np.asarray(parts[1:], dtype=np.float32)
            if out.shape[1] == 0:
                out = np.zeros((len(words), len(v)), dtype=np.float32)
            out[i] = v
            found[i] = True
    return out[found], found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=pathlib.Path, help="checkpoint directory (model.safetensors inside)")
    ap.add_argument("--thresholds", default="0.8", help="comma-separated cosine thresholds")
    ap.add_argument("--vectors", type=pathlib.Path, help="a word2vec/GloVe text file: the same counts on its raw vectors")
    ap.add_argument("--block", type=int, default=2048)
    a = ap.parse_args()
    thresholds = [float(t) for t in a.thresholds.split(",")]
    w = load_file(str(a.checkpoint / "model.safetensors"))["embedding.weight"][2:]  # no PAD, UNK
    words = json.loads((a.checkpoint / "vocab.json").read_text(encoding="utf-8"))["tokens"]
    words = words[len(words) - len(w):]
    best, counts = neighbour_counts(w, thresholds, a.block)
    report("model embeddings", best, counts, thresholds)
    if a.vectors:
        raw, found = load_vectors(a.vectors, words)
        report(f"model words found in {a.vectors.name}, raw vectors", *neighbour_counts(raw, thresholds, a.block), thresholds)
        best_f, counts_f = neighbour_counts(w[found], thresholds, a.block)
        report("the same words, model embeddings", best_f, counts_f, thresholds)


if __name__ == "__main__":
    main()
