#!/usr/bin/env bash
# W1 (bench engine, small preset) and a W2-style attack timing for two
# hotflip binaries, rounds alternating, one thread each, under nice.
# Usage: before_after_w1_w2.sh BEFORE_BIN AFTER_BIN CHAR_MODEL_DIR [DATA_DIR] [OUT_DIR]
# CHAR_MODEL_DIR: a char_cnn_lstm trained on sst2 (e.g. `hotflip train --arch
# char_cnn_lstm --dataset sst2 --epochs 1 --adv hotflip --out DIR`).
set -euo pipefail
A=$1; B=$2; M=$3; D=${4:-../shared/data/sst2}; O=${5:-/tmp/hotflip-before-after}
mkdir -p "$O"
echo "uptime start: $(uptime)"
for r in 1 2 3; do
  for n in before after; do
    X=$A; [ $n = after ] && X=$B
    echo "W1 round $r $n: $(nice -n 10 "$X" --threads 1 --device cpu bench engine --preset small --iters 20 --json 2>/dev/null)"
  done
done
for r in 1 2; do
  for n in before after; do
    X=$A; [ $n = after ] && X=$B
    rm -f "$O/w2-$n.jsonl" "$O/w2-$n.jsonl.meta.json"
    nice -n 10 "$X" --threads 1 --device cpu attack --model "$M" --dataset sst2 --data-dir "$D" --limit 40 \
      --batch 8 --out "$O/w2-$n.jsonl" --summary "$O/w2-$n.json" --no-progress > "$O/w2-$n.log" 2>&1
    echo "W2 round $r $n: $(grep -o '"seconds_per_example": [0-9.e-]*' "$O/w2-$n.json")"
  done
done
echo "uptime end: $(uptime)"
