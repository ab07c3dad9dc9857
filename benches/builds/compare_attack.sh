#!/usr/bin/env bash
# One attack command run by two hotflip binaries (e.g. one built from main
# and this build), alternating round after round so both see the same
# machine state; prints each run's seconds per example (wall clock, as the
# summary gives it) and CPU seconds (user + system, /usr/bin/time) per
# attacked example with the load average and peak RSS, the medians, the
# ratios baseline / this, and whether the result files are identical but
# for the `seconds` timing fields. On a loaded machine the CPU seconds are
# the steadier figure.
#
#   benches/builds/compare_attack.sh BASELINE_BIN ROUNDS [hotflip global flags] attack ARGS...
#
# ARGS must not contain --out/--summary (the script sets them). Example:
#   benches/builds/compare_attack.sh /tmp/hotflip-main 3 --threads 2 attack \
#     --model runs/char/best --dataset ag_news_small --limit 50 --batch 1 --no-progress
set -euo pipefail
cd "$(dirname "$0")/../.."
base=$1 rounds=$2
shift 2
new=${HOTFLIP:-target/release/hotflip}
[ -n "${HOTFLIP:-}" ] || cargo build --release --quiet
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%F %H:%M') UTC"
args=("$@")
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for who in $order; do
    if [ "$who" = base ]; then bin=$base; else bin=$new; fi
    out="$dir/${who}_$r"
    /usr/bin/time -f "%U %S %M" -o "$out.time" "$bin" "${args[@]}" --out "$out.jsonl" --summary "$out.json" \
      >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
    python3 - "$out" "$who" "$r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + ".json"))
u, sy, rss = open(sys.argv[1] + ".time").read().split()[-3:]
cpu = (float(u) + float(sy)) / max(s["attacked"], 1)
load = open("/proc/loadavg").read().split()[0]
print(f"round {sys.argv[3]} {sys.argv[2]}: {s['seconds_per_example']:.4f} s/example, {cpu:.4f} CPU s/example, "
      f"peak RSS {int(rss) / 1024:.0f} MiB, success {s['success_rate']:.3f} (load {load})")
PY
  done
done
python3 - "$dir" "$rounds" "$base" <<'PY'
import json, statistics, sys
d, rounds, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def summary(w, r): return json.load(open(f"{d}/{w}_{r}.json"))
def lines(w, r):
    out = []
    for l in open(f"{d}/{w}_{r}.jsonl"):
        e = json.loads(l)
        e.pop("seconds", None)
        out.append(e)
    return out
med = {w: statistics.median(summary(w, r)["seconds_per_example"] for r in range(1, rounds + 1)) for w in ("base", "new")}
def cpu(w, r):
    u, sy, _ = open(f"{d}/{w}_{r}.time").read().split()[-3:]
    return (float(u) + float(sy)) / max(summary(w, r)["attacked"], 1)
mcpu = {w: statistics.median(cpu(w, r) for r in range(1, rounds + 1)) for w in ("base", "new")}
same = all(lines("base", r) == lines("new", r) for r in range(1, rounds + 1))
print(f"medians of {rounds} rounds: baseline {base} {med['base']:.4f} s/example, this build {med['new']:.4f} s/example")
print(f"CPU seconds per example (user + system), medians: baseline {mcpu['base']:.4f}, this build {mcpu['new']:.4f}")
print(f"ratio baseline / this build: wall {med['base'] / med['new']:.2f}, CPU {mcpu['base'] / mcpu['new']:.2f}; "
      f"results identical but timings: {same}")
PY
