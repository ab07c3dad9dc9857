#!/usr/bin/env bash
# Instruction counts (valgrind callgrind: independent of machine load) of W1 (bench engine, small preset,
# 2 iterations) and a W2-style char attack (10 SST-2 test documents) for two hotflip binaries.
# Usage: callgrind_w1w2.sh BEFORE_BIN AFTER_BIN CHAR_MODEL_DIR [DATA_DIR]
set -euo pipefail
A=$1; B=$2; M=$3; D=${4:-../shared/data/sst2}; O=$(mktemp -d)
for n in before after; do
  X=$A; [ $n = after ] && X=$B
  w1=$(nice -n 10 valgrind --tool=callgrind --callgrind-out-file=$O/w1-$n.out "$X" --threads 1 --device cpu bench engine --preset small --iters 2 --json 2>&1 >/dev/null | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*')
  w2=$(nice -n 10 valgrind --tool=callgrind --callgrind-out-file=$O/w2-$n.out "$X" --threads 1 --device cpu attack --model "$M" --dataset sst2 --data-dir "$D" --limit 10 \
      --batch 8 --out "$O/w2-$n.jsonl" --summary "$O/w2-$n.json" --no-progress 2>&1 >/dev/null | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*')
  echo "$n: W1 instructions $w1, W2 instructions $w2"
done
cmp <(grep -v '^$' $O/w2-before.jsonl | sed 's/"seconds":[0-9.e-]*//') <(grep -v '^$' $O/w2-after.jsonl | sed 's/"seconds":[0-9.e-]*//') && echo "W2 JSONL identical but for seconds"
