"""Writes tests/fixtures/pytorch/char_nmt/: a tiny random char_nmt built in
PyTorch (benches/pytorch/hotflip_models.py, MODELS.md's names), its
checkpoint files, inputs (ragged source documents with over-long words and
UNK chars; target sentences of several lengths) and the teacher-forced
log-probabilities, for tests/pytorch_fixture_nmt.rs. Run once:

    /work/venv-torch/bin/python benches/pytorch/nmt_fixture.py tests/fixtures/pytorch/char_nmt
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from hotflip_models import CharNmt  # noqa: E402

CFG = dict(arch="char_nmt", n_chars=12, n_tgt=15, char_dim=4, kernel_widths=[1, 2, 3], kernel_filters=[3, 4, 5],
           highway_layers=1, max_word_len=6, lstm_hidden=7, lstm_layers=2, tgt_embed_dim=5, attention="general",
           input_feed=True, max_src_words=8, max_tgt_words=6, dropout=0.3, src_lang="de", tgt_lang="en")


def main(out_dir):
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(7)

    def ri(lo, hi):
        return int(torch.randint(lo, hi, (1,), generator=gen))

    model = CharNmt(CFG).eval()
    srcs = [[[ri(1, CFG["n_chars"]) for _ in range(ri(1, 9))] for _ in range(n)] for n in (3, 1, 10, 5)]
    tgts = [[ri(1, CFG["n_tgt"]) for _ in range(n)] for n in (4, 0, 8, 2)]
    with torch.no_grad():
        ids, lengths = model.batch(srcs)
        tgt_in, tgt_out = model.targets(tgts)
        logp = model(ids, lengths, tgt_in)
    os.makedirs(out_dir, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(CFG, f, indent=1)
    vocab = {"kind": "chars", "tokens": [chr(ord("a") + i) for i in range(CFG["n_chars"] - 2)],
             "word_vocab": ["abc", "de"], "tgt_tokens": [f"t{i}" for i in range(CFG["n_tgt"] - 4)]}
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(out_dir, "inputs.json"), "w") as f:
        json.dump({"src": srcs, "tgt": tgts}, f)
    with open(os.path.join(out_dir, "log_probs.json"), "w") as f:
        json.dump({"shape": list(logp.shape), "log_probs": logp.flatten().tolist(),
                   "mask": (tgt_out != 0).flatten().tolist(), "torch": torch.__version__}, f)
    print(f"char_nmt: {len(state)} tensors, log-probs {tuple(logp.shape)} -> {out_dir}")
    for k, v in state.items():
        print(" ", k, tuple(v.shape))


if __name__ == "__main__":
    main(sys.argv[1])
