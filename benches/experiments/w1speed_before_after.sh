#!/usr/bin/env bash
# W1 paper preset (char_cnn_lstm, batch 32, 40 words x 16 chars, forward + backward, 2 threads) for two
# hotflip binaries, the AFTER binary also with --bf16, and PyTorch, rounds alternating; then the CPU
# samples (perf, cpu-clock, one thread: load-independent) spent in the LSTM's recurrent kernels.
# Usage: PYTHON=/path/to/python w1speed_before_after.sh BEFORE_BIN AFTER_BIN [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2; R=${3:-3}; py=${PYTHON:-.venv-torch/bin/python}
echo "uptime start: $(uptime)"
for r in $(seq "$R"); do
  echo "round $r before  $("$A" --threads 2 --device cpu bench engine --preset paper --iters 10 --json 2>/dev/null)"
  echo "round $r after   $("$B" --threads 2 --device cpu bench engine --preset paper --iters 10 --json 2>/dev/null)"
  echo "round $r bf16    $("$B" --threads 2 --device cpu bench engine --preset paper --iters 10 --json --bf16 2>/dev/null)"
  echo "round $r pytorch $("$py" benches/pytorch/w1_char_cnn_lstm.py --preset paper --threads 2 --iters 10 --json)"
done
echo "uptime end: $(uptime)"
if command -v perf >/dev/null; then
  O=$(mktemp -d)
  for n in before after bf16; do
    X=$A; extra=""; [ $n != before ] && X=$B; [ $n = bf16 ] && extra=--bf16
    perf record -q -o "$O/$n.data" -F 4000 "$X" --threads 1 --device cpu bench engine --preset paper --iters 6 $extra >/dev/null 2>&1
    echo "$n: CPU samples (4 kHz, 9 passes) in the LSTM recurrent kernels and cells:"
    perf report -i "$O/$n.data" -n --no-children --sort symbol 2>/dev/null | grep -E "Samples:|packed_gemm|lstm_step|cell_" | cut -c1-100
  done
fi
