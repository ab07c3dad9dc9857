#!/usr/bin/env bash
# HotFlip on translation (HotFlip §4.2, Figure 3/4): the first 200 test
# sentences of one direction, the whole delta curve from a search that never
# stops early (--min-bleu-drop 50), and the random baseline with as many
# changes. Usage: nmt_attack_200.sh MODEL_DIR OUT_PREFIX [LIMIT]
set -u
H=${HOTFLIP:-./target/release/hotflip}
M=$1; O=$2; N=${3:-200}
export HOTFLIP_DATA=${HOTFLIP_DATA:-$(cd "$(dirname "$0")/../../../shared/data" && pwd)}
for m in hotflip random; do
  s=$(date +%s)
  /usr/bin/time -f "cpu_s %U %S wall_s %e max_rss_kb %M" -o "$O.$m.time" \
    "$H" --threads 1 attack --model "$M" --dataset multi30k --split test --level char --method $m \
    --limit "$N" --min-bleu-drop 50 --no-progress --out "$O.$m.jsonl" --summary "$O.$m.json" > "$O.$m.log" 2>&1
  echo "$m rc=$? $(( $(date +%s) - s )) s, load $(cut -d' ' -f1-3 /proc/loadavg); $(cat "$O.$m.time")"
done
