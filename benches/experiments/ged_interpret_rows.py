#!/usr/bin/env python3
"""Markdown rows of `hotflip interpret --json` on a tagger (ged_interpret.sh):
per sentence, the words (gold `i` in bold, with their strongest direction),
the most perturbed word and its direction, and P(i) there before and after
the replacement. Standard library only.
  python3 ged_interpret_rows.py RUN.interpret_best.jsonl
"""
import json
import sys

print("| # | sentence (gold `i` in **bold**, → direction α at each gold `i`) | most perturbed word → direction (α) | P(i) there: before → after |")
print("| --- | --- | --- | --- |")
for n, line in enumerate(open(sys.argv[1]), 1):
    it = json.loads(line)
    words = []
    for w in it["words"]:
        if w.get("gold") == 1 and w.get("direction") is None:
            words.append(f"**{w['word']}** (UNK)")
        elif w.get("gold") == 1:
            words.append(f"**{w['word']}** (→ {w['direction']} {w['alpha']:.2f})")
        else:
            words.append(w["word"])
    r = it.get("replaced")
    if r is None:
        top, p = "none raises the loss", "–"
    else:
        w = it["words"][r]
        mark = " [gold i]" if w.get("gold") == 1 else ""
        top = f"{w['word']}{mark} → {w['direction']} ({w['alpha']:.2f})"
        p = f"{w['p1']:.3f} → {w['adv_p1']:.3f}"
    sent = " ".join(words).replace("|", "\\|")
    print(f"| {n} | {sent} | {top.replace('|', chr(92) + '|')} | {p} |")
