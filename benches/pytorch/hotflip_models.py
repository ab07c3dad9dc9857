"""The five architectures of shared/spec/MODELS.md in PyTorch, with the
parameter names and layouts of hotflip's checkpoints, so that
`model.load_state_dict(safetensors.torch.load_file(".../model.safetensors"))`
loads a hotflip checkpoint unchanged, and a checkpoint written from these
modules loads in hotflip.

Semantics mirror hotflip exactly where batching could change a result:
- char_cnn_lstm: each word is cut to max_word_len - 1 chars and PAD-padded to
  max_word_len; the LSTM's output is read at each document's last true word.
- word_cnn: a sentence shorter than the widest kernel is padded to that width;
  batch padding beyond a sentence's own length is excluded from max-over-time.
- lstm_classifier / bilstm_tagger: optional frequency-weighted embedding
  normalisation (Miyato et al. 2017), LSTM over true lengths.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Highway(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Linear(dim, dim)
        self.transform = nn.Linear(dim, dim)

    def forward(self, x):
        t = torch.sigmoid(self.gate(x))
        return t * F.relu(self.transform(x)) + (1 - t) * x


class CharCnnLstm(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.char_embedding = nn.Embedding(cfg["n_chars"], cfg["char_dim"], padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg["char_dim"], f, w) for w, f in zip(cfg["kernel_widths"], cfg["kernel_filters"])
        )
        feats = sum(cfg["kernel_filters"])
        self.highway = nn.ModuleList(Highway(feats) for _ in range(cfg["highway_layers"]))
        self.lstm = nn.LSTM(feats, cfg["lstm_hidden"], num_layers=cfg["lstm_layers"], batch_first=True)
        self.classifier = nn.Linear(cfg["lstm_hidden"], cfg["n_classes"])

    def batch(self, docs):
        """docs: list of documents, each a list of words of char ids."""
        L, W = self.cfg["max_word_len"], self.cfg["max_words"]
        docs = [d[:W] for d in docs]
        words = max(len(d) for d in docs)
        ids = torch.zeros(len(docs), words, L, dtype=torch.long)
        for b, d in enumerate(docs):
            for w, word in enumerate(d):
                word = word[: L - 1]
                ids[b, w, : len(word)] = torch.tensor(word, dtype=torch.long)
        return ids, torch.tensor([len(d) for d in docs])

    def forward(self, ids, lengths):
        b, w, l = ids.shape
        x = self.char_embedding(ids.reshape(b * w, l)).transpose(1, 2)
        x = torch.cat([torch.tanh(conv(x)).amax(dim=2) for conv in self.convs], dim=1)
        for layer in self.highway:
            x = layer(x)
        x = x.reshape(b, w, -1)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.classifier(h_n[-1])


class WordCnn(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg["vocab"], cfg["embed_dim"], padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg["embed_dim"], f, w) for w, f in zip(cfg["kernel_widths"], cfg["kernel_filters"])
        )
        self.classifier = nn.Linear(sum(cfg["kernel_filters"]), cfg["n_classes"])

    def batch(self, sents):
        wmax = max(self.cfg["kernel_widths"])
        sents = [s[: self.cfg["max_words"]] for s in sents]
        n = max(max(len(s) for s in sents), wmax)
        ids = torch.zeros(len(sents), n, dtype=torch.long)
        for b, s in enumerate(sents):
            ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        return ids, torch.tensor([len(s) for s in sents])

    def forward(self, ids, lengths):
        wmax = max(self.cfg["kernel_widths"])
        x = self.embedding(ids).transpose(1, 2)
        pooled = []
        for conv, w in zip(self.convs, self.cfg["kernel_widths"]):
            y = F.relu(conv(x))  # [B, F, P]
            valid = lengths.clamp(min=wmax) - w + 1
            pos = torch.arange(y.shape[2])[None, None, :]
            y = y.masked_fill(pos >= valid[:, None, None], float("-inf"))
            pooled.append(y.amax(dim=2))
        return self.classifier(torch.cat(pooled, dim=1))


class _LstmText(nn.Module):
    def __init__(self, cfg, bidirectional):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg["vocab"], cfg["embed_dim"], padding_idx=0)
        if cfg["normalize_embeddings"]:
            self.embedding.register_buffer("freq", torch.full((cfg["vocab"],), 1.0 / cfg["vocab"]))
        self.lstm = nn.LSTM(cfg["embed_dim"], cfg["lstm_hidden"], batch_first=True, bidirectional=bidirectional)
        dirs = 2 if bidirectional else 1
        self.hidden = nn.Linear(dirs * cfg["lstm_hidden"], cfg["ffnn_dim"])
        self.classifier = nn.Linear(cfg["ffnn_dim"], cfg["n_classes"])

    def table(self):
        e = self.embedding.weight
        if not self.cfg["normalize_embeddings"]:
            return e
        f = self.embedding.freq[:, None]
        m = (f * e).sum(0)
        v = (f * (e - m) ** 2).sum(0)
        return (e - m) / torch.sqrt(v + 1e-6)

    def batch(self, sents):
        sents = [s[: self.cfg["max_words"]] for s in sents]
        n = max(len(s) for s in sents)
        ids = torch.zeros(len(sents), n, dtype=torch.long)
        for b, s in enumerate(sents):
            ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        return ids, torch.tensor([len(s) for s in sents])

    def encode(self, ids, lengths):
        x = F.embedding(ids, self.table())
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        return out, h_n


class LstmClassifier(_LstmText):
    def __init__(self, cfg):
        super().__init__(cfg, bidirectional=False)

    def forward(self, ids, lengths):
        _, h_n = self.encode(ids, lengths)
        return self.classifier(F.relu(self.hidden(h_n[-1])))


class BiLstmTagger(_LstmText):
    def __init__(self, cfg):
        super().__init__(cfg, bidirectional=True)

    def forward(self, ids, lengths):
        out, _ = self.encode(ids, lengths)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return self.classifier(F.relu(self.hidden(out)))


class CharNmtEncoder(nn.Module):
    """char_nmt's encoder: char_cnn_lstm's word features, then an LSTM over words."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.char_embedding = nn.Embedding(cfg["n_chars"], cfg["char_dim"], padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg["char_dim"], f, w) for w, f in zip(cfg["kernel_widths"], cfg["kernel_filters"])
        )
        feats = sum(cfg["kernel_filters"])
        self.highway = nn.ModuleList(Highway(feats) for _ in range(cfg["highway_layers"]))
        self.lstm = nn.LSTM(feats, cfg["lstm_hidden"], num_layers=cfg["lstm_layers"], batch_first=True)

    def forward(self, ids, lengths):
        b, w, l = ids.shape
        x = self.char_embedding(ids.reshape(b * w, l)).transpose(1, 2)
        x = torch.cat([torch.tanh(conv(x)).amax(dim=2) for conv in self.convs], dim=1)
        for layer in self.highway:
            x = layer(x)
        x = F.dropout(x, self.cfg["dropout"], self.training)
        x = x.reshape(b, w, -1)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=w)
        return out, state


class GeneralAttention(nn.Module):
    """Luong "general" attention as MODELS.md states it: score = h_t . (W_in s_j)."""

    def __init__(self, dim):
        super().__init__()
        self.linear_in = nn.Linear(dim, dim, bias=False)
        self.linear_out = nn.Linear(2 * dim, dim, bias=False)


class CharNmtDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["lstm_hidden"]
        self.embedding = nn.Embedding(cfg["n_tgt"], cfg["tgt_embed_dim"], padding_idx=0)
        n_in = cfg["tgt_embed_dim"] + (h if cfg["input_feed"] else 0)
        self.lstm = nn.LSTM(n_in, h, num_layers=cfg["lstm_layers"], batch_first=True)
        self.attn = GeneralAttention(h)


class CharNmt(nn.Module):
    """char_nmt (MODELS.md): target ids 0 PAD, 1 UNK, 2 <s>, 3 </s>."""

    PAD, UNK, BOS, EOS = 0, 1, 2, 3

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = CharNmtEncoder(cfg)
        self.decoder = CharNmtDecoder(cfg)
        self.generator = nn.Linear(cfg["lstm_hidden"], cfg["n_tgt"])

    def batch(self, docs):
        L, W = self.cfg["max_word_len"], self.cfg["max_src_words"]
        docs = [d[:W] for d in docs]
        words = max(len(d) for d in docs)
        ids = torch.zeros(len(docs), words, L, dtype=torch.long)
        for b, d in enumerate(docs):
            for w, word in enumerate(d):
                word = word[: L - 1]
                ids[b, w, : len(word)] = torch.tensor(word, dtype=torch.long)
        return ids, torch.tensor([len(d) for d in docs])

    def targets(self, sents):
        """Decoder inputs <s> y and outputs y </s>, PAD-padded, [B, T]."""
        sents = [s[: self.cfg["max_tgt_words"]] for s in sents]
        t = max(len(s) for s in sents) + 1
        inp = torch.zeros(len(sents), t, dtype=torch.long)
        out = torch.zeros(len(sents), t, dtype=torch.long)
        for b, s in enumerate(sents):
            inp[b, : len(s) + 1] = torch.tensor([self.BOS] + s, dtype=torch.long)
            out[b, : len(s) + 1] = torch.tensor(s + [self.EOS], dtype=torch.long)
        return inp, out

    def encode(self, ids, lengths):
        bank, state = self.encoder(ids, lengths)
        keys = self.decoder.attn.linear_in(bank)  # row j: W_in s_j
        pad = torch.arange(bank.shape[1])[None, :] >= lengths[:, None]
        return bank, keys, pad[:, None, :], state

    def step(self, mem, state, feed, prev):
        bank, keys, pad, _ = mem
        emb = self.decoder.embedding(prev)
        x = torch.cat([emb, feed], dim=1) if self.cfg["input_feed"] else emb
        out, state = self.decoder.lstm(x[:, None, :], state)
        h = out[:, 0]
        scores = torch.bmm(h[:, None, :], keys.transpose(1, 2)).masked_fill(pad, float("-inf"))
        ctx = torch.bmm(torch.softmax(scores, dim=2), bank)[:, 0]
        ht = torch.tanh(self.decoder.attn.linear_out(torch.cat([ctx, h], dim=1)))
        ht = F.dropout(ht, self.cfg["dropout"], self.training)
        return ht, state

    def forward(self, ids, lengths, tgt_in):
        """Teacher-forced log-probabilities [B, T, V]."""
        mem = self.encode(ids, lengths)
        state = mem[3]
        feed = torch.zeros(ids.shape[0], self.cfg["lstm_hidden"])
        hs = []
        for t in range(tgt_in.shape[1]):
            feed, state = self.step(mem, state, feed, tgt_in[:, t])
            hs.append(feed)
        return F.log_softmax(self.generator(torch.stack(hs, dim=1)), dim=-1)

    @torch.no_grad()
    def greedy(self, ids, lengths):
        mem = self.encode(ids, lengths)
        state = mem[3]
        b = ids.shape[0]
        feed = torch.zeros(b, self.cfg["lstm_hidden"])
        prev = torch.full((b,), self.BOS, dtype=torch.long)
        out = [[] for _ in range(b)]
        done = torch.zeros(b, dtype=torch.bool)
        for _ in range(self.cfg["max_tgt_words"] + 1):
            feed, state = self.step(mem, state, feed, prev)
            logp = F.log_softmax(self.generator(feed), dim=-1)
            logp[:, [self.PAD, self.BOS]] = float("-inf")
            prev = logp.argmax(dim=1)
            for i in range(b):
                if not done[i]:
                    if prev[i] == self.EOS:
                        done[i] = True
                    else:
                        out[i].append(int(prev[i]))
            if done.all():
                break
        return out


ARCHS = {
    "char_cnn_lstm": CharCnnLstm,
    "word_cnn": WordCnn,
    "lstm_classifier": LstmClassifier,
    "bilstm_tagger": BiLstmTagger,
    "char_nmt": CharNmt,
}


def build(config):
    """A module for a hotflip config.json dict (its "arch" picks the class)."""
    return ARCHS[config["arch"]](config)
