#!/usr/bin/env python3
"""Prints the first N successful adversarial examples of an `hotflip attack`
results file (JSON Lines) as a Markdown table, HotFlip Table 5 style: the
original sentence, the changed words, the prediction before and after.

  benches/experiments/adv_examples.py runs/attack.jsonl [N]
"""
import json
import sys

path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
print("| original (changed words in bold) | change | prediction |")
print("| --- | --- | --- |")
shown = 0
for line in open(path, encoding="utf-8"):
    r = json.loads(line)
    if r.get("skipped") or not r.get("success"):
        continue
    words = r["orig_text"].split()
    for c in r["changes"]:
        w = c.get("word")
        if isinstance(w, int) and 0 <= w < len(words):
            words[w] = f"**{words[w]}**"
    change = ", ".join(f"{c.get('word_before', c.get('from'))} → {c.get('word_after', c.get('to'))}" for c in r["changes"])
    pred = f"{r['orig_pred']} ({r['orig_prob']:.2f}) → {r['adv_pred']} ({r['adv_prob']:.2f})"
    print(f"| {' '.join(words)} | {change} | {pred} |")
    shown += 1
    if shown == n:
        break
