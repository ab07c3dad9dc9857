//! Sato et al.'s models: `lstm_classifier` (§3.2) and `bilstm_tagger`
//! (§3.3), sharing one config and the (optionally normalised) embedding that
//! AdvT/iAdvT perturb.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{Forward, Mode, WordBatch};
use crate::nn::{init, Bound, Linear, Lstm, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};
use crate::tensor::Tensor;

/// Hyper-parameters shared by [`LstmClassifier`] and [`BiLstmTagger`];
/// `paper` and `small` are the presets, `validate` checks them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LstmTextConfig {
    /// Word vocabulary size including PAD (0) and UNK (1).
    pub vocab: usize,
    /// Classes (2 for the tagger: `c`, `i`).
    pub n_classes: usize,
    /// Word-embedding width `D`.
    pub embed_dim: usize,
    /// LSTM state size `H` per direction.
    pub lstm_hidden: usize,
    /// Width of the ReLU feed-forward layer between the LSTM and the classifier.
    pub ffnn_dim: usize,
    /// Whether the model reads embeddings normalised by frequency-weighted mean
    /// and variance (Miyato et al. 2017), so that perturbation norms mean the
    /// same for every word; the frequencies are a buffer in the checkpoint.
    pub normalize_embeddings: bool,
    /// Dropout rate in `[0, 1)` on the embedded words and on the FFNN output, in
    /// training only.
    pub dropout: f32,
    /// Words per text kept; longer texts are cut.
    pub max_words: usize,
}

impl LstmTextConfig {
    /// Sato et al.: 256-d embeddings, 1024 LSTM units, 30-unit FFNN for
    /// classification (Miyato et al.'s setting).
    pub fn paper(vocab: usize, n_classes: usize) -> Self {
        LstmTextConfig {
            vocab,
            n_classes,
            embed_dim: 256,
            lstm_hidden: 1024,
            ffnn_dim: 30,
            normalize_embeddings: true,
            dropout: 0.5,
            max_words: 400,
        }
    }

    /// Narrower sizes (64-d embeddings, 128 LSTM units) for CPU-sized
    /// experiments; the rest as `paper`.
    pub fn small(vocab: usize, n_classes: usize) -> Self {
        LstmTextConfig { embed_dim: 64, lstm_hidden: 128, ffnn_dim: 30, ..Self::paper(vocab, n_classes) }
    }

    /// Checks sizes and the dropout rate; the error names the first bad field.
    pub fn validate(&self) -> Result<()> {
        super::check_sizes(
            "lstm model config",
            &[
                ("vocab", self.vocab, 3),
                ("n_classes", self.n_classes, 2),
                ("embed_dim", self.embed_dim, 1),
                ("lstm_hidden", self.lstm_hidden, 1),
                ("ffnn_dim", self.ffnn_dim, 1),
                ("max_words", self.max_words, 1),
            ],
            self.dropout,
        )
    }
}

/// The embedding table as the model uses it.
#[derive(Clone, Debug)]
struct Embedding {
    weight: ParamId,
    /// Relative training-set frequencies `[V]` (a buffer), if normalised.
    freq: Option<ParamId>,
}

impl Embedding {
    fn new(c: &LstmTextConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        let weight = store.add("embedding.weight", init::embedding(c.vocab, c.embed_dim, Some(0), rng)?)?;
        let freq = if c.normalize_embeddings {
            // Uniform until a vocabulary sets the real counts.
            Some(store.add_buffer("embedding.freq", Tensor::full(&[c.vocab], 1.0 / c.vocab as f32))?)
        } else {
            None
        };
        Ok(Embedding { weight, freq })
    }

    /// The table `[V, D]` the model looks words up in: `(E − m)/√(v + 1e-6)`
    /// with frequency-weighted mean and variance (Miyato et al. 2017), or E.
    fn table(&self, tape: &Tape, p: &Bound) -> Result<Var> {
        let e = p.var(self.weight);
        let Some(freq) = self.freq else { return Ok(e) };
        let v = tape.shape(e)?[0];
        let f = tape.reshape(p.var(freq), &[v, 1])?;
        let m = tape.sum_axis(tape.mul(e, f)?, 0)?;
        let centered = tape.sub(e, m)?;
        let var = tape.sum_axis(tape.mul(tape.square(centered)?, f)?, 0)?;
        let std = tape.sqrt(tape.add_scalar(var, 1e-6)?)?;
        tape.div(centered, std)
    }

    /// `[B, T, D]`, plus an optional perturbation of the same shape.
    fn lookup(&self, tape: &Tape, p: &Bound, x: &WordBatch, perturbation: Option<Var>) -> Result<Var> {
        let table = self.table(tape, p)?;
        let e = tape.embedding(table, &x.ids, &[x.batch, x.len], Some(0))?;
        match perturbation {
            Some(r) => tape.add(e, r),
            None => Ok(e),
        }
    }
}

/// What `lstm_classifier` and `bilstm_tagger` share: embedding → (Bi)LSTM →
/// ReLU FFNN → linear, with dropout (training only) on the embedded words and
/// on the FFNN output. They differ in the LSTM's direction and in reading the
/// last true step or every step.
#[derive(Clone, Debug)]
struct LstmText {
    config: LstmTextConfig,
    embedding: Embedding,
    lstm: Lstm,
    hidden: Linear,
    classifier: Linear,
    per_token: bool,
}

impl LstmText {
    fn new(config: LstmTextConfig, store: &mut ParamStore, rng: &mut Rng, per_token: bool) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let dirs = if per_token { 2 } else { 1 };
        let embedding = Embedding::new(c, store, rng)?;
        let lstm = Lstm::new(store, "lstm", c.embed_dim, c.lstm_hidden, 1, per_token, rng)?;
        let hidden = Linear::new(store, "hidden", dirs * c.lstm_hidden, c.ffnn_dim, rng)?;
        let classifier = Linear::new(store, "classifier", c.ffnn_dim, c.n_classes, rng)?;
        Ok(LstmText { config, embedding, lstm, hidden, classifier, per_token })
    }

    fn forward(&self, tape: &Tape, p: &Bound, x: &WordBatch, perturbation: Option<Var>, mode: Mode) -> Result<Forward> {
        let embedded = self.embedding.lookup(tape, p, x, perturbation)?;
        let logits = self.forward_embedded(tape, p, x, embedded, mode)?;
        Ok(Forward { embedded, logits })
    }

    /// Embedding (dropout in training) → (Bi)LSTM: the states `[B, T, H·dirs]`
    /// a language model reads (`train::lm`).
    fn lstm_outputs(&self, tape: &Tape, p: &Bound, x: &WordBatch, mode: Mode) -> Result<Var> {
        let mut h = self.embedding.lookup(tape, p, x, None)?;
        if mode.train && self.config.dropout > 0.0 {
            h = tape.dropout(h, self.config.dropout, mode.site(0))?;
        }
        Ok(self.lstm.forward(tape, p, h, &x.lengths)?.outputs)
    }

    fn forward_embedded(&self, tape: &Tape, p: &Bound, x: &WordBatch, embedded: Var, mode: Mode) -> Result<Var> {
        let c = &self.config;
        let mut h = embedded;
        if mode.train && c.dropout > 0.0 {
            h = tape.dropout(h, c.dropout, mode.site(0))?;
        }
        let out = self.lstm.forward(tape, p, h, &x.lengths)?;
        let read = if self.per_token { out.outputs } else { out.last };
        let mut z = tape.relu(self.hidden.forward(tape, p, read)?)?;
        if mode.train && c.dropout > 0.0 {
            z = tape.dropout(z, c.dropout, mode.site(1))?;
        }
        self.classifier.forward(tape, p, z)
    }
}

/// The methods both models expose, forwarded to their shared body.
macro_rules! lstm_text_api {
    ($model:ident, $forward_doc:literal) => {
        impl $model {
            /// The hyper-parameters it was built with.
            pub fn config(&self) -> &LstmTextConfig {
                &self.0.config
            }

            /// The embedding table as used (normalised if configured):
            /// iAdvT's nearest-neighbour candidates.
            pub fn embedding_table(&self, tape: &Tape, p: &Bound) -> Result<Var> {
                self.0.embedding.table(tape, p)
            }

            /// The raw embedding parameter `embedding.weight`.
            pub fn embedding_param(&self) -> ParamId {
                self.0.embedding.weight
            }

            #[doc = $forward_doc]
            /// `embedded` `[B, T, D]` is where perturbations act.
            pub fn forward(
                &self,
                tape: &Tape,
                p: &Bound,
                x: &WordBatch,
                perturbation: Option<Var>,
                mode: Mode,
            ) -> Result<Forward> {
                self.0.forward(tape, p, x, perturbation, mode)
            }

            /// The LSTM states `[B, T, H·dirs]` (the language model's input).
            pub fn lstm_outputs(&self, tape: &Tape, p: &Bound, x: &WordBatch, mode: Mode) -> Result<Var> {
                self.0.lstm_outputs(tape, p, x, mode)
            }

            /// The (normalised) word embeddings of a batch, `[B, T, D]`.
            pub fn embed(&self, tape: &Tape, p: &Bound, x: &WordBatch) -> Result<Var> {
                self.0.embedding.lookup(tape, p, x, None)
            }

            /// Logits from given word embeddings `[B, T, D]`.
            pub fn forward_embedded(
                &self,
                tape: &Tape,
                p: &Bound,
                x: &WordBatch,
                embedded: Var,
                mode: Mode,
            ) -> Result<Var> {
                self.0.forward_embedded(tape, p, x, embedded, mode)
            }
        }
    };
}

/// `lstm_classifier`: embedding → LSTM → ReLU FFNN → linear, on the last
/// true step.
#[derive(Clone, Debug)]
pub struct LstmClassifier(LstmText);

impl LstmClassifier {
    /// Adds freshly initialised parameters (PyTorch defaults, PAD row zero) to
    /// `store`.
    pub fn new(config: LstmTextConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        Ok(LstmClassifier(LstmText::new(config, store, rng, false)?))
    }
}

lstm_text_api!(LstmClassifier, "Logits `[B, C]` from the last true step.");

/// `bilstm_tagger`: embedding → BiLSTM → ReLU FFNN → linear per token.
#[derive(Clone, Debug)]
pub struct BiLstmTagger(LstmText);

impl BiLstmTagger {
    /// Adds freshly initialised parameters to `store`; `config.n_classes` must
    /// be 2 (labels correct / error).
    pub fn new(config: LstmTextConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        if config.n_classes != 2 {
            return Err(Error::invalid(
                "bilstm_tagger",
                format!("labels are c/i: n_classes must be 2, got {}", config.n_classes),
            ));
        }
        Ok(BiLstmTagger(LstmText::new(config, store, rng, true)?))
    }
}

lstm_text_api!(
    BiLstmTagger,
    "Per-token logits `[B, T, 2]` (padded positions are computed but must be masked out of the loss)."
);
