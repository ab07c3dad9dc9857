#!/usr/bin/env python3
"""Why LM pre-training hurts the small MR classifier (issue 15 item 6): makes
the inputs of mr_lm_ablation.sh. Needs numpy and safetensors.

  mr_lm_ablation.py split LM_DIR OUT      # OUT/lm_lstm_only, OUT/lm_emb_only: the LM
                                          # checkpoint with the other part re-drawn at random
  mr_lm_ablation.py nodot MR_FILE OUT_DIR # MR with the sentence-final "." removed
  mr_lm_ablation.py gates LM_DIR          # the LM LSTM's gate biases and weight norms
"""

import os
import shutil
import sys

import numpy as np


def split(lm, out):
    from safetensors.numpy import load_file, save_file
    d = load_file(os.path.join(lm, "best", "model.safetensors"))
    rng = np.random.default_rng(0)
    for name, keep in (("lm_lstm_only", "lstm."), ("lm_emb_only", "embedding.")):
        dst = os.path.join(out, name, "best")
        os.makedirs(dst, exist_ok=True)
        for f in ("config.json", "vocab.json"):
            shutil.copy(os.path.join(lm, "best", f), os.path.join(dst, f))
        tensors = {}
        for k, v in d.items():
            if k.startswith("lstm.") and keep != "lstm.":
                h = d["lstm.weight_hh_l0"].shape[1]
                tensors[k] = rng.uniform(-1 / np.sqrt(h), 1 / np.sqrt(h), v.shape).astype(np.float32)
            elif k == "embedding.weight" and keep != "embedding.":
                tensors[k] = rng.standard_normal(v.shape).astype(np.float32)
            else:
                tensors[k] = v
        save_file(tensors, os.path.join(dst, "model.safetensors"))


def nodot(src, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(src, encoding="latin-1") as f, \
            open(os.path.join(out_dir, os.path.basename(src)), "w", encoding="latin-1") as g:
        for line in f:
            w = line.rstrip("\n").rstrip().split(" ")
            if len(w) > 2 and w[-1] == ".":
                w = w[:-1]
            g.write(" ".join(w) + " \n")


def gates(lm):
    from safetensors.numpy import load_file
    d = load_file(os.path.join(lm, "best", "model.safetensors"))
    b = d["lstm.bias_ih_l0"] + d["lstm.bias_hh_l0"]
    h = d["lstm.weight_hh_l0"].shape[1]
    for i, g in enumerate("ifgo"):
        rows = slice(i * h, (i + 1) * h)
        print(f"gate {g}: bias mean {b[rows].mean():.2f} (min {b[rows].min():.2f}, max {b[rows].max():.2f}), "
              f"row norm W_ih {np.linalg.norm(d['lstm.weight_ih_l0'][rows], axis=1).mean():.2f}, "
              f"W_hh {np.linalg.norm(d['lstm.weight_hh_l0'][rows], axis=1).mean():.2f}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "split" and len(sys.argv) == 4:
        split(sys.argv[2], sys.argv[3])
    elif cmd == "nodot" and len(sys.argv) == 4:
        nodot(sys.argv[2], sys.argv[3])
    elif cmd == "gates" and len(sys.argv) == 3:
        gates(sys.argv[2])
    else:
        sys.exit(__doc__)
