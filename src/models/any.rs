//! One type for "any of the four architectures", so that checkpoints,
//! training and attacks need not be written four times.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{
    BiLstmTagger, CharBatch, CharCnnLstm, CharCnnLstmConfig, Forward, LstmClassifier, LstmTextConfig, Mode, WordBatch,
    WordCnn, WordCnnConfig,
};
use crate::nn::{Bound, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};

/// An architecture and its hyper-parameters, as `config.json` stores them
/// (`"arch"` names the variant, MODELS.md's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum ModelConfig {
    /// HotFlip's character CNN → LSTM classifier.
    CharCnnLstm(CharCnnLstmConfig),
    /// Kim (2014)-style word CNN classifier.
    WordCnn(WordCnnConfig),
    /// Sato et al.'s LSTM text classifier (last state → FFNN → classes).
    LstmClassifier(LstmTextConfig),
    /// Sato et al.'s BiLSTM per-token tagger (GED).
    BilstmTagger(LstmTextConfig),
}

impl ModelConfig {
    /// The architecture's name as `config.json`'s `"arch"` spells it
    /// (e.g. `"char_cnn_lstm"`).
    pub fn arch(&self) -> &'static str {
        match self {
            ModelConfig::CharCnnLstm(_) => "char_cnn_lstm",
            ModelConfig::WordCnn(_) => "word_cnn",
            ModelConfig::LstmClassifier(_) => "lstm_classifier",
            ModelConfig::BilstmTagger(_) => "bilstm_tagger",
        }
    }

    /// Whether inputs are characters (else words).
    pub fn is_char_level(&self) -> bool {
        matches!(self, ModelConfig::CharCnnLstm(_))
    }

    /// Whether the model labels every token (else whole texts).
    pub fn is_tagger(&self) -> bool {
        matches!(self, ModelConfig::BilstmTagger(_))
    }

    /// Number of output classes `C` (2 for the tagger: correct / error).
    pub fn n_classes(&self) -> usize {
        match self {
            ModelConfig::CharCnnLstm(c) => c.n_classes,
            ModelConfig::WordCnn(c) => c.n_classes,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.n_classes,
        }
    }

    /// Input vocabulary size (characters or words, PAD and UNK included).
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::CharCnnLstm(c) => c.n_chars,
            ModelConfig::WordCnn(c) => c.vocab,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.vocab,
        }
    }

    /// Longest input in words; longer texts are cut to this many.
    pub fn max_words(&self) -> usize {
        match self {
            ModelConfig::CharCnnLstm(c) => c.max_words,
            ModelConfig::WordCnn(c) => c.max_words,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.max_words,
        }
    }
}

/// A batch of inputs of either kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Character ids, for `char_cnn_lstm`.
    Chars(CharBatch),
    /// Word ids, for the other three models.
    Words(WordBatch),
}

impl Input {
    /// Number of examples `B` in the batch.
    pub fn batch(&self) -> usize {
        match self {
            Input::Chars(b) => b.batch,
            Input::Words(b) => b.batch,
        }
    }

    /// Each example's true length in words.
    pub fn lengths(&self) -> &[usize] {
        match self {
            Input::Chars(b) => &b.lengths,
            Input::Words(b) => &b.lengths,
        }
    }
}

/// Any of the four models.
#[derive(Clone, Debug)]
pub enum Model {
    /// See [`CharCnnLstm`].
    CharCnnLstm(CharCnnLstm),
    /// See [`WordCnn`].
    WordCnn(WordCnn),
    /// See [`LstmClassifier`].
    LstmClassifier(LstmClassifier),
    /// See [`BiLstmTagger`].
    BilstmTagger(BiLstmTagger),
}

impl Model {
    /// Builds the model, adding its freshly initialised parameters to `store`
    /// in PyTorch's order and names.
    pub fn new(config: &ModelConfig, store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        Ok(match config {
            ModelConfig::CharCnnLstm(c) => Model::CharCnnLstm(CharCnnLstm::new(c.clone(), store, rng)?),
            ModelConfig::WordCnn(c) => Model::WordCnn(WordCnn::new(c.clone(), store, rng)?),
            ModelConfig::LstmClassifier(c) => Model::LstmClassifier(LstmClassifier::new(c.clone(), store, rng)?),
            ModelConfig::BilstmTagger(c) => Model::BilstmTagger(BiLstmTagger::new(c.clone(), store, rng)?),
        })
    }

    /// The config it was built from (a clone), e.g. to save beside a checkpoint.
    pub fn config(&self) -> ModelConfig {
        match self {
            Model::CharCnnLstm(m) => ModelConfig::CharCnnLstm(m.config.clone()),
            Model::WordCnn(m) => ModelConfig::WordCnn(m.config.clone()),
            Model::LstmClassifier(m) => ModelConfig::LstmClassifier(m.config().clone()),
            Model::BilstmTagger(m) => ModelConfig::BilstmTagger(m.config().clone()),
        }
    }

    /// Logits (`[B, C]`, or `[B, T, 2]` for the tagger) and the embedded input.
    /// `perturbation` (`[B, T, D]`) is added to the word embeddings; the
    /// character model has none.
    pub fn forward(&self, tape: &Tape, p: &Bound, x: &Input, perturbation: Option<Var>, mode: Mode) -> Result<Forward> {
        match (self, x) {
            (Model::CharCnnLstm(m), Input::Chars(b)) => {
                if perturbation.is_some() {
                    return Err(Error::invalid(
                        "char_cnn_lstm",
                        "embedding perturbations (AdvT/VAT/iAdvT) apply to word models only",
                    ));
                }
                m.forward(tape, p, b, mode)
            }
            (Model::WordCnn(m), Input::Words(b)) => m.forward(tape, p, b, perturbation, mode),
            (Model::LstmClassifier(m), Input::Words(b)) => m.forward(tape, p, b, perturbation, mode),
            (Model::BilstmTagger(m), Input::Words(b)) => m.forward(tape, p, b, perturbation, mode),
            (m, _) => Err(Error::invalid(
                "model forward",
                format!(
                    "{} takes {} inputs",
                    m.config().arch(),
                    if m.config().is_char_level() { "character" } else { "word" }
                ),
            )),
        }
    }

    /// The LSTM states `[B, T, H·dirs]` of `lstm_classifier` / `bilstm_tagger`
    /// (what language-model pre-training trains; `train::lm`).
    pub fn lstm_outputs(&self, tape: &Tape, p: &Bound, x: &WordBatch, mode: Mode) -> Result<Var> {
        match self {
            Model::LstmClassifier(m) => m.lstm_outputs(tape, p, x, mode),
            Model::BilstmTagger(m) => m.lstm_outputs(tape, p, x, mode),
            m => Err(Error::invalid(
                "language model",
                format!("{} has no word LSTM; pre-train lstm_classifier or bilstm_tagger", m.config().arch()),
            )),
        }
    }

    /// The embedded input (character or word vectors), the point where
    /// HotFlip's gradients and embedding-space perturbations act.
    pub fn embed(&self, tape: &Tape, p: &Bound, x: &Input) -> Result<Var> {
        match (self, x) {
            (Model::CharCnnLstm(m), Input::Chars(b)) => m.embed(tape, p, b),
            (Model::WordCnn(m), Input::Words(b)) => m.embed(tape, p, b),
            (Model::LstmClassifier(m), Input::Words(b)) => m.embed(tape, p, b),
            (Model::BilstmTagger(m), Input::Words(b)) => m.embed(tape, p, b),
            (m, _) => Err(mismatch(m)),
        }
    }

    /// Logits from an embedded input (as `embed` returns it, possibly
    /// perturbed or detached into a leaf).
    pub fn forward_embedded(&self, tape: &Tape, p: &Bound, x: &Input, embedded: Var, mode: Mode) -> Result<Var> {
        match (self, x) {
            (Model::CharCnnLstm(m), Input::Chars(b)) => m.forward_embedded(tape, p, b, embedded, mode),
            (Model::WordCnn(m), Input::Words(b)) => m.forward_embedded(tape, p, b, embedded, mode),
            (Model::LstmClassifier(m), Input::Words(b)) => m.forward_embedded(tape, p, b, embedded, mode),
            (Model::BilstmTagger(m), Input::Words(b)) => m.forward_embedded(tape, p, b, embedded, mode),
            (m, _) => Err(mismatch(m)),
        }
    }

    /// The input embedding table's parameter (characters or words; for
    /// the LSTM models the raw table, before normalisation).
    pub fn embedding_param(&self) -> ParamId {
        match self {
            Model::CharCnnLstm(m) => m.embedding_param(),
            Model::WordCnn(m) => m.embedding,
            Model::LstmClassifier(m) => m.embedding_param(),
            Model::BilstmTagger(m) => m.embedding_param(),
        }
    }

    /// The word-embedding table as the model reads it (normalised for the
    /// LSTM models if configured): the vectors AdvT perturbs and iAdvT's
    /// neighbours are drawn from. `None` for the character model.
    pub fn word_table(&self, tape: &Tape, p: &Bound) -> Result<Option<Var>> {
        Ok(match self {
            Model::CharCnnLstm(_) => None,
            Model::WordCnn(m) => Some(p.var(m.embedding)),
            Model::LstmClassifier(m) => Some(m.embedding_table(tape, p)?),
            Model::BilstmTagger(m) => Some(m.embedding_table(tape, p)?),
        })
    }

    /// The values of [`Model::word_table`] with `store`'s weights: the one
    /// accessor the word attack, HotFlip word training, iAdvT and the
    /// interpretation share. `None` for the character model.
    pub fn word_table_values(&self, store: &crate::nn::ParamStore) -> Result<Option<crate::tensor::Tensor>> {
        let tape = Tape::no_grad();
        let p = tape.bind_frozen(store);
        self.word_table(&tape, &p)?.map(|t| tape.value(t)).transpose()
    }

    /// The smallest padded length a word batch must have (the word CNN's
    /// widest kernel); 1 otherwise.
    pub fn min_len(&self) -> usize {
        match self {
            Model::WordCnn(m) => m.config.max_width(),
            _ => 1,
        }
    }
}

fn mismatch(m: &Model) -> Error {
    let cfg = m.config();
    Error::invalid(
        "model forward",
        format!("{} takes {} inputs", cfg.arch(), if cfg.is_char_level() { "character" } else { "word" }),
    )
}
