#!/usr/bin/env bash
# W2 (char HotFlip, beam 10, tau 0.5, budget 10%, --batch 1) by two hotflip
# binaries and the PyTorch implementation (benches/pytorch/w2_hotflip.py), in
# alternating rounds, timed in CPU seconds (user + sys from /usr/bin/time) per
# attacked example: on a shared machine the CPU time is the steadier figure.
# Every round checks that both binaries wrote the same JSONL but for `seconds`.
# Usage: [PYTHON=...] w2_cpu_rounds.sh BEFORE_BIN AFTER_BIN MODEL DATA_DIR [LIMIT=200] [ROUNDS=3] [THREADS=1] [OUT]
# (MODEL: a char_cnn_lstm checkpoint on ag_news_small, e.g. `hotflip demo`'s model/best;
#  DATA_DIR: the ag_news folder; PYTHON with torch + safetensors + numpy; needs jq)
set -u
B=$1; A=$2; M=$3; D=$4; LIMIT=${5:-200}; ROUNDS=${6:-3}; TH=${7:-1}; O=${8:-/tmp/hotflip-w2-rounds}
PY=${PYTHON:-.venv-torch/bin/python}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$O"
cpu() { /usr/bin/time -f "%U %S" -o "$O/time" "$@" >/dev/null 2>>"$O/err.log"; awk '{print $1 + $2}' "$O/time"; }
attack() { rm -f "$2" "$2".*; cpu "$1" --threads "$TH" --device cpu attack --model "$M" --dataset ag_news_small \
  --data-dir "$D" --limit "$LIMIT" --batch 1 --no-progress --out "$2" --summary "${2%.jsonl}.json"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for k in 0 1 2; do
    case $(((r + k) % 3)) in
      0) s=$(attack "$B" "$O/before_$r.jsonl"); n=$(jq .attacked "$O/before_$r.json")
         echo "round $r before: $s CPU s, $n attacked, $(echo "$s $n" | awk '{printf "%.4f", $1/$2}') CPU s/example (load $(cut -d' ' -f1 /proc/loadavg))" ;;
      1) s=$(attack "$A" "$O/after_$r.jsonl"); n=$(jq .attacked "$O/after_$r.json")
         echo "round $r after: $s CPU s, $n attacked, $(echo "$s $n" | awk '{printf "%.4f", $1/$2}') CPU s/example (load $(cut -d' ' -f1 /proc/loadavg))" ;;
      2) [ -f "$O/ref.jsonl" ] || attack "$A" "$O/ref.jsonl" >/dev/null
         s=$(cpu "$PY" "$HERE/benches/pytorch/w2_hotflip.py" --model "$M" --from-results "$O/ref.jsonl" \
             --check-against "$O/ref.jsonl" --threads "$TH" --device cpu --quiet --out "$O/pt_$r.jsonl" --summary "$O/pt_$r.json")
         n=$(jq .attacked "$O/pt_$r.json")
         echo "round $r pytorch: $s CPU s, $n attacked, $(echo "$s $n" | awk '{printf "%.4f", $1/$2}') CPU s/example, agreement $(jq -c .check "$O/pt_$r.json") (load $(cut -d' ' -f1 /proc/loadavg))" ;;
    esac
  done
  jq -c 'del(.seconds)' "$O/before_$r.jsonl" > "$O/before_$r.cmp"; jq -c 'del(.seconds)' "$O/after_$r.jsonl" > "$O/after_$r.cmp"
  if cmp -s "$O/before_$r.cmp" "$O/after_$r.cmp"; then echo "round $r: JSONL identical but for seconds ($(wc -l < "$O/after_$r.cmp") lines)"; else echo "round $r: JSONL DIFFERENT"; fi
done
