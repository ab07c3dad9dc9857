//! `char_nmt`: HotFlip's character-level translation model (MODELS.md). The
//! `char_cnn_lstm` character features and an LSTM over source words encode;
//! a word-level LSTM decoder with Luong "general" global attention and input
//! feeding, initialised with the encoder's final state per layer, decodes;
//! a linear generator scores the target vocabulary.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::char_features::{CharFeatureSizes, CharFeatures};
use crate::models::{CharBatch, Mode};
use crate::nn::lstm_cell::State;
use crate::nn::{init, Bound, Linear, Lstm, ParamId, ParamStore};
use crate::ops::GateWeights;
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Target ids: padding, unknown word, start and end of sentence.
pub const PAD: usize = 0;
/// Id of an out-of-vocabulary target word.
pub const UNK: usize = 1;
/// Id fed as the decoder's first input (`<s>`).
pub const BOS: usize = 2;
/// Id the decoder emits to end a sentence (`</s>`); decoding stops there.
pub const EOS: usize = 3;
/// Ids below this are the four specials.
pub const N_SPECIAL: usize = 4;

/// An additive attention mask value for padded source words.
const MASKED: f32 = -1e9;

/// Hyper-parameters of [`CharNmt`]; `paper` and `small` are the presets,
/// `validate` checks them. Also stored: the language pair, so a checkpoint
/// knows which data split it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharNmtConfig {
    /// Source character vocabulary size including PAD (0) and UNK (1).
    pub n_chars: usize,
    /// Target word vocabulary size including the four specials.
    pub n_tgt: usize,
    /// Width of a source character embedding.
    pub char_dim: usize,
    /// Character convolution widths, each in `1..=max_word_len`.
    pub kernel_widths: Vec<usize>,
    /// Filters per width (same length as `kernel_widths`); their sum is the
    /// word-feature size.
    pub kernel_filters: Vec<usize>,
    /// Highway layers on the word features (0 allowed).
    pub highway_layers: usize,
    /// Characters per source word `L` including at least one trailing PAD.
    pub max_word_len: usize,
    /// LSTM state size `H`, encoder and decoder alike.
    pub lstm_hidden: usize,
    /// Stacked layers in the encoder and the decoder (equal, since the decoder
    /// starts from the encoder's final state per layer).
    pub lstm_layers: usize,
    /// Width of a target word embedding.
    pub tgt_embed_dim: usize,
    /// Only `"general"`.
    pub attention: String,
    /// Whether the previous attentional vector is concatenated to the decoder's
    /// input (Luong et al.'s input feeding).
    pub input_feed: bool,
    /// Source words kept per sentence; longer sentences are cut.
    pub max_src_words: usize,
    /// Target words kept per sentence (before `</s>`) in training.
    pub max_tgt_words: usize,
    /// Dropout rate in `[0, 1)`, in training only, on the source word features
    /// and on each step's attentional vector.
    pub dropout: f32,
    /// Source language code (e.g. `"de"`), used to pick the data split.
    pub src_lang: String,
    /// Target language code (e.g. `"en"`).
    pub tgt_lang: String,
}

impl CharNmtConfig {
    /// HotFlip §4: the paper's character encoder, 2 × 500 LSTMs, target
    /// embeddings 500, input feeding.
    pub fn paper(n_chars: usize, n_tgt: usize, src: &str, tgt: &str) -> Self {
        CharNmtConfig {
            n_chars,
            n_tgt,
            char_dim: 25,
            kernel_widths: (1..=6).collect(),
            kernel_filters: (1..=6).map(|w| 25 * w).collect(),
            highway_layers: 1,
            max_word_len: 16,
            lstm_hidden: 500,
            lstm_layers: 2,
            tgt_embed_dim: 500,
            attention: "general".into(),
            input_feed: true,
            max_src_words: 50,
            max_tgt_words: 50,
            dropout: 0.3,
            src_lang: src.into(),
            tgt_lang: tgt.into(),
        }
    }

    /// A model that learns something in minutes on a 2-core CPU.
    pub fn small(n_chars: usize, n_tgt: usize, src: &str, tgt: &str) -> Self {
        CharNmtConfig {
            char_dim: 16,
            kernel_widths: (1..=4).collect(),
            kernel_filters: vec![32; 4],
            lstm_hidden: 128,
            lstm_layers: 1,
            tgt_embed_dim: 128,
            dropout: 0.2,
            ..CharNmtConfig::paper(n_chars, n_tgt, src, tgt)
        }
    }

    /// Source word-feature size: the sum of `kernel_filters`, the encoder
    /// LSTM's input size.
    pub fn features(&self) -> usize {
        self.kernel_filters.iter().sum()
    }

    /// Checks sizes, kernel widths, the attention kind and the dropout rate; the
    /// error says which is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("char_nmt config", m));
        if self.kernel_widths.len() != self.kernel_filters.len() || self.kernel_widths.is_empty() {
            return bad(format!(
                "kernel_widths {:?} and kernel_filters {:?} must be non-empty and of equal length",
                self.kernel_widths, self.kernel_filters
            ));
        }
        if let Some(&w) = self.kernel_widths.iter().find(|&&w| w == 0 || w > self.max_word_len) {
            return bad(format!("kernel width {w} must be in 1..={}", self.max_word_len));
        }
        if self.n_chars < 3
            || self.n_tgt <= N_SPECIAL
            || self.char_dim == 0
            || self.lstm_hidden == 0
            || self.lstm_layers == 0
            || self.tgt_embed_dim == 0
            || self.max_src_words == 0
            || self.max_tgt_words == 0
        {
            return bad("sizes must be positive (n_chars ≥ 3, n_tgt > 4)".into());
        }
        if self.attention != "general" {
            return bad(format!("attention `{}`: only \"general\" is implemented", self.attention));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// The encoder's output for a batch: what every decoder step attends to.
#[derive(Clone, Debug)]
pub struct Memory {
    /// Top-layer outputs `[B, S, H]`, zero at padded words.
    pub bank: Var,
    /// `linear_in · s_j`: `[B, S, H]`.
    pub keys: Var,
    /// 0 at real source words, a large negative number at padding: `[B, S]`.
    pub mask: Var,
    /// The encoder's final `(h, c)` per layer.
    pub last: Vec<State>,
    /// The decoder's LSTM weights, packed once for all its steps on this
    /// tape (see `ops::lstm_gates`).
    pub dec_gates: Vec<GateWeights>,
}

impl Memory {
    /// The rows `rows` of every tensor (beam expansion and reordering).
    pub fn select(&self, tape: &Tape, rows: &[usize]) -> Result<Memory> {
        Ok(Memory {
            bank: tape.index_select(self.bank, rows)?,
            keys: tape.index_select(self.keys, rows)?,
            mask: tape.index_select(self.mask, rows)?,
            last: select_states(tape, &self.last, rows)?,
            dec_gates: self.dec_gates.clone(),
        })
    }
}

/// The decoder's recurrent state: per-layer `(h, c)` and the previous
/// attentional vector (input feeding).
#[derive(Clone, Debug)]
pub struct DecoderState {
    /// Per-layer `(h, c)`, each `[B, H]`.
    pub layers: Vec<State>,
    /// The previous step's attentional vector `[B, H]` (zeros at the first
    /// step); fed back only if `input_feed`.
    pub feed: Var,
}

impl DecoderState {
    /// The rows `rows` of every state (beam expansion and reordering); a row
    /// may repeat.
    pub fn select(&self, tape: &Tape, rows: &[usize]) -> Result<DecoderState> {
        Ok(DecoderState { layers: select_states(tape, &self.layers, rows)?, feed: tape.index_select(self.feed, rows)? })
    }
}

fn select_states(tape: &Tape, states: &[State], rows: &[usize]) -> Result<Vec<State>> {
    states.iter().map(|&(h, c)| Ok((tape.index_select(h, rows)?, tape.index_select(c, rows)?))).collect()
}

/// Target sentences for teacher forcing: decoder inputs `<s> y…` and
/// outputs `y… </s>`, `[B, T]` each, with a mask of real positions.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetBatch {
    /// Decoder inputs `[B, T]`, row-major: `<s>` then the words, PAD after.
    pub inputs: Vec<usize>,
    /// Decoder targets `[B, T]`, row-major: the words then `</s>`, PAD after.
    pub outputs: Vec<usize>,
    /// 1.0 at real target positions (`</s>` included), 0.0 at padding: the
    /// loss weights.
    pub mask: Vec<f32>,
    /// Number of sentences `B`.
    pub batch: usize,
    /// Padded length `T`: the longest (cut) sentence plus one.
    pub len: usize,
}

impl TargetBatch {
    /// `sents` are target word ids without specials; each is cut to
    /// `max_words` words before `</s>` is appended.
    pub fn new(sents: &[Vec<usize>], max_words: usize) -> Result<Self> {
        if sents.is_empty() {
            return Err(Error::invalid("TargetBatch", "empty batch"));
        }
        let len = sents.iter().map(|s| s.len().min(max_words)).max().unwrap_or(0) + 1;
        let n = sents.len() * len;
        let (mut inputs, mut outputs, mut mask) = (vec![PAD; n], vec![PAD; n], vec![0.0; n]);
        for (b, s) in sents.iter().enumerate() {
            let s = &s[..s.len().min(max_words)];
            let row = b * len;
            inputs[row] = BOS;
            inputs[row + 1..row + 1 + s.len()].copy_from_slice(s);
            outputs[row..row + s.len()].copy_from_slice(s);
            outputs[row + s.len()] = EOS;
            mask[row..=row + s.len()].fill(1.0);
        }
        Ok(TargetBatch { inputs, outputs, mask, batch: sents.len(), len })
    }

    /// Number of real target tokens (`</s>` included).
    pub fn tokens(&self) -> usize {
        self.mask.iter().filter(|&&m| m > 0.0).count()
    }
}

/// HotFlip's character-level translation model: character CNN encoder, LSTM
/// decoder with Luong "general" attention. Encode once with `encode`, then
/// step the decoder, or score whole targets with teacher forcing.
#[derive(Clone, Debug)]
pub struct CharNmt {
    /// The hyper-parameters it was built with.
    pub config: CharNmtConfig,
    chars: CharFeatures,
    enc_lstm: Lstm,
    tgt_embedding: ParamId,
    dec_lstm: Lstm,
    linear_in: ParamId,
    linear_out: ParamId,
    generator: Linear,
}

impl CharNmt {
    /// Adds freshly initialised parameters (PyTorch defaults) to `store`,
    /// with MODELS.md's names.
    pub fn new(config: CharNmtConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let sizes = CharFeatureSizes {
            n_chars: c.n_chars,
            char_dim: c.char_dim,
            kernel_widths: &c.kernel_widths,
            kernel_filters: &c.kernel_filters,
            highway_layers: c.highway_layers,
            max_word_len: c.max_word_len,
        };
        let chars = CharFeatures::new(store, "encoder.", &sizes, rng)?;
        let h = c.lstm_hidden;
        let enc_lstm = Lstm::new(store, "encoder.lstm", c.features(), h, c.lstm_layers, false, rng)?;
        let tgt_embedding =
            store.add("decoder.embedding.weight", init::embedding(c.n_tgt, c.tgt_embed_dim, Some(PAD), rng)?)?;
        let dec_in = c.tgt_embed_dim + if c.input_feed { h } else { 0 };
        let dec_lstm = Lstm::new(store, "decoder.lstm", dec_in, h, c.lstm_layers, false, rng)?;
        let linear_in = store.add("decoder.attn.linear_in.weight", init::linear(h, h, rng).0)?;
        let linear_out = store.add("decoder.attn.linear_out.weight", init::linear(h, 2 * h, rng).0)?;
        let generator = Linear::new(store, "generator", h, c.n_tgt, rng)?;
        Ok(CharNmt { config, chars, enc_lstm, tgt_embedding, dec_lstm, linear_in, linear_out, generator })
    }

    /// The source character embeddings `[B·W, L, char_dim]` (HotFlip's
    /// e_ij: the attack differentiates with respect to them).
    pub fn embed(&self, tape: &Tape, p: &Bound, x: &CharBatch) -> Result<Var> {
        self.chars.embed(tape, p, x, "char_nmt")
    }

    /// The source character embedding table.
    pub fn embedding_param(&self) -> ParamId {
        self.chars.embedding_param()
    }

    /// Encodes a batch from its character embeddings.
    pub fn encode(&self, tape: &Tape, p: &Bound, x: &CharBatch, embedded: Var, mode: Mode) -> Result<Memory> {
        let c = &self.config;
        let (b, s, hd) = (x.batch, x.words, c.lstm_hidden);
        let mut feats = self.chars.features(tape, p, embedded)?;
        if mode.train && c.dropout > 0.0 {
            feats = tape.dropout(feats, c.dropout, mode.site(0))?;
        }
        let words = tape.reshape(feats, &[b, s, c.features()])?;
        let zeros = || tape.constant(Tensor::zeros(&[b, hd]));
        let mut states: Vec<State> = (0..c.lstm_layers).map(|_| (zeros(), zeros())).collect();
        let gates = pack_layers(tape, p, &self.enc_lstm)?;
        let mut outs = Vec::with_capacity(s);
        for t in 0..s {
            let xt = tape.reshape(tape.narrow(words, 1, t, 1)?, &[b, c.features()])?;
            let ended = x.lengths.iter().any(|&l| l <= t);
            let keep = if ended {
                let m: Vec<f32> = x.lengths.iter().map(|&l| if t < l { 1.0 } else { 0.0 }).collect();
                Some(tape.constant(Tensor::from_parts(vec![b, 1], m)))
            } else {
                None
            };
            let (top, next) = lstm_step(tape, &gates, xt, &states, keep)?;
            states = next;
            let out = match keep {
                Some(m) => tape.mul(top, m)?,
                None => top,
            };
            outs.push(tape.reshape(out, &[b, 1, hd])?);
        }
        let bank = if outs.len() == 1 { outs[0] } else { tape.concat(&outs, 1)? };
        let keys = tape.linear(bank, p.var(self.linear_in), None)?;
        let mut m = vec![0.0f32; b * s];
        for (i, &l) in x.lengths.iter().enumerate() {
            m[i * s + l.min(s)..(i + 1) * s].fill(MASKED);
        }
        let mask = tape.constant(Tensor::from_parts(vec![b, s], m));
        let dec_gates = pack_layers(tape, p, &self.dec_lstm)?;
        Ok(Memory { bank, keys, mask, last: states, dec_gates })
    }

    /// The decoder's state before its first step.
    pub fn start(&self, tape: &Tape, mem: &Memory) -> Result<DecoderState> {
        let b = tape.shape(mem.bank)?[0];
        Ok(DecoderState { layers: mem.last.clone(), feed: tape.constant(Tensor::zeros(&[b, self.config.lstm_hidden])) })
    }

    /// One decoder step for previous words `prev` (one per row): returns
    /// the attentional vector h̃_t `[B, H]` and updates `st`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        tape: &Tape,
        p: &Bound,
        mem: &Memory,
        st: &mut DecoderState,
        prev: &[usize],
        mode: Mode,
        t: usize,
    ) -> Result<Var> {
        let emb = self.embed_targets(tape, p, prev)?;
        self.step_embedded(tape, p, mem, st, emb, mode, t)
    }

    /// Target word embeddings `[N, E]` of `ids`.
    fn embed_targets(&self, tape: &Tape, p: &Bound, ids: &[usize]) -> Result<Var> {
        let n_tgt = self.config.n_tgt;
        if let Some(&id) = ids.iter().find(|&&id| id >= n_tgt) {
            return Err(Error::IndexOutOfRange { op: "char_nmt target id", index: id, size: n_tgt });
        }
        tape.embedding(p.var(self.tgt_embedding), ids, &[ids.len()], Some(PAD))
    }

    /// [`Self::step`] from the previous words' embeddings `emb [B, E]`.
    #[allow(clippy::too_many_arguments)]
    fn step_embedded(
        &self,
        tape: &Tape,
        p: &Bound,
        mem: &Memory,
        st: &mut DecoderState,
        emb: Var,
        mode: Mode,
        t: usize,
    ) -> Result<Var> {
        let c = &self.config;
        let x = if c.input_feed { tape.concat(&[emb, st.feed], 1)? } else { emb };
        let (top, layers) = lstm_step(tape, &mem.dec_gates, x, &st.layers, None)?;
        st.layers = layers;
        let ctx = tape.attention(top, mem.keys, mem.mask, mem.bank)?;
        let cat = tape.concat(&[ctx, top], 1)?;
        let mut ht = tape.tanh(tape.linear(cat, p.var(self.linear_out), None)?)?;
        if mode.train && c.dropout > 0.0 {
            ht = tape.dropout(ht, c.dropout, mode.site(1 + t as u64))?;
        }
        st.feed = ht;
        Ok(ht)
    }

    /// Generator logits over the target vocabulary for `h [..., H]`.
    pub fn logits(&self, tape: &Tape, p: &Bound, h: Var) -> Result<Var> {
        self.generator.forward(tape, p, h)
    }

    /// Teacher-forced logits `[B, T, V]` for target batch `y`.
    pub fn forced_logits(&self, tape: &Tape, p: &Bound, mem: &Memory, y: &TargetBatch, mode: Mode) -> Result<Var> {
        let (b, hd) = (y.batch, self.config.lstm_hidden);
        let hs = self.forced_states(tape, p, mem, y, mode)?;
        let hs: Vec<Var> = hs.into_iter().map(|h| tape.reshape(h, &[b, 1, hd])).collect::<Result<_>>()?;
        let all = if hs.len() == 1 { hs[0] } else { tape.concat(&hs, 1)? };
        self.logits(tape, p, all)
    }

    /// Teacher-forced attentional vectors h̃_t `[B, H]`, one per target step.
    /// The decoder inputs are known in advance, so they are embedded in one
    /// lookup (time-major): one `[V, E]` gradient for the embedding table
    /// instead of one per step.
    fn forced_states(&self, tape: &Tape, p: &Bound, mem: &Memory, y: &TargetBatch, mode: Mode) -> Result<Vec<Var>> {
        let (b, t_len) = (y.batch, y.len);
        let ids: Vec<usize> = (0..t_len).flat_map(|t| (0..b).map(move |i| y.inputs[i * t_len + t])).collect();
        let emb = self.embed_targets(tape, p, &ids)?;
        let mut st = self.start(tape, mem)?;
        (0..t_len)
            .map(|t| {
                let et = if t_len == 1 { emb } else { tape.narrow(emb, 0, t * b, b)? };
                self.step_embedded(tape, p, mem, &mut st, et, mode, t)
            })
            .collect()
    }

    /// Mean cross-entropy of the generator over the real target positions
    /// only: padded positions have loss weight 0, so their logits (a
    /// `[H]·[H, V]` product and a `V`-wide log-softmax each) are never
    /// computed. Equals `cross_entropy_masked` of [`Self::forced_logits`].
    fn forced_loss(&self, tape: &Tape, p: &Bound, mem: &Memory, y: &TargetBatch, mode: Mode) -> Result<Var> {
        let (b, t_len, hd) = (y.batch, y.len, self.config.lstm_hidden);
        let hs = self.forced_states(tape, p, mem, y, mode)?;
        // Time-major rows: row t·B + i is sentence i at step t.
        let all = if hs.len() == 1 { hs[0] } else { tape.concat(&hs, 0)? };
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        for t in 0..t_len {
            for i in 0..b {
                if y.mask[i * t_len + t] > 0.0 {
                    rows.push(t * b + i);
                    targets.push(y.outputs[i * t_len + t]);
                }
            }
        }
        if rows.is_empty() {
            return Err(Error::invalid("char_nmt", "the target batch has no real tokens"));
        }
        let real = if rows.len() == b * t_len { all } else { tape.index_select(all, &rows)? };
        debug_assert_eq!(tape.shape(real)?, [rows.len(), hd]);
        let logits = self.logits(tape, p, real)?;
        tape.cross_entropy_masked(logits, &targets, &vec![1.0; rows.len()])
    }

    /// Mean cross-entropy over the real target tokens (`</s>` included),
    /// from given source character embeddings.
    pub fn loss_embedded(
        &self,
        tape: &Tape,
        p: &Bound,
        x: &CharBatch,
        embedded: Var,
        y: &TargetBatch,
        mode: Mode,
    ) -> Result<Var> {
        if x.batch != y.batch {
            return Err(Error::invalid("char_nmt", format!("{} sources but {} targets", x.batch, y.batch)));
        }
        let mem = self.encode(tape, p, x, embedded, mode)?;
        self.forced_loss(tape, p, &mem, y, mode)
    }

    /// [`Self::loss_embedded`] from character ids.
    pub fn loss(&self, tape: &Tape, p: &Bound, x: &CharBatch, y: &TargetBatch, mode: Mode) -> Result<Var> {
        let e = self.embed(tape, p, x)?;
        self.loss_embedded(tape, p, x, e, y, mode)
    }
}

/// Every layer of `lstm` packed for stepping on `tape`.
fn pack_layers(tape: &Tape, p: &Bound, lstm: &Lstm) -> Result<Vec<GateWeights>> {
    (0..lstm.num_layers())
        .map(|l| {
            let w = lstm.layer_weights(p, l).ok_or_else(|| Error::invalid("char_nmt", "missing LSTM layer"))?;
            tape.lstm_gate_weights(w)
        })
        .collect()
}

/// One step of every layer (PyTorch's gate order i, f, g, o): the top
/// layer's output and the new states; `nn::lstm_cell::step` with the gate
/// products on weights packed once per tape. `keep` (`[B, 1]`, 1 or 0),
/// when given, keeps the old state of rows whose sequence has ended.
fn lstm_step(
    tape: &Tape,
    layers: &[GateWeights],
    x: Var,
    states: &[State],
    keep: Option<Var>,
) -> Result<(Var, Vec<State>)> {
    if states.len() != layers.len() {
        return Err(Error::invalid("lstm step", format!("{} states for {} layers", states.len(), layers.len())));
    }
    let mut input = x;
    let mut out = Vec::with_capacity(states.len());
    for (w, &(h, c)) in layers.iter().zip(states) {
        let gates = tape.lstm_gates(input, h, w)?;
        let hidden = tape.shape(h)?[1];
        let gate = |k: usize| tape.narrow(gates, 1, k * hidden, hidden);
        let i = tape.sigmoid(gate(0)?)?;
        let f = tape.sigmoid(gate(1)?)?;
        let g = tape.tanh(gate(2)?)?;
        let o = tape.sigmoid(gate(3)?)?;
        let mut c2 = tape.add(tape.mul(f, c)?, tape.mul(i, g)?)?;
        let mut h2 = tape.mul(o, tape.tanh(c2)?)?;
        if let Some(m) = keep {
            // old + m·(new − old): new where m is 1, old where it is 0.
            h2 = tape.add(h, tape.mul(m, tape.sub(h2, h)?)?)?;
            c2 = tape.add(c, tape.mul(m, tape.sub(c2, c)?)?)?;
        }
        out.push((h2, c2));
        input = h2;
    }
    Ok((input, out))
}
