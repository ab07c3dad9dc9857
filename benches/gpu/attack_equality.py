#!/usr/bin/env python3
"""CPU-vs-GPU attack equality (issue 13): two `hotflip attack` result files
(JSONL, one example per line) on the same checkpoint and documents. The GPU
run must make the same changes on at least MIN of the documents (near-ties
may break differently) and, where the changes agree, give probabilities
within TOL. Exit status 0 when both hold, 1 otherwise; prints one line.

    attack_equality.py CPU.jsonl GPU.jsonl [--min 198] [--tol 1e-4] [--json]
"""
import argparse
import json
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                rows[r["index"]] = r
    return rows


def changes(r):
    return [(c["op"], c["word"], c["pos"], c["from"], c["to"]) for c in r.get("changes", [])]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cpu")
    p.add_argument("gpu")
    p.add_argument("--min", type=int, default=198)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cpu, gpu = load(a.cpu), load(a.gpu)
    common = sorted(set(cpu) & set(gpu))
    same = [i for i in common if changes(cpu[i]) == changes(gpu[i]) and cpu[i]["adv_text"] == gpu[i]["adv_text"]]
    worst = 0.0
    for i in same:
        for k in ("orig_prob", "adv_prob", "best_adv_prob"):
            worst = max(worst, abs(float(cpu[i][k]) - float(gpu[i][k])))
    ok = len(common) == len(cpu) == len(gpu) and len(same) >= min(a.min, len(common)) and worst <= a.tol
    report = {
        "documents": len(common),
        "cpu_only": len(set(cpu) - set(gpu)),
        "gpu_only": len(set(gpu) - set(cpu)),
        "same_changes": len(same),
        "min_required": a.min,
        "max_prob_diff_where_same": worst,
        "tol": a.tol,
        "passed": ok,
        "differing": [i for i in common if i not in set(same)][:20],
    }
    if a.json:
        print(json.dumps(report))
    else:
        print(f"attack equality: {len(same)}/{len(common)} documents with the same changes "
              f"(need {a.min}), max |Δp| {worst:.2e} (tol {a.tol}): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
