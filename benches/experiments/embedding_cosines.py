#!/usr/bin/env python3
"""How many words of a checkpoint have a neighbour above a cosine threshold.

HotFlip's word flips need cosine > 0.8 on the model's own embeddings; this
says whether any candidate exists at all (BENCHMARKS.md, word level).

    .venv-torch/bin/python benches/experiments/embedding_cosines.py RUN/best [--threshold 0.8]
"""
import argparse
import pathlib

import numpy as np
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=pathlib.Path, help="checkpoint directory (model.safetensors inside)")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--block", type=int, default=2048)
    a = ap.parse_args()
    w = load_file(str(a.checkpoint / "model.safetensors"))["embedding.weight"][2:]  # no PAD, UNK
    u = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    best = np.empty(len(u), dtype=np.float32)
    for i in range(0, len(u), a.block):
        s = u[i : i + a.block] @ u.T
        s[np.arange(len(s)), np.arange(i, i + len(s))] = -1.0  # not itself
        best[i : i + len(s)] = s.max(axis=1)
    print(
        f"{len(u)} words: highest cosine {best.max():.3f}, median nearest-neighbour cosine "
        f"{np.median(best):.3f}, words with a neighbour > {a.threshold}: {(best > a.threshold).sum()}"
    )


if __name__ == "__main__":
    main()
