#!/usr/bin/env bash
# Alternating before/after rounds: CPU seconds (user+sys) of W1 (bench engine paper, 20 iters, 1 thread)
# and W2 (200-document attack of the demo model, 1 thread); W2 JSONL compared each round.
# Usage: zero16_rounds.sh BEFORE_BIN AFTER_BIN MODEL DATA_DIR [OUT]   (MODEL: `hotflip demo`'s model/best; needs jq)
B=$1; A=$2; M=$3; D=$4; O=${5:-/tmp/zero16-rounds}; mkdir -p $O
w1() { /usr/bin/time -f "%U %S %M" -o $O/t "$1" --threads 1 --device cpu bench engine --preset paper --iters 20 --json > $O/w1.json 2>/dev/null; echo "W1 $2 round $3: cpu $(awk '{print $1+$2}' $O/t) s, maxKB $(awk '{print $3}' $O/t), docs/s(wall) $(jq .docs_per_s $O/w1.json), load $(cut -d' ' -f1 /proc/loadavg)"; }
w2() { rm -f $O/$2_$3.jsonl*; /usr/bin/time -f "%U %S %M" -o $O/t "$1" --threads 1 --device cpu attack --model "$M" --dataset ag_news_small --data-dir "$D" --limit 200 --batch 1 --no-progress --out $O/$2_$3.jsonl --summary $O/$2_$3.json >/dev/null 2>&1; n=$(jq .attacked $O/$2_$3.json); echo "W2 $2 round $3: cpu $(awk '{print $1+$2}' $O/t) s, $n attacked, $(awk -v n=$n '{printf "%.4f", ($1+$2)/n}' $O/t) s/example, maxKB $(awk '{print $3}' $O/t), load $(cut -d' ' -f1 /proc/loadavg)"; }
date -u
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then w2 $B before $r; w2 $A after $r; w1 $B before $r; w1 $A after $r; else w2 $A after $r; w2 $B before $r; w1 $A after $r; w1 $B before $r; fi
  cmp -s <(jq -c 'del(.seconds)' $O/before_$r.jsonl) <(jq -c 'del(.seconds)' $O/after_$r.jsonl) && echo "round $r: W2 JSONL identical but for seconds" || echo "round $r: W2 JSONL DIFFERENT"
done
date -u
