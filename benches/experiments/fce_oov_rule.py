#!/usr/bin/env python3
"""FCE (issue 15): how error-prone unseen and rare words are, and the F0.5 of
two rules needing no model: label every test token `i`, or label `i` exactly
the test tokens unseen in training (lowercased, as `hotflip train` does).

  benches/experiments/fce_oov_rule.py [../shared/data/fce]
"""
import collections
import os
import sys


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
        cur.append((tok.strip().lower(), lab.strip()))
    if cur:
        out.append(cur)
    return out


def f05(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (1.25 * p * r / (0.25 * p + r) if p + r else 0.0)


d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fce"
train = read(os.path.join(d, "fce-public.train.original.tsv"))
test = read(os.path.join(d, "fce-public.test.original.tsv"))
count = collections.Counter(t for s in train for t, _ in s)
for k in (1, 2, 3):
    toks = [l for s in train for t, l in s if count[t] == k]
    print(f"train tokens whose word occurs {k}x: {len(toks)}, share labelled i {sum(l == 'i' for l in toks) / len(toks):.3f}")
tokens = [(t, l) for s in test for t, l in s]
n_i = sum(l == "i" for _, l in tokens)
oov = [l for t, l in tokens if t not in count]
print(f"test: {len(tokens)} tokens, {n_i} i; unseen in train {len(oov)}, share i {sum(l == 'i' for l in oov) / len(oov):.3f}")
p, r, f = f05(n_i, len(tokens) - n_i, 0)
print(f"rule 'every token i': P {p:.3f} R {r:.3f} F0.5 {f:.3f}")
tp = sum(l == "i" for l in oov)
p, r, f = f05(tp, len(oov) - tp, n_i - tp)
print(f"rule 'unseen word -> i': P {p:.3f} R {r:.3f} F0.5 {f:.3f}")
