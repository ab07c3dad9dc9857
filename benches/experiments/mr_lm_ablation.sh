#!/usr/bin/env bash
# Why LM pre-training hurts the small MR classifier (issue 15 item 6), seed 0,
# 10 epochs each, run after sato_mr_grid.sh OUT (it reads OUT/lm_mr):
# (1) the LM's embedding alone / the LM's LSTM alone; (2) MR without the
# sentence-final "." (95% of MR sentences end with it), its own LM, with and
# without it; (3) the paper's norms starting from a trained classifier
# (OUT/runs/nolm-s0), 5 epochs.
#   PYTHON=<python with numpy, safetensors> benches/experiments/mr_lm_ablation.sh OUT
set -u
out=${1:?usage: mr_lm_ablation.sh OUT}
H=${HOTFLIP:-target/release/hotflip}
py=${PYTHON:-python3}
here=$(dirname "$0")
data=${HOTFLIP_DATA:-$(cd "$here/../../../shared/data" && pwd)}
t() { d=$1; shift; [ -f "$d/summary.json" ] || "$H" --threads 1 train --arch lstm_classifier --dataset mr "$@" --out "$d" --eval-test --no-progress > "$d.log" 2>&1; echo "$d: $(tail -1 "$d.log")"; }
"$py" "$here/mr_lm_ablation.py" gates "$out/lm_mr"
"$py" "$here/mr_lm_ablation.py" split "$out/lm_mr" "$out"
t "$out/runs/lm_emb_only-s0" --epochs 10 --seed 0 --init-lm "$out/lm_emb_only" &
t "$out/runs/lm_lstm_only-s0" --epochs 10 --seed 0 --init-lm "$out/lm_lstm_only" &
wait
"$py" "$here/mr_lm_ablation.py" nodot "$data/mr/rt-polarity.all" "$out/nodot/mr"
[ -f "$out/nodot/lm/best/model.safetensors" ] || "$H" --threads 1 pretrain-lm --arch lstm_classifier --dataset mr \
  --data-dir "$out/nodot/mr" --out "$out/nodot/lm" --epochs 10 > "$out/nodot/lm.log" 2>&1
t "$out/nodot/none-s0" --data-dir "$out/nodot/mr" --epochs 10 --seed 0 --init-lm "$out/nodot/lm" &
t "$out/nodot/nolm-s0" --data-dir "$out/nodot/mr" --epochs 10 --seed 0 &
wait
for adv in none advt iadvt vat; do
  t "$out/runs/ft-$adv-s0" --init "$out/runs/nolm-s0" --adv "$adv" --epochs 5 --seed 0 &
  [ "$adv" = advt ] || [ "$adv" = vat ] && wait
done
wait
