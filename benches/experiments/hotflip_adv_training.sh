#!/usr/bin/env bash
# HotFlip Table 6 at reduced scale: char_cnn_lstm (small preset) on
# ag_news_small trained three ways — baseline (no dropout), dropout 0.5 on the
# highway output, HotFlip adversarial training (top 20% flips, no dropout) —
# each for the same number of epochs and seed; test error and HotFlip's
# success rate (beam 10, τ 0.5) on the first 200 correctly classified test
# documents. Rerunning skips finished steps.
#   benches/experiments/hotflip_adv_training.sh [OUT_DIR] [EPOCHS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/hotflip_table6}
epochs=${2:-30}
seed=${3:-0}
# HOTFLIP=path runs a prebuilt binary (nothing is built); THREADS sets --threads.
hf="${HOTFLIP:-target/release/hotflip} --threads ${THREADS:-2} --device cpu"
[ -n "${HOTFLIP:-}" ] || cargo build --release --quiet
mkdir -p "$out"
train() {
  local name=$1; shift
  if [ ! -e "$out/$name/summary.json" ]; then
    local resume=""; [ -e "$out/$name/last/trainer.json" ] && resume=--resume
    $hf train --arch char_cnn_lstm --dataset ag_news_small --out "$out/$name" --epochs "$epochs" --seed "$seed" --no-progress $resume "$@"
  fi
  $hf eval --model "$out/$name" --dataset ag_news_small --split test --json > "$out/$name.eval.json"
  $hf attack --model "$out/$name" --dataset ag_news_small --limit 200 --no-progress \
    --out "$out/$name.attack.jsonl" --summary "$out/$name.attack.json"
  # The flip-only adversary (the operation adversarial training uses).
  $hf attack --model "$out/$name" --dataset ag_news_small --limit 200 --no-progress --ops flip \
    --out "$out/$name.flips.jsonl" --summary "$out/$name.flips.json"
}
train baseline --dropout 0
train dropout --dropout 0.5
train adversarial --dropout 0 --adv hotflip
uptime | tee -a "$out/load.txt"
