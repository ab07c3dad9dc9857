#!/usr/bin/env bash
# W4 side by side: hotflip (CPU) and PyTorch (CPU), the same nearest-neighbour
# computation for iAdvT on the same sizes and thread count, alternating runs in
# one invocation so that both see the same machine state. Prints each run's
# JSON and, last, the medians, the ratio PyTorch ms / hotflip ms (> 1 means
# hotflip is faster) and hotflip's share of a GEMM ceiling (--ceiling GFLOP/s,
# default 390: BENCHMARKS.md's float32 ceiling of the 2-core machine).
#
#   benches/pytorch/compare_w4.sh [--threads 2] [--rounds 3] [--iters 3]
#       [--positions 12800] [--vocab 50000] [--dim 256] [-k 10] [--ceiling 390]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 rounds=3 iters=3 positions=12800 vocab=50000 dim=256 k=10 ceiling=390
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --positions) positions=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --dim) dim=$2; shift 2 ;;
    -k|--k) k=$2; shift 2 ;;
    --ceiling) ceiling=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-.venv-torch/bin/python}
[ -x "$py" ] || py=../main/.venv-torch/bin/python
[ -x "$py" ] || { echo "no PyTorch venv (set PYTHON=/path/to/python with torch installed)" >&2; exit 1; }
cargo build --release --quiet
sizes=(--positions "$positions" --vocab "$vocab" --dim "$dim" -k "$k" --iters "$iters")
ours=() theirs=()
echo "uptime before: $(uptime)"
for r in $(seq "$rounds"); do
  a=$(target/release/hotflip --device cpu --threads "$threads" bench nn "${sizes[@]}" --json)
  b=$("$py" benches/pytorch/w4_neighbours.py "${sizes[@]}" --threads "$threads" --json)
  echo "round $r hotflip $a"
  echo "round $r pytorch $b"
  ours+=("$(echo "$a" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["ms"])')")
  theirs+=("$(echo "$b" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["ms"])')")
done
echo "uptime after: $(uptime)"
"$py" - "$threads" "$positions" "$vocab" "$dim" "$ceiling" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
threads, p, v, d, ceiling = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
a, b = list(map(float, sys.argv[6].split())), list(map(float, sys.argv[7].split()))
ma, mb = statistics.median(a), statistics.median(b)
floor_ms = 2.0 * p * v * d / (ceiling * 1e9) * 1e3
print(f"W4 P {p} V {v} D {d}, {threads} threads: hotflip {ma:.1f} ms, pytorch {mb:.1f} ms, "
      f"ratio {mb / ma:.2f}; GEMM floor {floor_ms:.0f} ms at {ceiling:.0f} GFLOP/s, hotflip at {floor_ms / ma:.0%} of it")
PY
