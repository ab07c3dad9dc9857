#!/usr/bin/env bash
# Training throughput side by side: `hotflip bench train` and
# benches/pytorch/train_throughput.py, same model (MODELS.md char_cnn_lstm),
# same synthetic batch, same step (forward with dropout, backward, clip 5,
# Adam with lr decay), same thread count, alternating runs in one invocation
# so that both see the same machine state. Prints the load average before and
# after, each run's JSON and, last, the medians and the ratio hotflip /
# PyTorch (> 1 means hotflip is faster).
#
#   python3 -m venv .venv-torch && .venv-torch/bin/pip install torch safetensors numpy
#   benches/pytorch/compare_train.sh [--preset small|paper] [--threads 2] [--rounds 3] [--batch 32] [--iters 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=small threads=2 rounds=3 batch=32 words=40 chars=16 iters=20
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-.venv-torch/bin/python}
[ -x "$py" ] || { echo "no PyTorch venv at $py (see the header of this script)" >&2; exit 1; }
cargo build --release --quiet
echo "before: $(uptime)"
ours=() theirs=()
for r in $(seq "$rounds"); do
  a=$(target/release/hotflip --threads "$threads" --device cpu bench train --preset "$preset" --batch "$batch" \
        --words "$words" --chars "$chars" --iters "$iters" --json)
  b=$("$py" benches/pytorch/train_throughput.py --preset "$preset" --batch "$batch" --words "$words" \
        --chars "$chars" --threads "$threads" --iters "$iters" --json)
  echo "round $r hotflip $a"
  echo "round $r pytorch $b"
  ours+=("$(echo "$a" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["docs_per_s"])')")
  theirs+=("$(echo "$b" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["docs_per_s"])')")
done
echo "after: $(uptime)"
"$py" - "$preset" "$threads" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
preset, threads, a, b = sys.argv[1], sys.argv[2], list(map(float, sys.argv[3].split())), list(map(float, sys.argv[4].split()))
ma, mb = statistics.median(a), statistics.median(b)
print(f"training step {preset}, {threads} threads: hotflip {ma:.1f} docs/s, pytorch {mb:.1f} docs/s, ratio {ma / mb:.2f}")
PY
