#!/usr/bin/env bash
# HotFlip word level (§5) at reduced scale: word_cnn (paper preset, Kim's
# CNN-rand recipe with lr 5e-4) on SST-2, then on the correctly classified
# test sentences: word flips under the constraints with at most 1 and 2 flips
# (cosine > 0.8 on the model's embeddings, no stop-words, not the same stem;
# same part of speech only when a POS model is given), and the UNK attack.
# Rerunning skips finished steps.
#   benches/experiments/word_sst2.sh [OUT_DIR] [SEED] [POS_MODEL]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/word_sst2}
seed=${2:-0}
pos=${3:-}
hf="${HOTFLIP:-target/release/hotflip} --threads ${THREADS:-2} --device cpu"
[ -n "${HOTFLIP:-}" ] || cargo build --release --quiet
mkdir -p "$out"
model="$out/word_cnn-s$seed"
if [ ! -e "$model/summary.json" ]; then
  resume=""; [ -e "$model/last/trainer.json" ] && resume=--resume
  $hf train --arch word_cnn --dataset sst2 --preset paper --epochs 10 --lr 5e-4 --seed "$seed" --out "$model" --no-progress $resume
fi
$hf eval --model "$model" --dataset sst2 --split test --json > "$model.eval.json"
posflag=--no-pos; [ -n "$pos" ] && posflag="--pos-model $pos"
for k in 1 2; do
  $hf attack --model "$model" --dataset sst2 --level word --max-changes $k $posflag --no-progress \
    --out "$model.word$k.jsonl" --summary "$model.word$k.json"
done
$hf attack --model "$model" --dataset sst2 --level unk --no-progress \
  --out "$model.unk.jsonl" --summary "$model.unk.json"
uptime | tee -a "$out/load.txt"
