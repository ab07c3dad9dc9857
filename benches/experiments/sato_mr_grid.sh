#!/usr/bin/env bash
# Sato Tables 3/4 on MR (Rotten Tomatoes), reduced: lstm_classifier (small
# preset) initialised from one LM pre-trained on MR train, every method
# (Table 4: baseline, AdvT, iAdvT, VAT, iVAT; Table 3: random, iAdvT-Rand,
# iAdvT-Best) at the paper's epsilon (5, or 15 for the interpretable ones),
# the SAME epochs and seeds for every method, plus the baseline without the
# LM for comparison. Test error of the best-on-dev checkpoint.
#
#   benches/experiments/sato_mr_grid.sh OUT_DIR
#
# EPOCHS (10), SEEDS ("0 1 2"), JOBS (2 runs at a time, one thread each),
# LM_EPOCHS (10) and HOTFLIP (the binary; default target/release/hotflip)
# override. METHODS picks the rows; EPS (for advt, vat, random) and IEPS (for
# the interpretable ones) set other norms, and TAG names those runs
# (runs/<method><TAG>-s<seed>), e.g. the relative-norm check
# METHODS="advt iadvt vat ivat" EPS=2.5 IEPS=7.5 TAG=-rel SEEDS=0.
# Finished runs (summary.json) are skipped, interrupted ones resume, so the
# script can be rerun until the grid is complete; tabulate with
# benches/experiments/sato_mr_tabulate.py OUT_DIR.
set -u
out=${1:?usage: sato_mr_grid.sh OUT_DIR}
H=${HOTFLIP:-target/release/hotflip}
E=${EPOCHS:-10}
J=${JOBS:-2}
mkdir -p "$out/runs"
if [ ! -f "$out/lm_mr/best/model.safetensors" ]; then
  s=$(date +%s)
  "$H" --threads 2 pretrain-lm --arch lstm_classifier --dataset mr --out "$out/lm_mr" \
    --epochs "${LM_EPOCHS:-10}" > "$out/lm_mr.log" 2>&1 || { echo "pretrain-lm failed: $out/lm_mr.log"; exit 1; }
  echo "lm: $(( $(date +%s) - s )) s: $(grep -c best "$out/lm_mr.log") improvements"
fi
one() {
  adv=$1; seed=$2
  case $adv in
    nolm) d=$out/runs/nolm-s$seed; flags="--adv none" ;;
    *) d=$out/runs/$adv${TAG:-}-s$seed; flags="--adv $adv --init-lm $out/lm_mr" ;;
  esac
  case $adv in
    advt|vat|random) [ -n "${EPS:-}" ] && flags="$flags --epsilon $EPS" ;;
    iadvt|ivat|iadvt-rand|iadvt-best) [ -n "${IEPS:-}" ] && flags="$flags --epsilon $IEPS" ;;
  esac
  [ -f "$d/summary.json" ] && { echo "mr $adv s$seed: done already"; return; }
  resume=""; [ -f "$d/last/trainer.json" ] && resume=--resume
  s=$(date +%s)
  /usr/bin/time -f "cpu_s %U %S wall_s %e max_rss_kb %M" -o "$d.time" \
    "$H" --threads 1 train --arch lstm_classifier --dataset mr --out "$d" --epochs "$E" --seed "$seed" \
    $flags --eval-test --no-progress $resume > "$d.log" 2>&1
  echo "mr $adv s$seed rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 "$d.log")"
}
export -f one; export H E out TAG EPS IEPS
for seed in ${SEEDS:-0 1 2}; do
  for adv in ${METHODS:-none nolm random advt iadvt vat ivat iadvt-rand iadvt-best}; do echo "$adv $seed"; done
done | xargs -P "$J" -L 1 bash -c 'one "$0" "$1"'
