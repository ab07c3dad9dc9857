#!/usr/bin/env bash
# Sato Table 6 (GED on FCE test), reduced: small preset bilstm_tagger, LM-initialised, EQUAL epochs (3) per method, seed 0.
set -u
H=${HOTFLIP:-./target/release/hotflip}
if [ ! -d runs/lm_fce/best ]; then
  s=$(date +%s)
  nice -n 10 $H --threads 1 pretrain-lm --arch bilstm_tagger --dataset fce --data-dir gedd/fce --out runs/lm_fce --epochs 100 --minutes 5 > runs/lm_fce.log 2>&1
  echo "lm rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 runs/lm_fce.log)"
fi
for adv in none random vat ivat; do
  d=runs/ged_lm_${adv}_e3_s0
  s=$(date +%s)
  nice -n 10 $H --threads 1 train --arch bilstm_tagger --dataset fce --data-dir gedd/fce --out $d --epochs 3 --seed 0 --adv $adv \
    --init-lm runs/lm_fce --eval-test --no-progress > $d.log 2>&1
  echo "ged $adv rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 $d.log)"
done
