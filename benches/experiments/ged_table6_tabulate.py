#!/usr/bin/env python3
"""Tabulates the reduced Sato Table 6 grid (ged_table6_grid.sh): per method,
mean ± sample standard deviation over the seeds of test F0.5 / P / R of the
dev-selected checkpoint (summary.json), plus the threshold-free figures of
`hotflip eval --dev-threshold` (average precision of P(i) on test, and test
F0.5 at the threshold on P(i) that maximises dev F0.5) on the best/ and the
last/ (final-epoch) checkpoints. Standard library only.

Run from the folder the grid ran in (holding runs/ and gedd/fce):
  HOTFLIP=/path/to/hotflip python3 ged_table6_tabulate.py [--epochs 6] [--runs runs]
      [--data-dir gedd/fce] [--seeds 0,1,2] [--json out.json]
Each eval's JSON is cached next to the run (RUN/eval_{best,last}_test.json),
so a second call only scores runs finished since. Runs without summary.json
are listed as pending.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

METHODS = [
    ("none", "baseline", 39.21),
    ("random", "random perturbation", 39.90),
    ("advt", "AdvT (eps 5)", 42.28),
    ("iadvt", "iAdvT (eps 15)", 42.26),
    ("vat", "VAT (eps 5)", 41.81),
    ("ivat", "iVAT (eps 15)", 41.88),
]


def evaluate(hotflip, run, which, data_dir, threads):
    """`hotflip eval` of RUN/which on FCE test at dev's best threshold, cached."""
    cache = os.path.join(run, f"eval_{which}_test.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    ck = os.path.join(run, which)
    if not os.path.exists(os.path.join(ck, "config.json")):
        return None
    cmd = [hotflip, "--threads", str(threads), "eval", "--model", ck, "--dataset", "fce",
           "--data-dir", data_dir, "--split", "test", "--dev-threshold", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    with open(cache, "w") as f:
        json.dump(report, f)
    return report


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1:
        return f"{100 * xs[0]:.2f}"
    return f"{100 * statistics.mean(xs):.2f} ± {100 * statistics.stdev(xs):.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--data-dir", default="gedd/fce")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-eval", action="store_true", help="summary.json figures only")
    ap.add_argument("--json", help="also write every run's figures here")
    a = ap.parse_args()
    hotflip = os.environ.get("HOTFLIP", "./target/release/hotflip")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows, per_run, pending = [], {}, []
    for adv, name, paper in METHODS:
        got = []
        for seed in seeds:
            run = os.path.join(a.runs, f"ged6_{adv}_e{a.epochs}_s{seed}")
            summary = os.path.join(run, "summary.json")
            if not os.path.exists(summary):
                pending.append(f"{adv} s{seed}")
                continue
            with open(summary) as f:
                s = json.load(f)
            t = s["test"]
            r = {"seed": seed, "best_epoch": s["best_epoch"], "minutes": s["minutes"],
                 "f05": t["f05"], "r": t["recall"],
                 # Precision is undefined for a run that labels no token `i`.
                 "p": t["precision"] if t["confusion"][0][1] + t["confusion"][1][1] > 0 else None}
            if not a.no_eval:
                for which in ("best", "last"):
                    e = evaluate(hotflip, run, which, a.data_dir, a.threads)
                    if e is not None:
                        r[f"ap_{which}"] = e.get("average_precision")
                        d = e.get("at_dev_threshold") or {}
                        r[f"f05thr_{which}"] = d.get("f05")
                        r[f"thr_{which}"] = d.get("threshold")
                        r[f"f05_{which}"] = e.get("f05")
            got.append(r)
            per_run[f"{adv}_s{seed}"] = r
        col = lambda k: [g.get(k) for g in got]
        rows.append((name, paper, len(got), got, col))
    head = ("| method | seeds | best epoch (dev) | test F0.5 | P (runs that label `i`) | R | AP best | F0.5 at dev thr., best "
            "| AP last (ep. %d) | F0.5 at dev thr., last | paper F0.5 |" % a.epochs)
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for name, paper, n, got, col in rows:
        if n == 0:
            print(f"| {name} | 0 | – | – | – | – | – | – | – | – | {paper} |")
            continue
        epochs = "/".join(f"{g['best_epoch']:g}" for g in got)
        print(f"| {name} | {n} | {epochs} | **{mean_sd(col('f05'))}** | {mean_sd(col('p'))} | {mean_sd(col('r'))} "
              f"| {mean_sd(col('ap_best'))} | {mean_sd(col('f05thr_best'))} | {mean_sd(col('ap_last'))} "
              f"| {mean_sd(col('f05thr_last'))} | {paper} |")
    print("\nper seed (test F0.5 / AP best / AP last, in %):")
    for name, paper, n, got, col in rows:
        cells = [f"s{g['seed']} {100 * g['f05']:.1f} / {100 * (g.get('ap_best') or 0):.1f} / "
                 f"{100 * (g.get('ap_last') or 0):.1f}" for g in got]
        print(f"- {name}: " + "; ".join(cells))
    if pending:
        print("\npending (no summary.json yet): " + ", ".join(pending))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(per_run, f, indent=1)


if __name__ == "__main__":
    main()
