#!/usr/bin/env bash
# W2 side by side (shared/spec/BENCHMARKS.md): HotFlip's character attack
# (beam 10, τ 0.5, budget 10%) on the first N correctly classified test
# documents, by hotflip with --batch 1 (one document at a time, as the
# PyTorch baseline), by hotflip with a larger --batch (many documents' beams
# in one pass), and by benches/pytorch/w2_hotflip.py on the same checkpoint
# and the same documents (those hotflip attacked, read from its results).
# Runs alternate, round after round, so all three see the same machine state.
# Prints each run's figures and, last, the medians of seconds per attacked
# example and the ratios PyTorch / hotflip (> 1 means hotflip is faster),
# with the success rates and the per-example agreement of PyTorch's outcome
# with hotflip's.
#
#   python3 -m venv .venv-torch && .venv-torch/bin/pip install torch safetensors numpy
#   benches/pytorch/compare_w2.sh --model RUN/best [--dataset ag_news_small] [--limit 200] \
#       [--threads 2] [--batch 32] [--rounds 3] [--device cpu|cuda] [--keep DIR] [--baseline BIN]
#
# --baseline BIN adds a fourth run per round: another hotflip binary (e.g.
# one built from main) with --batch 1, and checks that its results equal
# this build's but for the timing fields.
#
# PYTHON=... picks the interpreter (default .venv-torch/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
model="" dataset=ag_news_small limit=200 threads=2 batch=32 rounds=3 device=cpu keep="" baseline=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --dataset) dataset=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] || { echo "--model DIR is required (a char_cnn_lstm checkpoint or run dir)" >&2; exit 2; }
py=${PYTHON:-.venv-torch/bin/python}
[ -x "$py" ] || { echo "no PyTorch venv at $py (see the header of this script)" >&2; exit 1; }
cargo build --release --quiet
if [ -n "$keep" ]; then dir=$keep; mkdir -p "$dir"; else dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; fi
busy=$(awk -v n="$(nproc)" '{print ($1 > n / 2) ? 1 : 0}' /proc/loadavg)
[ "$busy" = 0 ] || echo "warning: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores:" \
  "timings will be noisy, and PyTorch's spinning OpenMP threads suffer most" >&2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%F)"
# One figure line from a summary: a str.format template over its fields.
line() { "$py" -c 'import json,sys; print(sys.argv[2].format(**json.load(open(sys.argv[1]))))' "$@"; }
fmt='{seconds_per_example:.4f} s/example, success {success_rate:.3f},'
fmt+=' fwd/bwd {forward_passes_per_example:.1f}/{backward_passes_per_example:.1f}'
hotflip_run() { # BATCH OUT.jsonl [BINARY]
  rm -f "$2" "$2.meta.json"
  "${3:-target/release/hotflip}" --threads "$threads" --device "$device" attack --model "$model" --dataset "$dataset" \
    --limit "$limit" --batch "$1" --no-progress --out "$2" --summary "${2%.jsonl}.json" 2>"$2.log" \
    || { cat "$2.log" >&2; exit 1; }
}
# The documents both tools attack: hotflip's first $limit correctly classified
# ones, from a reference run (which also warms the file cache).
hotflip_run 1 "$dir/docs.jsonl"
n=3; [ -z "$baseline" ] || n=4
for r in $(seq "$rounds"); do
  # Rotate the order so that no implementation always runs first.
  for k in $(seq 0 $((n - 1))); do
    load="(load $(cut -d' ' -f1 /proc/loadavg))"
    case $(((r + k) % n)) in
      0) hotflip_run 1 "$dir/hf1_$r.jsonl"
         echo "round $r hotflip --batch 1: $(line "$dir/hf1_$r.json" "$fmt") $load" ;;
      1) hotflip_run "$batch" "$dir/hfb_$r.jsonl"
         echo "round $r hotflip --batch $batch: $(line "$dir/hfb_$r.json" "$fmt") $load" ;;
      2) "$py" benches/pytorch/w2_hotflip.py --model "$model" --from-results "$dir/docs.jsonl" \
           --check-against "$dir/docs.jsonl" --threads "$threads" --device "$device" --quiet \
           --out "$dir/pt_$r.jsonl" --summary "$dir/pt_$r.json" >/dev/null 2>"$dir/pt_$r.log" \
           || { cat "$dir/pt_$r.log" >&2; exit 1; }
         echo "round $r pytorch: $(line "$dir/pt_$r.json" "$fmt") $load" ;;
      3) hotflip_run 1 "$dir/base_$r.jsonl" "$baseline"
         echo "round $r baseline --batch 1: $(line "$dir/base_$r.json" "$fmt") $load" ;;
    esac
  done
done
"$py" - "$dir" "$rounds" "$batch" "$threads" "$device" "$baseline" <<'PY'
import json, statistics, sys
d, rounds, batch, threads, device = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
baseline = sys.argv[6]
load = lambda p: json.load(open(p))
runs = {k: [load(f"{d}/{k}_{r}.json") for r in range(1, rounds + 1)] for k in ("hf1", "hfb", "pt")}
med = {k: statistics.median(s["seconds_per_example"] for s in v) for k, v in runs.items()}
pt = runs["pt"][0]
print(f"W2 char HotFlip, beam {pt['beam']}, tau {pt['tau']}, budget {pt['budget']:.2f}, {pt['attacked']} documents, "
      f"{threads} threads, {device}, medians of {rounds} rounds:")
print(f"  hotflip --batch 1:   {med['hf1']:.4f} s/example, success {runs['hf1'][0]['success_rate']:.3f}")
print(f"  hotflip --batch {batch}: {med['hfb']:.4f} s/example, success {runs['hfb'][0]['success_rate']:.3f}")
print(f"  pytorch (torch {pt['torch_version']}): {med['pt']:.4f} s/example, success {pt['success_rate']:.3f}, "
      f"agreement with hotflip: success {pt['check']['success_agree']:.3f}, "
      f"changes {pt['check']['n_changes_agree']:.3f}, adversarial text {pt['check']['adv_text_agree']:.3f}")
print(f"  ratio pytorch / hotflip --batch 1:  {med['pt'] / med['hf1']:.2f}")
print(f"  ratio pytorch / hotflip --batch {batch}: {med['pt'] / med['hfb']:.2f}")
if baseline:
    base = [load(f"{d}/base_{r}.json") for r in range(1, rounds + 1)]
    mb = statistics.median(s["seconds_per_example"] for s in base)
    def lines(p):
        out = []
        for l in open(p):
            e = json.loads(l)
            e.pop("seconds", None)
            out.append(e)
        return out
    same = all(lines(f"{d}/base_{r}.jsonl") == lines(f"{d}/hf1_{r}.jsonl") for r in range(1, rounds + 1))
    print(f"  baseline {baseline} --batch 1: {mb:.4f} s/example, success {base[0]['success_rate']:.3f}")
    print(f"  ratio baseline / hotflip --batch 1: {mb / med['hf1']:.2f}; results identical but timings: {same}")
PY
