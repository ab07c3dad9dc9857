#!/usr/bin/env python3
"""Tabulates sato_mr_grid.sh: per method, the test error (%) of the
best-on-dev checkpoint for each seed, their mean ± sample standard deviation,
the dev accuracy that picked it, the epoch it came from, and the minutes and
CPU seconds each run took, beside Sato et al.'s MR error rates (Table 4;
Table 3's rows have no MR figure in the paper). Standard library only.

  python3 benches/experiments/sato_mr_tabulate.py OUT_DIR [--seeds 0,1,2] [--tag=T] [--json F]

--tag=T reads the runs the grid made with TAG=T (other norms); only methods
with at least one such run are listed then.

Runs without summary.json are listed as pending.
"""

import argparse
import json
import os
import statistics

METHODS = [
    ("none", "baseline (LM init)", "17.36"),
    ("nolm", "baseline, no LM", "–"),
    ("random", "random perturbation (eps 5)", "–"),
    ("advt", "AdvT (eps 5)", "15.84"),
    ("iadvt", "iAdvT (eps 15)", "14.24"),
    ("vat", "VAT (eps 5)", "14.26"),
    ("ivat", "iVAT (eps 15)", "14.12"),
    ("iadvt-rand", "iAdvT-Rand (eps 15)", "–"),
    ("iadvt-best", "iAdvT-Best (eps 15)", "–"),
]


def cpu_seconds(path):
    """user + sys from the /usr/bin/time line the grid writes, or None."""
    try:
        with open(path) as f:
            words = f.read().split()
        return float(words[words.index("cpu_s") + 1]) + float(words[words.index("cpu_s") + 2])
    except (OSError, ValueError, IndexError):
        return None


def fmt(xs, spec="{:.2f}"):
    if not xs:
        return "–"
    if len(xs) == 1:
        return spec.format(xs[0])
    return (spec + " ± " + spec).format(statistics.mean(xs), statistics.stdev(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tag", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    rows, pending = [], []
    print("| method | " + " | ".join(f"seed {s}" for s in seeds)
          + " | **test error %** mean ± sd | dev acc | best epoch | minutes | CPU s | paper |")
    print("| --- " * (len(seeds) + 7) + "|")
    for key, name, paper in METHODS:
        if a.tag:
            if not any(os.path.exists(os.path.join(a.out, "runs", f"{key}{a.tag}-s{s}")) for s in seeds):
                continue
            key, name = key + a.tag, f"{name.split(' (eps')[0]} [{a.tag}]"
        errs, devs, epochs, mins, cpus, cells = [], [], [], [], [], []
        for s in seeds:
            run = os.path.join(a.out, "runs", f"{key}-s{s}")
            try:
                with open(os.path.join(run, "summary.json")) as f:
                    summ = json.load(f)
            except OSError:
                pending.append(f"{key}-s{s}")
                cells.append("pending")
                continue
            err = 100.0 * (1.0 - summ["test"]["accuracy"])
            errs.append(err)
            devs.append(summ["best_dev"]["accuracy"])
            epochs.append(summ["best_epoch"])
            mins.append(summ["minutes"])
            c = cpu_seconds(run + ".time")
            if c is not None:
                cpus.append(c)
            cells.append(f"{err:.2f}")
        print(f"| {name} | " + " | ".join(cells) + f" | **{fmt(errs)}** | {fmt(devs, '{:.3f}')} | "
              f"{fmt(epochs, '{:.1f}')} | {fmt(mins, '{:.1f}')} | {fmt(cpus, '{:.0f}')} | {paper} |")
        rows.append({"method": key, "test_error": errs, "dev_accuracy": devs, "best_epoch": epochs,
                     "minutes": mins, "cpu_s": cpus, "paper": paper})
    if pending:
        print("\npending: " + ", ".join(pending))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
