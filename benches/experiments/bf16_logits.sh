#!/usr/bin/env bash
# Effect of the opt-in bf16 recurrent products on a trained model's outputs: `hotflip predict --json`
# on the first N AG News test documents with and without HOTFLIP_LSTM_BF16=1; prints the largest
# probability and centred-logit differences and the argmax agreement.
# Usage: PYTHON=/path/to/python bf16_logits.sh HOTFLIP_BIN MODEL_DIR [N] [AG_TEST_CSV]
set -euo pipefail
cd "$(dirname "$0")/../.."
X=$1; M=$2; N=${3:-1000}; CSV=${4:-../shared/data/ag_news/test.csv}; py=${PYTHON:-python3}; O=$(mktemp -d)
"$py" - "$CSV" "$N" > "$O/docs.txt" <<'PY'
import csv, sys
for _, t, d in list(csv.reader(open(sys.argv[1])))[: int(sys.argv[2])]:
    print((t + " " + d).replace("\\", " ").replace("\n", " "))
PY
"$X" --threads 2 --device cpu predict --model "$M" --json < "$O/docs.txt" > "$O/f32.jsonl" 2>/dev/null
HOTFLIP_LSTM_BF16=1 "$X" --threads 2 --device cpu predict --model "$M" --json < "$O/docs.txt" > "$O/bf16.jsonl" 2>/dev/null
"$py" benches/experiments/compare_logits.py "$O/f32.jsonl" "$O/bf16.jsonl"
