#!/usr/bin/env bash
# HotFlip's character-level figures (issue "HotFlip attacks"; BENCHMARKS.md W2):
# trains the small char_cnn_lstm on AG's News (ag_news_small until train.csv
# arrives), then attacks the first 200 correctly classified test documents
# with HotFlip (beam 10, τ 0.5, budget 10%), the random and random-gradient
# baselines, and compares gradient and loss-ranked beams at one change on
# 100 documents. Rerunning skips finished steps (attacks resume).
#   benches/experiments/hotflip_char.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/hotflip_char}
# HOTFLIP=path runs a prebuilt binary (nothing is built); THREADS sets --threads.
hf="${HOTFLIP:-target/release/hotflip} --threads ${THREADS:-2} --device cpu"
[ -n "${HOTFLIP:-}" ] || cargo build --release --quiet
mkdir -p "$out"
uptime | tee -a "$out/load.txt"
if [ ! -e "$out/model/summary.json" ]; then
  resume=""; [ -e "$out/model/last/trainer.json" ] && resume=--resume
  $hf train --arch char_cnn_lstm --dataset ag_news_small --out "$out/model" --epochs 40 --eval-test --no-progress $resume
fi
$hf eval --model "$out/model" --dataset ag_news_small --split test --json > "$out/eval.json"
att() { $hf attack --model "$out/model" --dataset ag_news_small --no-progress "$@"; }
att --limit 200 --batch 1 --out "$out/hotflip_b1.jsonl" --summary "$out/hotflip_b1.json" --html "$out/hotflip.html"
att --limit 200 --batch 8 --out "$out/hotflip_b8.jsonl" --summary "$out/hotflip_b8.json"
att --limit 200 --batch 32 --out "$out/hotflip_b32.jsonl" --summary "$out/hotflip_b32.json"
att --limit 200 --method random --out "$out/random.jsonl" --summary "$out/random.json"
att --limit 200 --method random-grad --out "$out/random_grad.jsonl" --summary "$out/random_grad.json"
att --limit 200 --tau 0.9 --out "$out/hotflip_tau09.jsonl" --summary "$out/hotflip_tau09.json"
# Gradient vs loss-ranked beam at one change (HotFlip Table 2's first column).
att --limit 100 --max-changes 1 --batch 1 --out "$out/hotflip_1change.jsonl" --summary "$out/hotflip_1change.json"
att --limit 100 --max-changes 1 --method loss-beam --batch 1 --out "$out/lossbeam_1change.jsonl" --summary "$out/lossbeam_1change.json"
uptime | tee -a "$out/load.txt"
