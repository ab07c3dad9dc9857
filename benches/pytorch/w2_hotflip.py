#!/usr/bin/env python3
"""W2 (shared/spec/BENCHMARKS.md), PyTorch side: HotFlip's character attack.

The same beam search as `hotflip attack --level char --method hotflip`
(src/attack/char_attack.rs, char_score.rs, char_doc.rs, oracle.rs), written
as a fair PyTorch baseline: documents are attacked one at a time, the beam
entries of a document share one forward and one backward pass, and every
edit of every entry is scored at once from the one-hot gradient
`S = grad @ E.T` ([entries, words, positions, chars]) with tensor ops; only
the few dozen best candidates per entry reach Python (for the word-vocabulary
test, the tie-break order and the duplicate check).

Semantics (ATTACKS.md, MODELS.md, and hotflip's code where they leave room):
- text pipeline: split on Unicode White_Space (Rust's split_whitespace),
  lowercase if config.json says so, the first max_words words; each word is
  cut to max_word_len - 1 chars, then PAD; unknown chars are UNK (1);
- J = cross-entropy of the true label; S_j(c) = e_j . E_c with e_j the
  gradient of J at the embedding of position j (PAD positions included);
  the char-CNN takes the max over positions before tanh and routes the
  gradient to the first arg-max position only, as hotflip's fused op does
  (torch.amax would split it among tied all-PAD windows, which changes the
  scores of inserts at the end of a word);
- flip a->b at j < n: S_j(b) - S_j(a); b is any vocabulary char except PAD,
  UNK and whitespace, b != a;
- delete at j (words of >= 2 chars): the left shift of positions j..n-1 (the
  trailing PAD, or the first unseen char of a long word, moves in); insert b
  at j <= n (words shorter than max_word_len - 1): a flip to b at j and the
  right shift of j+1..n; both scored as the sum of the flips of the positions
  whose char actually changes, divided by their number;
- one change per word; a changed word must not be in vocab.json's word_vocab;
- budget: max(1, floor(budget * chars of the first max_words words)) changes,
  at most the number of words (f32 arithmetic, as hotflip);
- beam: children ranked by parent score + edit score (ties: entry, then op
  flip < insert < delete, word, position, char); per entry the best 2b
  allowed children, then per document the best b distinct documents;
- stop when an entry's wrong-class probability >= tau (the best such entry
  is the result), or when the budget is spent or no child is left (the entry
  with the highest J is the result, unsuccessful);
- passes counted as hotflip counts them: one forward pass to classify, then
  per depth one forward per entry, plus one backward per entry while changes
  remain.

Documents come from a hotflip results file (`--from-results`: every
non-skipped line's orig_text and label, in file order), so both tools attack
exactly the same documents without re-implementing the data set's cleaning.
A document this model gets wrong is reported and not attacked.

Usage:
    hotflip --threads 2 attack --model RUN/best --dataset ag_news_small \\
        --limit 200 --batch 1 --out hf.jsonl --summary hf.json
    .venv-torch/bin/python benches/pytorch/w2_hotflip.py --model RUN/best \\
        --from-results hf.jsonl --check-against hf.jsonl \\
        --out torch.jsonl --summary torch.json

Options: --beam 10 --tau 0.5 --budget 0.1 (defaults: the results file's
.meta.json, else these), --limit N, --threads 2, --device cpu|cuda;
--self-test checks the vectorised scores against a loop-for-loop
transcription of char_score.rs and exits.
benches/pytorch/compare_w2.sh runs both tools side by side.

Timing: seconds per example are measured per document (tokenising,
classifying and the search), after one untimed warm-up document, and
averaged over the attacked documents, as hotflip does. PyTorch's OpenMP
threads spin while they wait: on a machine whose cores are busy with other
work, more than one thread can be several times slower than one (measure on
a quiet machine, or compare with OMP_WAIT_POLICY=PASSIVE or --threads 1).
"""

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotflip_models import build  # noqa: E402

PAD, UNK = 0, 1
FLIP, INSERT, DELETE = 0, 1, 2  # hotflip's CharOp order (the tie-break)
OP_NAMES = ("flip", "insert", "delete")
TAUS = (0.5, 0.6, 0.7, 0.8, 0.9)
NINF = float("-inf")

# Rust's char::is_whitespace / str::split_whitespace (Unicode White_Space);
# Python's str.split() would also split on U+001C..U+001F.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SPLIT = re.compile(f"[{WHITESPACE}]+")
IS_SPACE = re.compile(f"[{WHITESPACE}]")


def f32(x):
    """x rounded to float32, as a Python float (hotflip computes in f32)."""
    return float(np.float32(x))


def split_words(text):
    return [w for w in SPLIT.split(text) if w]


def argmax(v):
    """First index of the largest value (hotflip's train::argmax)."""
    best = 0
    for i, x in enumerate(v):
        if x > v[best]:
            best = i
    return best


def last_max(items, key):
    """Rust's Iterator::max_by: the last of equal maxima."""
    best = None
    for it in items:
        if best is None or key(it) >= key(best):
            best = it
    return best


class Checkpoint:
    """A hotflip char_cnn_lstm checkpoint and its text pipeline."""

    def __init__(self, path, device):
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        with open(os.path.join(path, "vocab.json")) as f:
            vocab = json.load(f)
        if self.config["arch"] != "char_cnn_lstm" or vocab["kind"] != "chars":
            sys.exit(f"error: {path} is not a char_cnn_lstm checkpoint")
        self.device = device
        self.model = build(self.config)
        self.model.load_state_dict(load_file(os.path.join(path, "model.safetensors")))
        self.model.to(device)
        for p in self.model.parameters():
            p.requires_grad_(False)  # gradients for the input only, as hotflip
        # The module has no dropout; train mode lets cuDNN's LSTM run backward.
        self.model.train(device.type == "cuda")
        self.L = self.config["max_word_len"]
        self.max_words = self.config["max_words"]
        self.lowercase = bool(self.config.get("lowercase", False))
        self.char_id = {t: i + 2 for i, t in enumerate(vocab["tokens"])}
        self.word_vocab = set(vocab["word_vocab"]) if vocab.get("word_vocab") is not None else None
        self.table = self.model.char_embedding.weight.detach()  # [V, D]
        v = self.table.shape[0]
        self.chars = ["\0"] * v
        allowed = [False] * v
        for i, t in enumerate(vocab["tokens"]):
            if i + 2 < v and t:
                self.chars[i + 2] = t[0]
                allowed[i + 2] = not IS_SPACE.match(t[0])
        self.allowed = torch.tensor(allowed, device=device)

    def normalize(self, word):
        return word.lower() if self.lowercase else word

    def words(self, text):
        return [self.normalize(w) for w in split_words(text)[: self.max_words]]

    def row(self, word):
        """(ids [L] of a word as the model sees it, id of its first unseen char or PAD)."""
        ids = [self.char_id.get(c, UNK) for c in word[: self.L - 1]]
        ids += [PAD] * (self.L - len(ids))
        unseen = self.char_id.get(word[self.L - 1], UNK) if len(word) > self.L - 1 else PAD
        return ids, unseen

    def logits(self, emb):
        """Logits from character embeddings [K, W, L, D] (one document's beam:
        every entry has the same W words, so no packing is needed)."""
        m = self.model
        k, w, l, d = emb.shape
        x = emb.reshape(k * w, l, d).transpose(1, 2)
        # max, then tanh (monotonic: the same values); max(dim) routes the
        # gradient to the first arg-max position only, as hotflip does, where
        # amax would split it among tied positions (all-PAD windows tie).
        x = torch.tanh(torch.cat([conv(x).max(dim=2).values for conv in m.convs], dim=1))
        for layer in m.highway:
            x = layer(x)
        _, (h_n, _) = m.lstm(x.reshape(k, w, -1))
        return m.classifier(h_n[-1])

    def evaluate(self, ids, label, grads):
        """Probabilities [K][C], J [K], and dJ/d(embedding) [K, W, L, D] if `grads`."""
        ids = ids.to(self.device, non_blocking=True)
        if not grads:
            with torch.no_grad():
                logp = F.log_softmax(self.logits(F.embedding(ids, self.table)), dim=-1)
            g = None
        else:
            emb = F.embedding(ids, self.table).requires_grad_(True)
            logp = F.log_softmax(self.logits(emb), dim=-1)
            j = -logp[:, label]
            (g,) = torch.autograd.grad(j.sum(), emb)
            logp = logp.detach()
        lp = logp.cpu()
        return lp.exp().tolist(), (-lp[:, label]).tolist(), g


class Entry:
    """A document state in the beam."""

    __slots__ = ("words", "changed", "ids", "unseen", "score", "path", "parent_loss", "probs", "loss")

    def __init__(self, words, changed, ids, unseen, score, path, parent_loss):
        self.words, self.changed, self.ids, self.unseen = words, changed, ids, unseen
        self.score, self.path, self.parent_loss = score, path, parent_loss
        self.probs, self.loss = None, None


def edited_word(word, op, pos, ch):
    if op == FLIP:
        return word[:pos] + ch + word[pos + 1:]
    if op == INSERT:
        return word[:pos] + ch + word[pos:]
    return word[:pos] + word[pos + 1:]


def display_word(shown, norm_before, op, pos, ch):
    """hotflip's edit_display_word: keep the written case where lengths agree."""
    chars = list(shown) if len(shown) == len(norm_before) else list(norm_before)
    if op == FLIP and pos < len(chars):
        chars[pos] = ch
    elif op == INSERT and pos <= len(chars):
        chars.insert(pos, ch)
    elif op == DELETE and pos < len(chars):
        del chars[pos]
    return "".join(chars)


class Attacker:
    def __init__(self, ck, beam, tau, budget):
        self.ck, self.beam, self.tau, self.budget = ck, beam, f32(tau), f32(budget)
        self.pos = torch.arange(ck.L, device=ck.device)
        # 0 for chars that may be flipped to or inserted, -inf for the others.
        self.char_bias = torch.where(ck.allowed, 0.0, NINF)

    def scores(self, g, ids, unseen, nfull, open_):
        """Every edit's first-order score for K entries, -inf where not allowed:
        [K, 2·W·L·V + W·L] (flips, inserts, deletes; flat index = op block,
        then word, position, char id). The arithmetic is hotflip's, operation
        for operation (sums in the same order), up to the dot products
        `grad @ E.T`, whose rounding differs."""
        ck, L = self.ck, self.ck.L
        dev = ck.device
        ids, unseen, nfull, open_ = (t.to(dev) for t in (ids, unseen, nfull, open_))
        K, W = ids.shape[:2]
        V = ck.table.shape[0]
        block = W * L * V
        out = torch.empty(K, 2 * block + W * L, device=dev)
        flip = out[:, :block].view(K, W, L, V)
        insert = out[:, block:2 * block].view(K, W, L, V)
        delete = out[:, 2 * block:].view(K, W, L)
        S = g @ ck.table.T                                   # [K, W, L, V]: S_j(c)
        base = S.gather(-1, ids[..., None])                  # [K, W, L, 1]: S_j(a_j)
        torch.sub(S, base, out=flip)                         # S_j(c) - S_j(a_j); 0 at c = a_j
        base = base.squeeze(-1)
        n = nfull.clamp(max=L - 1)[..., None]                # [K, W, 1]: visible chars
        pos = self.pos
        visible = (pos < n) & open_[..., None]               # [K, W, L]
        # Deletes at j < n: position k in j..n-1 takes nxt[k] (k+1's char; at
        # n-1 the first unseen char of a long word, or PAD); the flips of the
        # positions that change, summed from n-1 down (suffix sums).
        nxt = torch.cat([ids[..., 1:], torch.zeros_like(ids[..., :1])], dim=-1)
        nxt[..., L - 2] = torch.where(nfull > L - 1, unseen, nxt[..., L - 2])
        moved = (nxt != ids) & (pos < n)
        term = torch.where(moved, S.gather(-1, nxt[..., None]).squeeze(-1) - base, 0.0)
        dsum = term.flip(-1).cumsum(-1).flip(-1)
        dcnt = moved.flip(-1).cumsum(-1).flip(-1)
        delete.copy_(torch.where(visible & (nfull[..., None] >= 2) & (dcnt > 0), dsum / dcnt.clamp(min=1), NINF))
        # Inserts at j <= n (words shorter than L - 1): the flip to c at j
        # plus the right shift of j+1..n (k takes k-1's char); r1[j], c1[j]:
        # the shift's sum and count over k >= j+1.
        prv = torch.cat([torch.zeros_like(ids[..., :1]), ids[..., :-1]], dim=-1)
        rmoved = (prv != ids) & (pos >= 1) & (pos <= n)
        rterm = torch.where(rmoved, S.gather(-1, prv[..., None]).squeeze(-1) - base, 0.0)
        rsum = rterm.flip(-1).cumsum(-1).flip(-1)
        rcnt = rmoved.flip(-1).cumsum(-1).flip(-1)
        r1 = torch.cat([rsum[..., 1:], torch.zeros_like(rsum[..., :1])], dim=-1)
        c1 = torch.cat([rcnt[..., 1:], torch.zeros_like(rcnt[..., :1])], dim=-1)
        torch.add(flip, r1[..., None], out=insert)
        insert.div_((c1 + 1)[..., None])
        # c = a_j changes nothing at j: the shift alone (none if it moves nothing).
        alone = torch.where(c1 > 0, r1 / c1.clamp(min=1), NINF)
        insert.scatter_(-1, ids[..., None], alone[..., None])
        insertable = (pos <= n) & open_[..., None] & (nfull[..., None] < L - 1)
        insert.add_(torch.where(insertable, 0.0, NINF)[..., None]).add_(self.char_bias)
        # Flips at j < n to an allowed c != a_j.
        flip.add_(torch.where(visible, 0.0, NINF)[..., None]).add_(self.char_bias)
        flip.scatter_(-1, ids[..., None], NINF)
        return out

    def decode(self, flat, W, V):
        """Flat candidate indices [K, m] -> lists of (op, word, pos, char id)."""
        L = self.ck.L
        block = W * L * V
        is_del = flat >= 2 * block
        r = torch.where(is_del, flat - 2 * block, flat % block)
        op = torch.where(is_del, DELETE, flat // block)
        w = torch.where(is_del, r // L, r // (L * V))
        j = torch.where(is_del, r % L, (r // V) % L)
        c = torch.where(is_del, PAD, r % V)
        return torch.stack([op, w, j, c], dim=-1).tolist()

    def children(self, entries, g):
        """The beam's next entries (hotflip's top_children + child)."""
        ck, b, chars = self.ck, self.beam, self.ck.chars
        K, W = len(entries), len(entries[0].words)
        V = ck.table.shape[0]
        ids = torch.stack([e.ids for e in entries])
        unseen = torch.stack([e.unseen for e in entries])
        nfull = torch.tensor([[len(w) for w in e.words] for e in entries])
        open_ = ~torch.tensor([e.changed for e in entries])
        gain = self.scores(g, ids, unseen, nfull, open_)            # [K, N]
        # Per entry, the best 2b allowed children not forbidden by the word
        # vocabulary, ranked by parent score + edit score in f32. Ranking by
        # the edit score alone picks the same ones (f32 addition of the
        # entry's constant score is monotonic); the totals are formed on the
        # few candidates that come back, then sorted with hotflip's tie-break.
        cap = 2 * b
        m = min(gain.shape[1], 2 * cap)
        while True:
            top_g, top_i = gain.topk(m, dim=1)
            top_g, top_e = top_g.tolist(), self.decode(top_i, W, V)
            short = False
            picked = []  # (rank key, entry, edit, new word, gain, total)
            for e, entry in enumerate(entries):
                s32 = np.float32(entry.score)
                cands = []
                for gn, (op, w, j, c) in zip(top_g[e], top_e[e]):
                    if gn == NINF:
                        break
                    ch = chars[c]
                    t = float(np.float32(gn) + s32)
                    cands.append(((-t, e, op, w, j, ord(ch)), (op, w, j, ch), gn, t))
                cands.sort(key=lambda c: c[0])
                kept = 0
                for key, edit, gn, t in cands:
                    op, w, j, ch = edit
                    new = edited_word(entry.words[w], op, j, ch)
                    if ck.word_vocab is not None and new in ck.word_vocab:
                        continue
                    picked.append((key, e, edit, new, gn, t))
                    kept += 1
                    if kept == cap:
                        break
                # All of the top m allowed but too many forbidden: look further.
                short = short or (kept < cap and len(cands) == m)
            if not short or m == gain.shape[1]:
                break
            m = min(gain.shape[1], 4 * m)  # rare: many forbidden words
        picked.sort(key=lambda p: p[0])
        seen, kids = set(), []
        for key, e, (op, w, j, ch), new, gn, t in picked:
            parent = entries[e]
            words = parent.words[:w] + (new,) + parent.words[w + 1:]
            if words in seen:
                continue
            seen.add(words)
            row, uns = ck.row(new)
            cids = parent.ids.clone()
            cids[w] = torch.tensor(row)
            cuns = parent.unseen.clone()
            cuns[w] = uns
            changed = parent.changed[:w] + (True,) + parent.changed[w + 1:]
            old = parent.words[w]
            step = dict(op=op, word=w, pos=j, ch=ch, frm=old[j] if op != INSERT else "",
                        before=old, after=new, predicted=gn, actual=None)
            kids.append(Entry(words, changed, cids, cuns, t, parent.path + [step], parent.loss))
            if len(kids) == b:
                break
        return kids

    def attack(self, index, text, label):
        ck = self.ck
        t0 = time.perf_counter()
        words = tuple(ck.words(text))
        rows = [ck.row(w) for w in words]
        ids = torch.tensor([r[0] for r in rows], dtype=torch.long).reshape(len(words), ck.L)
        unseen = torch.tensor([r[1] for r in rows], dtype=torch.long)
        n_chars = sum(len(w) for w in words)
        res = dict(index=index, label=label, orig_text=text)
        if not words:
            return dict(res, skipped=True, reason="no words")
        probs, _, _ = ck.evaluate(ids[None], label, False)
        orig_probs = probs[0]
        orig_pred = argmax(orig_probs)
        if orig_pred != label:
            return dict(res, skipped=True, orig_pred=orig_pred, orig_prob=orig_probs[orig_pred])
        max_changes = min(max(1, math.floor(np.float32(self.budget) * np.float32(n_chars))), len(words))
        entries = [Entry(words, (False,) * len(words), ids, unseen, 0.0, [], None)]
        depth, fwd, bwd = 0, 1, 0
        tau_changes, best_adv = {}, 0.0

        def adversarial(p):
            pred = argmax(p)
            return p[pred] if pred != label else 0.0

        while True:
            need = depth < max_changes
            probs, loss, g = ck.evaluate(torch.stack([e.ids for e in entries]), label, need)
            fwd += len(entries)
            bwd += len(entries) if need else 0
            for e, p, l in zip(entries, probs, loss):
                e.probs, e.loss = p, l
                if e.parent_loss is not None:
                    e.path[-1]["actual"] = f32(l - e.parent_loss)
                adv = adversarial(p)
                best_adv = max(best_adv, adv)
                for t in TAUS:
                    if adv >= f32(t):
                        tau_changes.setdefault(f"{t:.1f}", depth)
            best = last_max(entries, lambda e: adversarial(e.probs))
            if adversarial(best.probs) >= self.tau:
                result, success = best, True
                break
            if depth >= max_changes:
                result, success = last_max(entries, lambda e: e.loss), False
                break
            kids = self.children(entries, g)
            depth += 1
            if not kids:
                result, success = last_max(entries, lambda e: e.loss), False
                break
            entries = kids
        seconds = time.perf_counter() - t0
        # The adversarial text: edited words in place of the written ones.
        shown = split_words(text)
        norm = list(words)
        changes = []
        for s in result.path:
            w = s["word"]
            shown[w] = display_word(shown[w], norm[w], s["op"], s["pos"], s["ch"])
            norm[w] = s["after"]
            changes.append(dict(op=OP_NAMES[s["op"]], word=w, pos=s["pos"], **{"from": s["frm"]},
                                to="" if s["op"] == DELETE else s["ch"], word_before=s["before"],
                                word_after=s["after"], predicted=s["predicted"], actual=s["actual"]))
        adv_pred = argmax(result.probs)
        return dict(res, skipped=False, orig_pred=orig_pred, orig_prob=orig_probs[orig_pred],
                    adv_text=" ".join(shown), adv_pred=adv_pred, adv_prob=result.probs[adv_pred],
                    success=success, changes=changes, chars_changed=len(changes), n_chars=n_chars,
                    frac_changed=len(changes) / max(n_chars, 1), max_changes=max_changes,
                    tau_changes=tau_changes, best_adv_prob=best_adv, forward_passes=fwd,
                    backward_passes=bwd, seconds=seconds)


def reference_scores(ck, words, ids, unseen, g, open_):
    """char_score.rs's for_each_edit transcribed loop for loop (one entry):
    {(op, word, pos, char id): score} from the same S = grad @ E.T."""
    L, V = ck.L, ck.table.shape[0]
    S = (g @ ck.table.T).tolist()
    allowed = ck.allowed.tolist()
    out = {}
    for w, word in enumerate(words):
        if not open_[w]:
            continue
        a, at = ids[w].tolist(), S[w]
        n_full = len(word)
        n = min(n_full, L - 1)
        base = [at[j][a[j]] for j in range(n + 1)]
        for j in range(n):
            for c in range(V):
                if allowed[c] and c != a[j]:
                    out[(FLIP, w, j, c)] = f32(at[j][c] - base[j])
        if n_full >= 2:
            total, count = np.float32(0), 0
            for j in reversed(range(n)):
                c = a[j + 1] if j + 1 < n else (int(unseen[w]) if n_full > n else PAD)
                if c != a[j]:
                    total = np.float32(total + np.float32(at[j][c] - base[j]))
                    count += 1
                if count:
                    out[(DELETE, w, j, PAD)] = f32(total / np.float32(count))
        if n_full < L - 1:
            rsum, rcnt = [np.float32(0)] * (n + 2), [0] * (n + 2)
            for k in reversed(range(1, n + 1)):
                moved = a[k - 1] != a[k]
                rsum[k] = np.float32(rsum[k + 1] + (np.float32(at[k][a[k - 1]] - base[k]) if moved else 0))
                rcnt[k] = rcnt[k + 1] + moved
            for j in range(n + 1):
                for c in range(V):
                    here = c != a[j]
                    if allowed[c] and rcnt[j + 1] + here:
                        tot = rsum[j + 1] + (np.float32(at[j][c] - base[j]) if here else 0)
                        out[(INSERT, w, j, c)] = f32(np.float32(tot) / np.float32(rcnt[j + 1] + here))
    return out


def self_test(ck, attacker, tasks):
    """Vectorised scores against the loop transcription, on each task's
    document and on a copy with one word edited (a closed word), plus a
    synthetic document with long words, unknown chars and 1-char words.
    Returns the largest absolute difference; exits on a differing edit set."""
    docs = [(text, label) for _, text, label in tasks]
    docs.append(("Supercalifragilisticexpialidocious naïve CAFÉ x aa abcdefghijklmnop ab aab "
                 "abcdefghijklmno internationalization zz€zz ééé 15-character-wo", 0))
    worst = 0.0
    for text, label in docs:
        words = tuple(ck.words(text))
        rows = [ck.row(w) for w in words]
        ids = torch.tensor([r[0] for r in rows], dtype=torch.long).reshape(len(words), ck.L)
        unseen = torch.tensor([r[1] for r in rows], dtype=torch.long)
        for closed in (None, 0):
            open_ = [w != closed for w in range(len(words))]
            _, _, g = ck.evaluate(ids[None], label, True)
            vec = attacker.scores(g, ids[None], unseen[None], torch.tensor([[len(w) for w in words]]),
                                  torch.tensor([open_]))[0]
            valid = torch.nonzero(vec > NINF).squeeze(1)
            got = {tuple(e): v for e, v in zip(attacker.decode(valid, len(words), ck.table.shape[0]),
                                                 vec[valid].tolist())}
            want = reference_scores(ck, words, ids, unseen, g[0].cpu(), open_)
            if got.keys() != want.keys():
                extra, missing = got.keys() - want.keys(), want.keys() - got.keys()
                sys.exit(f"self-test: edit sets differ on {text[:60]!r}: {len(extra)} extra "
                         f"{sorted(extra)[:5]}, {len(missing)} missing {sorted(missing)[:5]}")
            worst = max([worst] + [abs(got[k] - want[k]) for k in want])
    return worst


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def bucket(n):
    return "3+" if n >= 3 else str(n)


def summarize(results, args, wall):
    att = [r for r in results if not r["skipped"]]
    wins = [r for r in att if r["success"]]
    n = len(att)
    hist, by_changes, ops = {}, {}, {}
    for r in wins:
        k = bucket(len(r["changes"]))
        hist[k] = hist.get(k, 0) + 1
        by_changes.setdefault(k, []).append(r["seconds"])
        for c in r["changes"]:
            ops[c["op"]] = ops.get(c["op"], 0) + 1
    total_ops = max(sum(ops.values()), 1)
    secs = sorted(r["seconds"] for r in att)
    return {
        "impl": "pytorch", "method": "hotflip", "level": "char",
        "beam": args.beam, "tau": args.tau, "budget": args.budget,
        "attacked": n, "skipped": len(results) - n,
        "successes": len(wins), "success_rate": len(wins) / n if n else 0.0,
        "success_by_tau": {f"{t:.1f}": (sum(1 for r in att if f"{t:.1f}" in r["tau_changes"]
                                            or r["best_adv_prob"] >= f32(t)) / n if n else 0.0)
                           for t in TAUS},
        "mean_frac_changed": mean(r["frac_changed"] for r in wins),
        "mean_changes": mean(len(r["changes"]) for r in wins),
        "changes_hist": hist,
        "op_share": {k: v / total_ops for k, v in sorted(ops.items())},
        "forward_passes_per_example": mean(r["forward_passes"] for r in att),
        "backward_passes_per_example": mean(r["backward_passes"] for r in att),
        "seconds_per_example": mean(secs),
        "median_seconds_per_example": secs[len(secs) // 2] if secs else 0.0,
        "seconds_by_changes": {k: mean(v) for k, v in sorted(by_changes.items())},
        "wall_seconds": wall,
        "device": args.device, "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "loadavg": list(os.getloadavg()),
    }


def check_against(results, path):
    """Per-example agreement with a hotflip results file (matched by index)."""
    theirs = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                theirs[r["index"]] = r
    pairs = [(r, theirs[r["index"]]) for r in results if not r["skipped"] and r["index"] in theirs
             and not theirs[r["index"]]["skipped"]]
    n = len(pairs)
    if n == 0:
        return {"compared": 0}
    same_success = sum(a["success"] == b["success"] for a, b in pairs)
    same_n = sum(len(a["changes"]) == len(b["changes"]) for a, b in pairs)
    same_text = sum(a["adv_text"] == b["adv_text"] for a, b in pairs)
    same_edits = sum([(c["op"], c["word"], c["pos"], c["to"]) for c in a["changes"]]
                     == [(c["op"], c["word"], c["pos"], c["to"]) for c in b["changes"]] for a, b in pairs)
    prob_err = max(abs(a["orig_prob"] - b["orig_prob"]) for a, b in pairs)
    differing = [a["index"] for a, b in pairs if a["adv_text"] != b["adv_text"]]
    return {
        "compared": n,
        "success_agree": same_success / n,
        "n_changes_agree": same_n / n,
        "adv_text_agree": same_text / n,
        "edits_agree": same_edits / n,
        "success_rate_pytorch": sum(a["success"] for a, _ in pairs) / n,
        "success_rate_hotflip": sum(b["success"] for _, b in pairs) / n,
        "mean_changes_pytorch": mean(len(a["changes"]) for a, _ in pairs),
        "mean_changes_hotflip": mean(len(b["changes"]) for _, b in pairs),
        "max_abs_orig_prob_diff": prob_err,
        "indices_with_other_adv_text": differing[:50],
    }


def load_tasks(path, limit):
    tasks = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("skipped"):
                continue
            tasks.append((r["index"], r["orig_text"], r["label"]))
            if limit is not None and len(tasks) >= limit:
                break
    return tasks


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="hotflip checkpoint dir (or a run dir with best/)")
    p.add_argument("--from-results", required=True, metavar="FILE.jsonl",
                   help="hotflip attack results: attack their non-skipped documents, in file order")
    p.add_argument("--limit", type=int, help="attack at most this many documents")
    p.add_argument("--beam", type=int, help="beam width (default: the results' meta, else 10)")
    p.add_argument("--tau", type=float, help="success threshold (default: the results' meta, else 0.5)")
    p.add_argument("--budget", type=float, help="share of chars (default: the results' meta, else 0.1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--warmup", type=int, default=1,
                   help="documents attacked once, untimed, before the run (allocator, kernels)")
    p.add_argument("--out", metavar="FILE.jsonl", help="per-example results (hotflip's field names)")
    p.add_argument("--summary", metavar="FILE.json", help="the run's summary (also printed)")
    p.add_argument("--check-against", metavar="FILE.jsonl",
                   help="compare per-example outcomes with this hotflip results file")
    p.add_argument("--self-test", action="store_true",
                   help="check the vectorised scores against a loop transcription of hotflip's "
                        "char_score.rs on the (first --limit) documents, then exit")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    model_dir = args.model
    if not os.path.exists(os.path.join(model_dir, "config.json")) and os.path.isdir(os.path.join(model_dir, "best")):
        model_dir = os.path.join(model_dir, "best")
    meta = {}
    if os.path.exists(args.from_results + ".meta.json"):
        with open(args.from_results + ".meta.json") as f:
            meta = json.load(f)
        if meta.get("method", "hotflip") != "hotflip" or meta.get("level", "char") != "char" \
                or meta.get("target") is not None or not meta.get("one_change_per_word", True) \
                or not meta.get("forbid_training_words", True):
            print(f"warning: {args.from_results} comes from a run with other settings: {meta}", file=sys.stderr)
    for k, d in (("beam", 10), ("tau", 0.5), ("budget", 0.1)):
        if getattr(args, k) is None:
            setattr(args, k, meta.get(k, d))
    ck = Checkpoint(model_dir, device)
    if ck.word_vocab is None:
        print("warning: vocab.json has no word_vocab; the word constraint is off", file=sys.stderr)
    attacker = Attacker(ck, args.beam, args.tau, args.budget)
    tasks = load_tasks(args.from_results, args.limit)
    if args.self_test:
        worst = self_test(ck, attacker, tasks)
        ok = worst < 1e-4
        print(json.dumps({"self_test": "pass" if ok else "fail", "documents": len(tasks) + 1,
                          "same_edit_sets": True, "max_abs_diff": worst}))
        return 0 if ok else 1
    for index, text, label in tasks[: args.warmup]:
        attacker.attack(index, text, label)
    results = []
    t0 = time.perf_counter()
    for k, (index, text, label) in enumerate(tasks):
        r = attacker.attack(index, text, label)
        results.append(r)
        if not args.quiet and (k + 1) % 20 == 0:
            att = [x for x in results if not x["skipped"]]
            print(f"{k + 1}/{len(tasks)}: {sum(x['success'] for x in att)}/{len(att)} succeeded, "
                  f"{mean(x['seconds'] for x in att):.4f} s/example", file=sys.stderr)
    wall = time.perf_counter() - t0
    wrong = [r["index"] for r in results if r["skipped"]]
    if wrong:
        print(f"warning: {len(wrong)} documents misclassified by this model, not attacked: {wrong[:20]}",
              file=sys.stderr)
    summary = summarize(results, args, wall)
    summary["model"] = model_dir
    if args.check_against:
        summary["check"] = check_against(results, args.check_against)
    if args.out:
        with open(args.out, "w") as f:
            for r in results:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
