#!/usr/bin/env python3
"""PyTorch compatibility of hotflip checkpoints (MODELS.md), both directions.

    fixture OUT_DIR   Builds a tiny model of each architecture in PyTorch,
                      writes it as a hotflip checkpoint (config.json,
                      vocab.json, model.safetensors) under OUT_DIR/<arch>/ with
                      inputs.json (token ids) and PyTorch's logits.json, and
                      another under OUT_DIR/minimal/<arch>/ whose config.json
                      leaves out the sizes MODELS.md lets a loader derive. The
                      Rust test tests/pytorch_fixture.rs loads these and must
                      reproduce the logits (max relative error 1e-4).
                      Run once; the outputs are committed in tests/fixtures/.
    check MODEL_DIR   Loads a checkpoint written by hotflip, tokenises the
                      texts in --texts (one per line) as hotflip does, runs
                      `hotflip predict --json` on the same texts and reports
                      the largest difference between the two sets of
                      probabilities.

Usage:
    .venv-torch/bin/python benches/pytorch/checkpoint_compat.py fixture tests/fixtures/pytorch
    .venv-torch/bin/python benches/pytorch/checkpoint_compat.py check runs/ag/best \
        --texts some.txt --hotflip target/release/hotflip
"""

import argparse
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotflip_models import build  # noqa: E402

TINY = {
    "char_cnn_lstm": dict(n_chars=12, n_classes=3, char_dim=4, kernel_widths=[1, 2, 3], kernel_filters=[3, 4, 2],
                          highway_layers=1, lstm_hidden=5, lstm_layers=2, max_word_len=6, max_words=7, dropout=0.0),
    "word_cnn": dict(vocab=20, n_classes=2, embed_dim=6, kernel_widths=[2, 3], kernel_filters=[4, 3], dropout=0.5,
                     max_words=9),
    "lstm_classifier": dict(vocab=20, n_classes=3, embed_dim=6, lstm_hidden=5, ffnn_dim=4,
                            normalize_embeddings=True, dropout=0.5, max_words=9),
    "bilstm_tagger": dict(vocab=20, n_classes=2, embed_dim=6, lstm_hidden=5, ffnn_dim=4,
                          normalize_embeddings=False, dropout=0.5, max_words=9),
}


def random_inputs(arch, cfg, gen):
    def ri(lo, hi):
        return int(torch.randint(lo, hi, (1,), generator=gen))

    if arch == "char_cnn_lstm":
        # Lengths vary, some words longer than max_word_len - 1 (cut), some
        # documents longer than max_words (cut), ids include UNK (1).
        return [[[ri(1, cfg["n_chars"]) for _ in range(ri(1, 9))] for _ in range(ri(1, 10))] for _ in range(4)]
    return [[ri(1, cfg["vocab"]) for _ in range(ri(1, 12))] for _ in range(5)]


def fixture(out_dir):
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    for arch, cfg in TINY.items():
        write(os.path.join(out_dir, arch), arch, cfg, gen)
    # Then the same architectures written from MODELS.md alone: config.json
    # without the sizes vocab.json, `labels` and the tensors give (n_chars or
    # vocab, n_classes), which hotflip must derive. Written after the full
    # fixtures so those stay byte for byte what they were.
    for arch, cfg in TINY.items():
        write(os.path.join(out_dir, "minimal", arch), arch, cfg, gen, minimal=True)


DERIVED = ("n_chars", "vocab", "n_classes")


def write(d, arch, cfg, gen, minimal=False):
    """One fixture: a random model of `cfg`, its checkpoint, inputs and PyTorch's logits."""
    config = dict(arch=arch, **cfg, labels=[f"l{i}" for i in range(cfg["n_classes"])], lowercase=True)
    model = build(config).eval()
    if cfg.get("normalize_embeddings"):
        f = torch.rand(cfg["vocab"], generator=gen) + 0.1
        model.embedding.freq.copy_(f / f.sum())
    inputs = random_inputs(arch, cfg, gen)
    with torch.no_grad():
        logits = model(*model.batch(inputs))
    os.makedirs(d, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    if minimal:
        config = {k: v for k, v in config.items() if k not in DERIVED}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    if arch == "char_cnn_lstm":
        vocab = {"kind": "chars", "tokens": [chr(ord("a") + i) for i in range(cfg["n_chars"] - 2)],
                 "word_vocab": ["abc", "de"]}
    else:
        vocab = {"kind": "words", "tokens": [f"w{i}" for i in range(cfg["vocab"] - 2)]}
    with open(os.path.join(d, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(d, "inputs.json"), "w") as f:
        json.dump(inputs, f)
    with open(os.path.join(d, "logits.json"), "w") as f:
        json.dump({"shape": list(logits.shape), "logits": logits.flatten().tolist(),
                   "torch": torch.__version__}, f)
    print(f"{arch}{' (minimal config)' if minimal else ''}: {len(state)} tensors -> {d}")


def tokenize(text, vocab, lowercase, kind):
    index = {t: i + 2 for i, t in enumerate(vocab["tokens"])}
    words = (text.lower() if lowercase else text).split()
    if kind == "chars":
        return [[index.get(c, 1) for c in w] for w in words]
    return [index.get(w, 1) for w in words]


def check(args):
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.model, "vocab.json")) as f:
        vocab = json.load(f)
    model = build(config).eval()
    model.load_state_dict(load_file(os.path.join(args.model, "model.safetensors")))
    with open(args.texts) as f:
        texts = [line.rstrip("\n") for line in f if line.strip()]
    inputs = [tokenize(t, vocab, config["lowercase"], vocab["kind"]) for t in texts]
    with torch.no_grad():
        probs = torch.softmax(model(*model.batch(inputs)), dim=-1)
    if config["arch"] == "bilstm_tagger":
        # Per token [B, T, 2], padded; hotflip prints each sentence's own
        # tokens' rows, flattened.
        probs = torch.cat([probs[i, : len(x)].reshape(-1) for i, x in enumerate(inputs)])
    out = subprocess.run([args.hotflip, "predict", "--model", args.model, "--json"], input="\n".join(texts),
                         capture_output=True, text=True, check=True)
    theirs = [json.loads(line)["probs"] for line in out.stdout.splitlines() if line.strip()]
    if config["arch"] == "bilstm_tagger":
        theirs = [p for line in theirs for p in line]
    theirs = torch.tensor(theirs)
    err = ((probs - theirs).abs() / probs.abs().clamp(min=1e-6)).max().item()
    print(json.dumps({"texts": len(texts), "max_rel_err": err, "torch": torch.__version__}))
    return 0 if err <= 1e-4 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("out_dir")
    c = sub.add_parser("check")
    c.add_argument("model")
    c.add_argument("--texts", required=True)
    c.add_argument("--hotflip", default="target/release/hotflip")
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.cmd == "fixture":
        fixture(args.out_dir)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
