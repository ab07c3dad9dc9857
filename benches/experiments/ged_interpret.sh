#!/usr/bin/env bash
# Sato et al. Figure 4 / Table 7 on GED: iAdvT's perturbation directions read as
# words on an LM-pretrained bilstm_tagger from the Table 6 grid
# (ged_table6_grid.sh), on the first ten FCE test sentences, against their gold
# labels. Run from the grid's folder (runs/, gedd/fce). Writes
# RUN.interpret_CK.{txt,jsonl,html}.
#   HOTFLIP=path RUN=runs/ged6_iadvt_e6_s0 CK=last|best LIMIT=10 EPS=15 bash ged_interpret.sh
set -eu
H=${HOTFLIP:-./target/release/hotflip}
RUN=${RUN:-runs/ged6_ivat_e6_s0}
CK=${CK:-last}
N=${LIMIT:-10}
EPS=${EPS:-15}
out=$RUN.interpret_$CK
common=(--threads 1 interpret --model "$RUN/$CK" --dataset fce --data-dir gedd/fce --split test --limit "$N" --epsilon "$EPS")
$H "${common[@]}" --html "$out.html" > "$out.txt"
$H "${common[@]}" --json > "$out.jsonl"
cat "$out.txt"
