#!/usr/bin/env bash
# Runs two hotflip binaries on the same char model under nine attack settings and compares
# their JSONL without timing fields (the refactor check of issues 12 and 14).
# Usage: [LIMIT=40] attack_jsonl_before_after.sh OLD_BIN NEW_BIN MODEL_DIR SST2_DATA_DIR [OUT_DIR]
# (MODEL_DIR: a char_cnn_lstm trained on sst2, e.g. the tests/char_fixture model or
#  `hotflip train --arch char_cnn_lstm --dataset sst2 --epochs 12 --out DIR`; needs jq)
set -u
OLD=$1; NEW=$2; M=$3; D=$4; O=${5:-/tmp/hotflip-jsonl-cmp}
rm -rf "$O"; mkdir -p "$O"
i=0
while read -r extra; do
  i=$((i+1))
  for v in old new; do
    X=$OLD; [ $v = new ] && X=$NEW
    # shellcheck disable=SC2086
    "$X" --threads 1 --device cpu attack --model "$M" --dataset sst2 --data-dir "$D" --split test --limit "${LIMIT:-40}" --no-progress \
      --out "$O/$v-$i.jsonl" --summary "$O/$v-$i.json" $extra >/dev/null 2>"$O/$v-$i.err" || echo "run $v $i failed"
    jq -c 'del(.seconds)' "$O/$v-$i.jsonl" > "$O/$v-$i.cmp"
  done
  n=$(wc -l < "$O/new-$i.cmp")
  if cmp -s "$O/old-$i.cmp" "$O/new-$i.cmp"; then echo "same ($n lines): $extra"; else echo "DIFFERENT: $extra"; fi
done <<'L'
--method hotflip
--method hotflip --beam 1
--method hotflip --beam 3 --batch 3 --eval-batch 7
--method loss-beam
--method random
--method random-grad --seed 3
--method hotflip --target positive
--method hotflip --ops flip --multiple-per-word --allow-training-words
--method hotflip --tau 0.9 --budget 0.3
L
