#!/usr/bin/env bash
# Word-level HotFlip side by side (issue 16): `hotflip attack --level word`
# against TextAttack's HotFlip recipe (HotFlipEbrahimi2017, rebuilt from its
# classes by ta_hotflip.py: see its header for what differs offline) on the
# same word_cnn checkpoint, read by TextAttack through the PyTorch twin
# (benches/pytorch/hotflip_models.py), and the same sentences: the first N
# correctly classified SST-2 sentences of the split, as hotflip picks them.
# Settings on both sides: beam 10, at most 2 changed words, stop-words never
# flipped (hotflip's list, which is NLTK's English list plus the PTB
# clitics), one change per word, no part-of-speech constraint (TextAttack's
# needs downloads), no cosine constraint unless --cosine C is given.
# Runs alternate, round after round, so that both see the same machine state;
# prints each run's figures with the load average, then the medians of
# seconds per attacked example, the success rates and the ratio
# TextAttack / hotflip (> 1 means hotflip is faster).
#
#   python3 -m venv /work/venv-ta
#   /work/venv-ta/bin/pip install -c benches/textattack/constraints.txt \
#       torch safetensors numpy textattack "datasets<4" "transformers<5"
#   benches/textattack/compare_word.sh [--model DIR | --train DIR] [--limit 100] [--split test] \
#       [--threads 2] [--batch 1] [--rounds 3] [--beam 10] [--max-changes 2] [--cosine C] \
#       [--keep DIR] [--baseline BIN]
#
# --train DIR trains the checkpoint first if DIR has none (word_cnn paper
# preset, 3 epochs, Adam 5e-4, seed 0: a few minutes on 2 cores).
# --baseline BIN adds a run per round of another hotflip binary (e.g. one
# built from main) and checks that its results equal this build's but for
# the timing fields.
#
# PYTHON=... picks the interpreter (default /work/venv-ta/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
model="" train="" limit=100 split=test threads=2 batch=1 rounds=3 beam=10 changes=2 cosine="" keep="" baseline=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --train) train=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --beam) beam=$2; shift 2 ;;
    --max-changes) changes=$2; shift 2 ;;
    --cosine) cosine=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-/work/venv-ta/bin/python}
[ -x "$py" ] || { echo "no TextAttack venv at $py (see the header of this script)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/hotflip
if [ -z "$model" ]; then
  [ -n "$train" ] || { echo "--model DIR or --train DIR is required" >&2; exit 2; }
  if [ ! -e "$train/best/config.json" ]; then
    "$bin" --threads "$threads" train --arch word_cnn --dataset sst2 --preset paper --epochs 3 --lr 5e-4 \
      --seed 0 --out "$train" --no-progress
  fi
  model=$train/best
fi
if [ -n "$keep" ]; then dir=$keep; mkdir -p "$dir"; else dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%F %H:%M UTC')"
cos_hf=(--no-cosine) cos_ta=()
[ -z "$cosine" ] || { cos_hf=(--cosine "$cosine"); cos_ta=(--cosine "$cosine"); }
line() { "$py" -c 'import json,sys; print(sys.argv[2].format(**json.load(open(sys.argv[1]))))' "$@"; }
fmt='{seconds_per_example:.4f} s/example, success {success_rate:.3f} ({successes}/{attacked})'
hotflip_run() { # OUT.jsonl [BINARY]
  rm -f "$1" "$1.meta.json"
  "${2:-$bin}" --threads "$threads" --device cpu attack --model "$model" --dataset sst2 --split "$split" \
    --level word --beam "$beam" --max-changes "$changes" --no-pos "${cos_hf[@]}" --limit "$limit" \
    --batch "$batch" --no-progress --out "$1" --summary "${1%.jsonl}.json" 2>"$1.log" || { cat "$1.log" >&2; exit 1; }
}
# The sentences both attack: hotflip's first $limit correctly classified
# ones, from a reference run (which also warms the file cache).
hotflip_run "$dir/docs.jsonl"
n=2; [ -z "$baseline" ] || n=3
for r in $(seq "$rounds"); do
  # Rotate the order so that no implementation always runs first.
  for k in $(seq 0 $((n - 1))); do
    load="(load $(cut -d' ' -f1 /proc/loadavg))"
    case $(((r + k) % n)) in
      0) hotflip_run "$dir/hf_$r.jsonl"
         echo "round $r hotflip: $(line "$dir/hf_$r.json" "$fmt") $load" ;;
      1) "$py" benches/textattack/ta_hotflip.py --model "$model" --from-results "$dir/docs.jsonl" \
           --threads "$threads" --beam "$beam" --max-changes "$changes" "${cos_ta[@]}" \
           --out "$dir/ta_$r.jsonl" --summary "$dir/ta_$r.json" >/dev/null 2>"$dir/ta_$r.log" \
           || { cat "$dir/ta_$r.log" >&2; exit 1; }
         echo "round $r textattack: $(line "$dir/ta_$r.json" "$fmt") $load" ;;
      2) hotflip_run "$dir/base_$r.jsonl" "$baseline"
         echo "round $r baseline: $(line "$dir/base_$r.json" "$fmt") $load" ;;
    esac
  done
done
"$py" - "$dir" "$rounds" "$baseline" "$threads" <<'PY'
import json, statistics, sys
d, rounds, baseline, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
load = lambda p: json.load(open(p))
runs = {k: [load(f"{d}/{k}_{r}.json") for r in range(1, rounds + 1)] for k in ("hf", "ta")}
med = {k: statistics.median(s["seconds_per_example"] for s in v) for k, v in runs.items()}
ta, hf = runs["ta"][0], runs["hf"][0]
print(f"word HotFlip on SST-2, beam {ta['beam']} (TextAttack top_n {ta['top_n']}), <= {ta['max_changes']} changes, "
      f"cosine {ta['cosine'] or 'off'}, POS off, {ta['attacked']} sentences, {threads} threads, "
      f"medians of {rounds} rounds:")
print(f"  hotflip:    {med['hf']:.4f} s/example, success {hf['success_rate']:.3f}")
print(f"  textattack {ta['textattack_version']} (torch {ta['torch_version']}): {med['ta']:.4f} s/example, "
      f"success {ta['success_rate']:.3f}")
print(f"  ratio textattack / hotflip: {med['ta'] / med['hf']:.2f}")
def lines(p):
    out = []
    for l in open(p):
        e = json.loads(l)
        e.pop("seconds", None)
        out.append(e)
    return out
same = all(lines(f"{d}/hf_{r}.jsonl") == lines(f"{d}/docs.jsonl") for r in range(1, rounds + 1))
print(f"  hotflip results identical round to round but for timings: {same}")
if baseline:
    base = [load(f"{d}/base_{r}.json") for r in range(1, rounds + 1)]
    mb = statistics.median(s["seconds_per_example"] for s in base)
    same = all(lines(f"{d}/base_{r}.jsonl") == lines(f"{d}/hf_{r}.jsonl") for r in range(1, rounds + 1))
    print(f"  baseline {baseline}: {mb:.4f} s/example, success {base[0]['success_rate']:.3f}")
    print(f"  ratio baseline / hotflip: {mb / med['hf']:.2f}; results identical but timings: {same}")
PY
