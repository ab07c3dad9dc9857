"""PyTorch twin of `hotflip train --arch char_nmt`: the same model
(hotflip_models.CharNmt), vocabulary (read from a hotflip run's vocab.json
and config.json, so both sides see identical ids), batching (length-sorted
batches in random order), Adam (lr 1e-3, x0.9998 per step), clipping 5 and
teacher-forced mean cross-entropy; dev BLEU of greedy decoding (sacreBLEU)
every --eval-every steps and at the end. Logs JSON lines like hotflip's
train_log.jsonl (tgt_tokens_per_s counts real target tokens incl. </s>).

    PYTHONPATH=<sacrebleu site-packages> /work/venv-torch/bin/python benches/pytorch/nmt_train.py \
        --like RUN/best --minutes 25 --threads 1 --eval-every 300 --out twin_log.jsonl
"""
import argparse
import json
import os
import random
import sys
import time

import sacrebleu
import torch
import torch.nn.functional as F
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

sys.path.insert(0, os.path.dirname(__file__))
from hotflip_models import CharNmt  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "../../../shared/data/multi30k")


def read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--like", required=True, help="a hotflip char_nmt checkpoint dir (config + vocab)")
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = json.load(open(os.path.join(a.like, "config.json")))
    voc = json.load(open(os.path.join(a.like, "vocab.json")))
    chars = {c: i + 2 for i, c in enumerate(voc["tokens"])}
    tgt = {w: i + 4 for i, w in enumerate(voc["tgt_tokens"])}
    itos = {i + 4: w for i, w in enumerate(voc["tgt_tokens"])}
    tok = Tokenizer13a()
    src_l, tgt_l = cfg["src_lang"], cfg["tgt_lang"]

    def enc_src(s):
        return [[chars.get(c, 1) for c in w] for w in tok(s.rstrip()).split()]

    def enc_tgt(s):
        return [tgt.get(w, 1) for w in tok(s.rstrip()).split()]

    train = [(enc_src(s), enc_tgt(t)) for s, t in zip(read(f"train.{src_l}"), read(f"train.{tgt_l}"))]
    train = [p for p in train if p[0] and p[1]]
    dev_src = [enc_src(s) for s in read(f"val.{src_l}")]
    dev_ref = read(f"val.{tgt_l}")
    model = CharNmt(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9998)
    rng = random.Random(a.seed)
    log = open(a.out, "w")
    start = time.time()
    span_tok, span_s, span_cpu, step, ema, epoch = 0, 0.0, 0.0, 0, None, 0

    def evaluate():
        model.eval()
        hyps = []
        for i in range(0, len(dev_src), 100):
            ids, lengths = model.batch(dev_src[i:i + 100])
            for out in model.greedy(ids, lengths):
                hyps.append(" ".join(itos.get(j, "<unk>") for j in out))
        model.train()
        return sacrebleu.corpus_bleu(hyps, [dev_ref]).score

    def log_line():
        nonlocal span_tok, span_s, span_cpu
        dev = evaluate()
        line = dict(epoch=epoch, step=step, minutes=(time.time() - start) / 60, train_loss=ema,
                    tgt_tokens_per_s=span_tok / max(span_s, 1e-9), train_s=span_s, train_cpu_s=span_cpu, dev_bleu=dev)
        print(json.dumps(line), file=log, flush=True)
        print(line, file=sys.stderr, flush=True)
        span_tok, span_s, span_cpu = 0, 0.0, 0.0

    done = False
    model.train()
    while not done:
        idx = list(range(len(train)))
        rng.shuffle(idx)
        idx.sort(key=lambda i: (len(train[i][0]), len(train[i][1])))
        batches = [idx[i:i + a.batch] for i in range(0, len(idx), a.batch)]
        rng.shuffle(batches)
        for b in batches:
            if time.time() - start >= a.minutes * 60:
                done = True
                break
            t0, c0 = time.time(), time.process_time()
            ids, lengths = model.batch([train[i][0] for i in b])
            tin, tout = model.targets([train[i][1] for i in b])
            logp = model(ids, lengths, tin)
            loss = F.nll_loss(logp.reshape(-1, logp.shape[-1]), tout.reshape(-1), ignore_index=0)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            span_tok += int((tout != 0).sum())
            span_s += time.time() - t0
            span_cpu += time.process_time() - c0
            lv = loss.item()
            ema = lv if ema is None else 0.98 * ema + 0.02 * lv
            if a.eval_every and step % a.eval_every == 0:
                log_line()
        else:
            epoch += 1
    log_line()


if __name__ == "__main__":
    main()
