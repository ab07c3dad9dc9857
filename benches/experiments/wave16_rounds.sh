#!/usr/bin/env bash
# W1 paper preset before/after in alternating rounds: per run, CPU seconds (user+sys) of the whole
# `bench engine` process, its median wall time per pass, and the char-CNN op's forward/backward ms
# per pass from `--profile` (13 = 3 warm-up + 10 timed passes), at 1 and at 2 threads.
# Usage: wave16_rounds.sh BEFORE_BIN AFTER_BIN [ROUNDS] [OUT]   (needs jq)
B=$1; A=$2; R=${3:-3}; O=${4:-/tmp/wave16-rounds}; mkdir -p "$O"
one() {
  /usr/bin/time -f "%U %S" -o "$O/t" "$1" --threads "$4" --device cpu bench engine --preset paper --iters 10 --json --profile > "$O/out" 2>&1
  local cc; cc=$(awk '/^char_conv_features/ {printf "%.1f / %.1f", $3/$2, $4/$2}' "$O/out")
  echo "$2 round $3 threads $4: cpu $(awk '{print $1+$2}' "$O/t") s, median $(tail -1 "$O/out" | jq '.median_s*1000|floor') ms/pass, char_conv fwd/bwd $cc ms/pass, load $(cut -d' ' -f1 /proc/loadavg)"
}
date -u
for r in $(seq 1 "$R"); do
  for th in 1 2; do
    if [ $((r % 2)) = 1 ]; then one "$B" before "$r" "$th"; one "$A" after "$r" "$th"; else one "$A" after "$r" "$th"; one "$B" before "$r" "$th"; fi
  done
done
date -u
