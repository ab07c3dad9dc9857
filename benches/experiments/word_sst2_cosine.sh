#!/usr/bin/env bash
# HotFlip §5 on SST-2: word_cnn (paper preset) from GloVe 50d, 40 epochs, best dev epoch kept;
# word flips under cosine 0.8/0.85/0.9/0.95 (POS on, from UD EWT) and the UNK attack; 300 correctly classified test sentences.
set -u
H=${HOTFLIP:-./target/release/hotflip}
for seed in 0 1 2; do
  d=runs/sst2_glove_s$seed
  if [ ! -d $d/best ]; then
    s=$(date +%s)
    nice -n 10 $H --threads 1 train --arch word_cnn --preset paper --dataset sst2 --out $d --init-vectors ../shared/data/vectors/glove.6B.50d.top200k.txt \
      --epochs 40 --max-norm 3 --eval-test --no-progress --seed $seed > $d.train.log 2>&1
    echo "seed $seed train rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 $d.train.log)"
  fi
  for c in 0.8 0.85 0.9 0.95; do
    nice -n 10 $H --threads 1 attack --model $d --dataset sst2 --split test --level word --limit 300 --cosine $c \
      --out $d.cos_$c.jsonl --summary $d.cos_$c.json --no-progress > $d.cos_$c.log 2>&1
    echo "seed $seed cosine $c rc=$? $(grep -E 'success rate' $d.cos_$c.log | tr -s ' ') $(grep -E 'unchanged' $d.cos_$c.log | tr -s ' ')"
  done
  nice -n 10 $H --threads 1 attack --model $d --dataset sst2 --split test --level unk --limit 300 \
      --out $d.unk.jsonl --summary $d.unk.json --no-progress > $d.unk.log 2>&1
  echo "seed $seed unk rc=$? $(grep -E 'success rate' $d.unk.log | tr -s ' ')"
done
