"""Writes tests/fixtures/bleu_sacrebleu.json: sacreBLEU's own 13a tokens,
sentence BLEU and corpus BLEU for synthetic sentence pairs (hand-picked edge
cases plus seeded random ones), for tests/bleu_sacrebleu.rs.

    python -m venv /tmp/venv-bleu && /tmp/venv-bleu/bin/pip install sacrebleu==2.6.0
    /tmp/venv-bleu/bin/python benches/bleu_fixture.py > tests/fixtures/bleu_sacrebleu.json
"""
import json
import random

import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

EDGE = [
    ("A man in an orange hat starring at something.", "A man with an orange hat staring at something."),
    ("The price is 3.50, or 1,000 yen.", "The price is $3.50 , or 1,000 yen."),
    ("Tom &amp; Jerry &quot;run&quot; &lt;fast&gt;", "Tom & Jerry \"run\" <fast>"),
    ("From 1990-2000 the well-known (A/B) test...", "In 1990-2000, the well-known A/B test."),
    ("Ein Mann fährt Fahrrad; Frauen schauen zu!", "Ein Mann fährt Fahrrad , Frauen schauen zu !"),
    ("", "A dog runs."),
    ("dog", "A dog runs."),
    ("a dog", "a dog runs"),
    ("x y z", "a b c"),
    ("A dog runs.  ", "A dog runs."),
    ("end.,.x 5.a a.5 ,,", "end . , . x 5.a a.5"),
    ("Two dogs play in the snow.", "Two dogs play in the snow."),
    ("Hello<skipped> world", "Hello world"),
]

WORDS = ("a the man woman dog dogs child children is are playing running in on at with "
         "street park water red blue shirt , . ! ? - ' \" 2 10 3.5 ( ) : ;").split()


def sentence(rng, n):
    toks = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(toks) if rng.random() < 0.5 else "".join(
        t if t in ",.!?;:)" else " " + t for t in toks).strip()


def main():
    rng = random.Random(14)
    pairs = list(EDGE)
    for _ in range(60):
        ref = sentence(rng, rng.randint(3, 18))
        toks = ref.split()
        hyp = [t for t in toks if rng.random() > 0.25]
        if rng.random() < 0.5:
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(WORDS))
        pairs.append((" ".join(hyp), ref))
    tok = Tokenizer13a()
    cases = []
    for hyp, ref in pairs:
        s = sacrebleu.sentence_bleu(hyp, [ref])
        cases.append({"hyp": hyp, "ref": ref, "hyp_tokens": tok(hyp.rstrip()).split(),
                      "sentence_bleu": s.score})
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    c = sacrebleu.corpus_bleu(hyps, [refs])
    corpus = {"bleu": c.score, "precisions": c.precisions, "bp": c.bp,
              "sys_len": c.sys_len, "ref_len": c.ref_len}
    out = {"sacrebleu_version": sacrebleu.__version__, "cases": cases, "corpus": corpus}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
