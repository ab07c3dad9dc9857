#!/usr/bin/env bash
# Sato Table 6 (GED on FCE test), reduced grid: every method x seeds 0,1,2, the small
# preset bilstm_tagger initialised from one LM, EQUAL epochs for every method.
# Run from a folder holding gedd/fce (FCE train/test + fce_multiged dev as
# fce-public.dev.original.tsv) and runs/lm_fce (see ged_equal_epochs.sh).
# Two runs at a time, each on one thread (JOBS, EPOCHS and HOTFLIP override).
set -u
H=${HOTFLIP:-./target/release/hotflip}
E=${EPOCHS:-6}
J=${JOBS:-2}
one() {
  adv=$1; seed=$2
  d=runs/ged6_${adv}_e${E}_s${seed}
  [ -f $d/summary.json ] && { echo "ged $adv s$seed: done already"; return; }
  s=$(date +%s)
  nice -n 10 $H --threads 1 train --arch bilstm_tagger --dataset fce --data-dir gedd/fce --out $d \
    --epochs $E --seed $seed --adv $adv --init-lm runs/lm_fce --eval-test --no-progress > $d.log 2>&1
  echo "ged $adv s$seed rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 $d.log)"
}
export -f one; export H E
for seed in 0 1 2; do for adv in none random advt iadvt vat ivat; do echo "$adv $seed"; done; done \
  | xargs -P "$J" -L 1 bash -c 'one "$0" "$1"'
