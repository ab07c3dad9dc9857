#!/usr/bin/env python3
"""TextAttack's HotFlip recipe (Ebrahimi et al. 2017, `HotFlipEbrahimi2017`)
on a hotflip word_cnn checkpoint, through the PyTorch twin of the model
(benches/pytorch/hotflip_models.py), on the sentences a hotflip run attacked.

The recipe is rebuilt from TextAttack's own classes, as
textattack/attack_recipes/hotflip_ebrahimi_2017.py builds it:
- transformation: WordSwapGradientBased(top_n=--top-n, 1 in the recipe);
- constraints: RepeatModification, StopwordModification,
  MaxWordsPerturbed(max_num_words=--max-changes, 2 in the recipe),
  WordEmbeddingDistance(min_cos_sim=--cosine, 0.8 in the recipe) and
  PartOfSpeech;
- goal: UntargetedClassification; search: BeamSearch(beam_width=--beam, 10).

What differs, because nothing can be downloaded here:
- WordEmbeddingDistance uses the model's own embedding table (as hotflip's
  cosine constraint does), wrapped in textattack.shared.WordEmbedding; it is
  left out unless --cosine is given (the comparison's default setting: no
  cosine constraint on either side);
- PartOfSpeech is left out (it needs NLTK/flair taggers from the network);
  hotflip runs with --no-pos to match;
- WordSwapGradientBased refuses models other than TextAttack's own
  LSTM/WordCNN; `OwnModelGradientSwap` only skips that type check and keeps
  the method that ranks the swaps unchanged;
- the model reads text as hotflip does (whitespace split, lowercased if
  config.json says so, the first max_words words, unknown words UNK); the
  gradient of each word TextAttack edits is that of its whitespace token,
  and PAD/UNK are never offered as replacements (hotflip's rule).

Timing: seconds per example are the wall time of `Attack.attack` for each
sentence (one sentence at a time, as the recipe runs), after one untimed
warm-up sentence.

Usage (see compare_word.sh):
    /work/venv-ta/bin/python benches/textattack/ta_hotflip.py --model RUN/best \\
        --from-results hotflip.jsonl --threads 2 --summary ta.json
"""

import argparse
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch"))
from hotflip_models import build  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def hotflip_stopwords():
    """hotflip's stop-words (src/lexicon/stopwords.rs): NLTK's English list
    and the Penn Treebank clitics, read from the Rust source."""
    with open(os.path.join(HERE, "..", "..", "src", "lexicon", "stopwords.rs")) as f:
        src = f.read()
    nltk_list = re.search(r"NLTK_ENGLISH: \[&str; \d+\] = \[(.*?)\];", src, re.S).group(1)
    clitics = re.search(r"PTB_CLITICS: \[&str; \d+\] = \[(.*?)\];", src, re.S).group(1)
    return re.findall(r'"([^"]*)"', nltk_list), re.findall(r'"([^"]*)"', clitics)


def offline_nltk_stopwords():
    """`import textattack` builds a StopwordModification() from NLTK's
    stop-word corpus, which NLTK would download: give it NLTK's English list
    (the same 179 words) from a private nltk_data folder instead."""
    root = tempfile.mkdtemp(prefix="ta-nltk-")
    os.makedirs(os.path.join(root, "corpora", "stopwords"))
    with open(os.path.join(root, "corpora", "stopwords", "english"), "w") as f:
        f.write("\n".join(hotflip_stopwords()[0]) + "\n")
    os.environ["NLTK_DATA"] = root
    return root


offline_nltk_stopwords()
import textattack  # noqa: E402
from textattack import Attack  # noqa: E402
from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult  # noqa: E402
from textattack.constraints.overlap import MaxWordsPerturbed  # noqa: E402
from textattack.constraints.pre_transformation import RepeatModification, StopwordModification  # noqa: E402
from textattack.constraints.semantics import WordEmbeddingDistance  # noqa: E402
from textattack.goal_functions import UntargetedClassification  # noqa: E402
from textattack.models.wrappers import ModelWrapper  # noqa: E402
from textattack.search_methods import BeamSearch  # noqa: E402
from textattack.shared import AttackedText, WordEmbedding  # noqa: E402
from textattack.shared.utils import words_from_text  # noqa: E402
from textattack.transformations import WordSwapGradientBased  # noqa: E402

PAD, UNK, RESERVED = 0, 1, 2


class Vocabulary:
    """hotflip's vocab.json: tokens[i] has id i + 2; 0 is PAD, 1 UNK.
    Also the tokenizer interface WordSwapGradientBased reads."""

    pad_token_id = PAD

    def __init__(self, tokens, lowercase, max_words):
        self.tokens = tokens
        self.index = {t: i + RESERVED for i, t in enumerate(tokens)}
        self.lowercase = lowercase
        self.max_words = max_words

    def convert_id_to_word(self, i):
        # PAD and UNK are no replacement (hotflip flips to real words only):
        # an empty word is skipped by WordSwapGradientBased.
        return self.tokens[i - RESERVED] if i >= RESERVED else ""

    def normalize(self, w):
        return w.lower() if self.lowercase else w

    def ids(self, text):
        return [self.index.get(self.normalize(w), UNK) for w in text.split()[: self.max_words]]


class TwinWrapper(ModelWrapper):
    """The PyTorch word_cnn twin behind TextAttack's ModelWrapper interface."""

    def __init__(self, model, vocab):
        self.model = model
        self.tokenizer = vocab

    def __call__(self, text_input_list):
        sents = [self.tokenizer.ids(t) or [UNK] for t in text_input_list]
        ids, lengths = self.model.batch(sents)
        with torch.no_grad():
            return self.model(ids, lengths)

    def _token_of_word(self, text):
        """For each word of AttackedText(text).words, the index of its
        whitespace token (None where the two tokenisations disagree or the
        token is past max_words)."""
        out = []
        for k, tok in enumerate(text.split()):
            ws = words_from_text(tok)
            out.extend([k if (len(ws) == 1 and ws[0] == tok and k < self.tokenizer.max_words) else None] * len(ws))
        return out

    def get_grad(self, text_input):
        """Gradient of the loss (cross-entropy of the predicted class, as
        TextAttack's PyTorchModelWrapper) at each word's embedding, in
        AttackedText word order, with the word's vocabulary id."""
        sent = self.tokenizer.ids(text_input) or [UNK]
        ids, lengths = self.model.batch([sent])
        emb = self.model.embedding(ids).detach().requires_grad_(True)
        logits = self._forward_from_embeddings(emb, lengths)
        label = logits.argmax(dim=1)
        loss = torch.nn.functional.cross_entropy(logits, label)
        (g,) = torch.autograd.grad(loss, emb)
        g = g[0].numpy()
        words = AttackedText(text_input).words
        where = self._token_of_word(text_input)
        if len(where) != len(words):
            where = [None] * len(words)
        grad = np.zeros((len(words), g.shape[1]), dtype=np.float32)
        word_ids = []
        for i, k in enumerate(where):
            if k is None:
                word_ids.append(UNK)
            else:
                grad[i] = g[k]
                word_ids.append(sent[k])
        return {"ids": word_ids, "gradient": grad}

    def _forward_from_embeddings(self, emb, lengths):
        m = self.model
        wmax = max(m.cfg["kernel_widths"])
        x = emb.transpose(1, 2)
        pooled = []
        for conv, w in zip(m.convs, m.cfg["kernel_widths"]):
            y = torch.relu(conv(x))
            valid = lengths.clamp(min=wmax) - w + 1
            pos = torch.arange(y.shape[2])[None, None, :]
            y = y.masked_fill(pos >= valid[:, None, None], float("-inf"))
            pooled.append(y.amax(dim=2))
        return m.classifier(torch.cat(pooled, dim=1))

    def _tokenize(self, inputs):
        return [[self.tokenizer.convert_id_to_word(i) for i in self.tokenizer.ids(t)] for t in inputs]


class OwnModelGradientSwap(WordSwapGradientBased):
    """WordSwapGradientBased for a model that is not one of TextAttack's own
    classes: the same attributes, without the type check; the ranking
    (`_get_replacement_words_by_grad`) is TextAttack's."""

    def __init__(self, model_wrapper, top_n=1):
        self.model = model_wrapper.model
        self.model_wrapper = model_wrapper
        self.tokenizer = model_wrapper.tokenizer
        self.pad_id = self.tokenizer.pad_token_id
        self.top_n = top_n
        self.is_black_box = False


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config["arch"] != "word_cnn":
        sys.exit(f"error: {model_dir} is a {config['arch']}, not a word_cnn")
    with open(os.path.join(model_dir, "vocab.json")) as f:
        vocab = json.load(f)
    model = build(config)
    model.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")))
    model.eval()
    # WordSwapGradientBased reads the lookup table through this HF-style accessor.
    model.get_input_embeddings = lambda: model.embedding
    return model, Vocabulary(vocab["tokens"], bool(config.get("lowercase", False)), config["max_words"])


def recipe(wrapper, vocab, beam, max_changes, cosine, top_n):
    transformation = OwnModelGradientSwap(wrapper, top_n=top_n)
    nltk_words, clitics = hotflip_stopwords()
    # hotflip's list (NLTK's, plus the PTB clitics SST-2 is tokenised with).
    constraints = [RepeatModification(), StopwordModification(stopwords=nltk_words + clitics),
                   MaxWordsPerturbed(max_num_words=max_changes)]
    if cosine is not None:
        table = wrapper.model.embedding.weight.detach().numpy()
        index2word = {i: vocab.convert_id_to_word(i) for i in range(RESERVED, table.shape[0])}
        word2index = {w: i for i, w in index2word.items()}
        constraints.append(WordEmbeddingDistance(embedding=WordEmbedding(table, word2index, index2word),
                                                 min_cos_sim=cosine))
    goal = UntargetedClassification(wrapper)
    return Attack(goal, constraints, transformation, BeamSearch(beam_width=beam))


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="hotflip word_cnn checkpoint dir (or a run dir with best/)")
    p.add_argument("--from-results", required=True, metavar="FILE.jsonl",
                   help="hotflip attack results: attack their non-skipped sentences, in file order")
    p.add_argument("--limit", type=int)
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--max-changes", type=int, default=2)
    p.add_argument("--cosine", type=float, help="WordEmbeddingDistance min_cos_sim (default: off)")
    p.add_argument("--top-n", type=int, default=1, help="WordSwapGradientBased top_n (the recipe's 1)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out", metavar="FILE.jsonl")
    p.add_argument("--summary", metavar="FILE.json")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir = args.model
    if not os.path.exists(os.path.join(model_dir, "config.json")) and os.path.isdir(os.path.join(model_dir, "best")):
        model_dir = os.path.join(model_dir, "best")
    model, vocab = load_model(model_dir)
    wrapper = TwinWrapper(model, vocab)
    tasks = load_tasks(args.from_results, args.limit)
    attack = recipe(wrapper, vocab, args.beam, args.max_changes, args.cosine, args.top_n)
    for _, text, label in tasks[: args.warmup]:
        attack.attack(text, label)
    # A fresh goal-function cache, so the warm-up sentence is not answered from it.
    attack = recipe(wrapper, vocab, args.beam, args.max_changes, args.cosine, args.top_n)
    rows = []
    t0 = time.perf_counter()
    for index, text, label in tasks:
        s = time.perf_counter()
        r = attack.attack(text, label)
        secs = time.perf_counter() - s
        rows.append({
            "index": index,
            "label": label,
            "skipped": isinstance(r, SkippedAttackResult),
            "success": isinstance(r, SuccessfulAttackResult),
            "orig_text": text,
            "adv_text": r.perturbed_result.attacked_text.text,
            "changes": len(r.original_result.attacked_text.all_words_diff(r.perturbed_result.attacked_text)),
            "queries": r.perturbed_result.num_queries,
            "seconds": secs,
        })
    wall = time.perf_counter() - t0
    attacked = [r for r in rows if not r["skipped"]]
    n = max(len(attacked), 1)
    summary = {
        "impl": "textattack",
        "textattack_version": importlib.metadata.version("textattack"),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "beam": args.beam,
        "top_n": args.top_n,
        "max_changes": args.max_changes,
        "cosine": args.cosine,
        "pos": "off",
        "examples": len(rows),
        "attacked": len(attacked),
        "skipped": len(rows) - len(attacked),
        "successes": sum(r["success"] for r in attacked),
        "success_rate": sum(r["success"] for r in attacked) / n,
        "seconds_per_example": sum(r["seconds"] for r in attacked) / n,
        "wall_seconds": wall,
        "mean_changes_successful": float(np.mean([r["changes"] for r in attacked if r["success"]] or [0])),
    }
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
