#!/usr/bin/env bash
# Sato et al. Tables 3/4 at reduced scale: lstm_classifier (small preset) on
# a sentence classification set trained plain, with random perturbations,
# AdvT, iAdvT, VAT and iVAT (ε and λ as the paper), the same epochs and
# seeds for every method; test error of the best-on-dev checkpoint.
#   benches/experiments/sato_tables.sh [DATASET] [OUT_DIR] [EPOCHS] [SEEDS...]
# EPS=E sets ε for advt, vat and random, IEPS=E for iadvt and ivat (default:
# the paper's 5 and 15).
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=${1:-sst2}
out=${2:-runs/sato_$dataset}
epochs=${3:-10}
shift $(( $# > 3 ? 3 : $# ))
seeds=${*:-0}
# HOTFLIP=path runs a prebuilt binary (nothing is built); THREADS sets --threads.
hf="${HOTFLIP:-target/release/hotflip} --threads ${THREADS:-2} --device cpu"
[ -n "${HOTFLIP:-}" ] || cargo build --release --quiet
mkdir -p "$out"
for seed in $seeds; do
  for adv in none random advt iadvt vat ivat; do
    run="$out/$adv-s$seed"
    if [ ! -e "$run/summary.json" ]; then
      resume=""; [ -e "$run/last/trainer.json" ] && resume=--resume
      eps=""
      case $adv in
        advt|vat|random) [ -n "${EPS:-}" ] && eps="--epsilon $EPS" ;;
        iadvt|ivat) [ -n "${IEPS:-}" ] && eps="--epsilon $IEPS" ;;
      esac
      $hf train --arch lstm_classifier --dataset "$dataset" --out "$run" --epochs "$epochs" --seed "$seed" --adv "$adv" --no-progress $resume $eps
    fi
    $hf eval --model "$run" --dataset "$dataset" --split test --json > "$run.eval.json"
  done
done
uptime | tee -a "$out/load.txt"
