#!/usr/bin/env bash
# Peak resident memory of whole training runs (issue 16 item 4): `hotflip
# train` and benches/pytorch/train_run.py (the same model sizes, vocabulary,
# data, epochs, batch and threads) one after the other, each under
# `/usr/bin/time -v`, for word_cnn (paper preset) on SST-2 and char_cnn_lstm
# (small preset) on ag_news_small. Prints, per run, the maximum RSS, the
# wall time and the accuracies, with the load average.
#
#   benches/pytorch/compare_train_rss.sh [--word-epochs 3] [--char-epochs 2] [--threads 2] [--keep DIR]
#
# PYTHON=... picks the interpreter (default /work/venv-ta/bin/python; any
# venv with torch and safetensors will do).
set -euo pipefail
cd "$(dirname "$0")/../.."
we=3 ce=2 threads=2 keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --word-epochs) we=$2; shift 2 ;;
    --char-epochs) ce=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-/work/venv-ta/bin/python}
[ -x "$py" ] || { echo "no PyTorch venv at $py" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet
if [ -n "$keep" ]; then dir=$keep; mkdir -p "$dir"; else dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%F %H:%M UTC')"
measured() { # NAME LOG COMMAND...
  local name=$1 log=$2; shift 2
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v "$@" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  echo "$name: peak RSS ${rss} MiB, wall $wall (load before $load)"
}
rm -rf "$dir/word" "$dir/char"
measured "hotflip word_cnn sst2 $we epochs" "$dir/hf_word.log" target/release/hotflip --threads "$threads" train \
  --arch word_cnn --dataset sst2 --preset paper --epochs "$we" --lr 5e-4 --seed 0 --out "$dir/word" --no-progress
grep -E "^done" "$dir/hf_word.log" || true
measured "pytorch word_cnn sst2 $we epochs" "$dir/pt_word.log" "$py" benches/pytorch/train_run.py \
  --like "$dir/word/best" --dataset sst2 --epochs "$we" --lr 5e-4 --threads "$threads" --json
grep -E '^\{' "$dir/pt_word.log" || true
measured "hotflip char_cnn_lstm small ag_news_small $ce epochs" "$dir/hf_char.log" target/release/hotflip \
  --threads "$threads" train --arch char_cnn_lstm --dataset ag_news_small --preset small --epochs "$ce" --seed 0 \
  --out "$dir/char" --no-progress
grep -E "^done" "$dir/hf_char.log" || true
measured "pytorch char_cnn_lstm small ag_news_small $ce epochs" "$dir/pt_char.log" "$py" benches/pytorch/train_run.py \
  --like "$dir/char/best" --dataset ag_news_small --epochs "$ce" --threads "$threads" --json
grep -E '^\{' "$dir/pt_char.log" || true
