#!/usr/bin/env python3
"""Loss-based beam against HotFlip on the same sentences (issue 14): one table row per sentence.

The loss-beam run may be split over several processes, each on a slice of the test split
(a data folder holding only those lines), so each part is given as FILE:OFFSET, where OFFSET
is the test-split index of the part's first sentence. Every part's `src` is checked against
HotFlip's sentence at the same index, so a misaligned slice is an error, not a wrong table.

  lossbeam_table.py HOTFLIP.jsonl LOSSBEAM.jsonl:0 [PART.jsonl:12 ...]
"""
import json
import sys


def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    hot = {r["index"]: r for r in rows(argv[1])}
    beam = {}
    for part in argv[2:]:
        path, _, off = part.rpartition(":")
        for r in rows(path):
            i = r["index"] + int(off)
            if i not in hot or hot[i]["src"] != r["src"]:
                sys.exit(f"{path}: sentence {r['index']} (+{off}) does not match HotFlip's sentence {i}")
            if i in beam:
                sys.exit(f"{path}: sentence {i} appears twice")
            beam[i] = r
    print("| sentence (characters) | loss-beam passes | loss-beam seconds | loss-beam BLEU drop | HotFlip passes | HotFlip seconds | HotFlip BLEU drop |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for i in sorted(beam):
        b, h = beam[i], hot[i]
        print(f"| {i} ({b['n_chars']}) | {b['forward_passes']:,} | {b['seconds']:.1f} | {b['bleu_drop']:.2f} ({len(b['changes'])} changes) "
              f"| {h['forward_passes']} | {h['seconds']:.2f} | {h['bleu_drop']:.2f} ({len(h['changes'])} changes) |")
    n = len(beam)
    for d in (5, 10):
        sb = sum(beam[i]["bleu_drop"] >= d for i in beam)
        sh = sum(hot[i]["bleu_drop"] >= d for i in beam)
        print(f"success at delta {d}: loss-beam {sb}/{n}, HotFlip {sh}/{n}")
    print(f"forward passes: loss-beam {sum(beam[i]['forward_passes'] for i in beam):,}, "
          f"HotFlip {sum(hot[i]['forward_passes'] for i in beam):,}")


if __name__ == "__main__":
    main(sys.argv)
