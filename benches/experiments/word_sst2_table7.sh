#!/usr/bin/env bash
# HotFlip Table 7 on SST-2: word_cnn (paper preset, GloVe 50d init, 40 epochs) trained with one adversarial
# word flip per example (SEM: a neighbour with cosine > 0.8; UNK: the word -> UNK); test error, then the
# UNK attack and the word-flip attack (cosine 0.8, POS on) on 300 correctly classified test sentences.
set -u
H=${HOTFLIP:-./target/release/hotflip}
for seed in 0 1 2; do
  for adv in word-sem word-unk; do
    d=runs/sst2_glove_${adv}_s$seed
    if [ ! -d $d/best ]; then
      s=$(date +%s)
      nice -n 10 $H --threads 1 train --arch word_cnn --preset paper --dataset sst2 --out $d --init-vectors ../shared/data/vectors/glove.6B.50d.top200k.txt \
        --epochs 40 --max-norm 3 --eval-test --no-progress --seed $seed --adv $adv > $d.train.log 2>&1
      echo "seed $seed $adv train rc=$? $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg): $(tail -1 $d.train.log)"
    fi
    for lvl in unk word; do
      nice -n 10 $H --threads 1 attack --model $d --dataset sst2 --split test --level $lvl --limit 300 \
        --out $d.$lvl.jsonl --summary $d.$lvl.json --no-progress > $d.$lvl.log 2>&1
      echo "seed $seed $adv attack $lvl rc=$? $(grep -E 'success rate' $d.$lvl.log | tr -s ' ')"
    done
  done
done
