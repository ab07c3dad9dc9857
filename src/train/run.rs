//! A whole training run, as `hotflip train` does it: the vocabulary from the
//! training split, the data encoded for the model, a fresh model (or one
//! initialised from a checkpoint), the resumable training loop
//! ([`Trainer`]), and `summary.json` in the run directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::checkpoint::{self, CheckpointConfig};
use crate::data::{vectors, AnyDataset, Vocab};
use crate::error::{Error, Result};
use crate::models::{CharCnnLstmConfig, LstmTextConfig, Model, ModelConfig, WordCnnConfig};
use crate::nn::ParamStore;
use crate::rng::Rng;
use crate::train::frequencies::set_embedding_frequencies;
use crate::train::objective::Objective;
use crate::train::samples::{build_vocab, encode, Sample, Tokens, VocabOptions};
use crate::train::trainer::{TrainOptions, TrainSummary, Trainee, Trainer};
use crate::util::atomic;

/// The four architectures (MODELS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Characters → CNN per word → LSTM (HotFlip's classifier).
    CharCnnLstm,
    /// Words → CNN (Kim 2014).
    WordCnn,
    /// Words → LSTM → classifier (Sato et al.).
    LstmClassifier,
    /// Words → BiLSTM → a tag per word (grammatical error detection).
    BilstmTagger,
}

/// Model sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Sized to train on a 2-core CPU in minutes.
    Small,
    /// The papers' sizes (MODELS.md).
    Paper,
}

/// Everything a training run needs besides the data and the objective.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    /// The architecture.
    pub arch: Arch,
    /// Its size.
    pub preset: Preset,
    /// Dropout probability in `[0, 1)` (default: the preset's).
    pub dropout: Option<f32>,
    /// Lowercase words and characters.
    pub lowercase: bool,
    /// Drop tokens seen fewer times than this in training (default: 5 for
    /// characters, 2 for `bilstm_tagger` so UNK is trained, 1 otherwise).
    pub min_count: Option<usize>,
    /// Keep at most this many tokens in the vocabulary.
    pub max_vocab: Option<usize>,
    /// Start from this checkpoint's weights (a run directory or a
    /// checkpoint): same architecture, sizes and vocabulary required.
    pub init: Option<PathBuf>,
    /// Initialise the word embeddings from this vector file (word2vec/GloVe
    /// text format); the embedding size becomes the file's. Word models only.
    pub init_vectors: Option<PathBuf>,
    /// Start the embedding and LSTM from a language model written by
    /// `hotflip pretrain-lm` (same architecture, preset and vocabulary).
    pub init_lm: Option<PathBuf>,
    /// The run directory: `best/`, `last/`, `train_log.jsonl`, `summary.json`.
    pub out: PathBuf,
    /// Continue the run in `out` from its last saved state.
    pub resume: bool,
    /// The training loop's options.
    pub options: TrainOptions,
}

impl Arch {
    /// The vocabulary cut-off unless one is given: 5 for characters, 2 for
    /// the tagger (rare training words must map to UNK, or UNK's embedding is
    /// never trained while FCE's unseen test words are errors half the
    /// time), 1 for the other word models.
    pub fn default_min_count(self) -> usize {
        match self {
            Arch::CharCnnLstm => 5,
            Arch::BilstmTagger => 2,
            Arch::WordCnn | Arch::LstmClassifier => 1,
        }
    }

    /// The architecture's configuration at `preset` for `vocab` tokens and
    /// `classes` labels (a tagger always has 2).
    pub fn config(self, preset: Preset, vocab: usize, classes: usize) -> ModelConfig {
        let paper = preset == Preset::Paper;
        match self {
            Arch::CharCnnLstm => ModelConfig::CharCnnLstm(if paper {
                CharCnnLstmConfig::paper(vocab, classes)
            } else {
                CharCnnLstmConfig::small(vocab, classes)
            }),
            Arch::WordCnn => ModelConfig::WordCnn(if paper {
                WordCnnConfig::paper(vocab, classes)
            } else {
                WordCnnConfig::small(vocab, classes)
            }),
            Arch::LstmClassifier => ModelConfig::LstmClassifier(if paper {
                LstmTextConfig::paper(vocab, classes)
            } else {
                LstmTextConfig::small(vocab, classes)
            }),
            Arch::BilstmTagger => ModelConfig::BilstmTagger(if paper {
                LstmTextConfig::paper(vocab, 2)
            } else {
                LstmTextConfig::small(vocab, 2)
            }),
        }
    }
}

fn model_config(spec: &TrainSpec, vocab: usize, classes: usize) -> Result<ModelConfig> {
    let mut cfg = spec.arch.config(spec.preset, vocab, classes);
    if let Some(path) = &spec.init_vectors {
        let dim = vectors::dim_of(path)?;
        match &mut cfg {
            ModelConfig::CharCnnLstm(_) => {
                return Err(Error::invalid(
                    "--init-vectors",
                    "it initialises word embeddings; char_cnn_lstm has none".to_string(),
                ))
            }
            ModelConfig::WordCnn(c) => c.embed_dim = dim,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.embed_dim = dim,
        }
    }
    if let Some(p) = spec.dropout {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid("train", format!("dropout {p} must be in [0, 1)")));
        }
        match &mut cfg {
            ModelConfig::CharCnnLstm(c) => c.dropout = p,
            ModelConfig::WordCnn(c) => c.dropout = p,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.dropout = p,
        }
    }
    Ok(cfg)
}

/// Copies every parameter of the checkpoint at `dir` into `store` (only
/// those whose name `only` keeps, if given), after checking that it is the
/// same model over the same vocabulary.
pub fn init_from(
    dir: &Path,
    cfg: &ModelConfig,
    vocab: &Vocab,
    store: &mut ParamStore,
    only: Option<fn(&str) -> bool>,
) -> Result<()> {
    let best = dir.join("best");
    let dir = if best.join("config.json").exists() { best } else { dir.to_path_buf() };
    let ck = checkpoint::load(&dir)?;
    let fail = |msg: String| Error::Checkpoint { path: dir.clone(), msg: format!("cannot --init from it: {msg}") };
    if ck.config.model.arch() != cfg.arch() {
        return Err(fail(format!("a {} checkpoint, but the architecture is {}", ck.config.model.arch(), cfg.arch())));
    }
    if ck.vocab.vocab.tokens() != vocab.tokens() {
        return Err(fail(format!(
            "its vocabulary ({} tokens) differs from this data's ({}); train on the same data set and vocabulary options",
            ck.vocab.vocab.len(),
            vocab.len()
        )));
    }
    let ids: Vec<_> = store.ids().collect();
    let mut copied = 0;
    for id in ids {
        let name = store.name(id).to_string();
        if only.is_some_and(|keep| !keep(&name)) {
            continue;
        }
        copied += 1;
        let t = ck.store.by_name(&name).map_err(|_| fail(format!("no tensor `{name}`")))?;
        if t.shape() != store.get(id).shape() {
            return Err(fail(format!(
                "`{name}` is {:?}, this model's is {:?} (another preset?)",
                t.shape(),
                store.get(id).shape()
            )));
        }
        store.set(id, t.clone())?;
    }
    eprintln!("init: weights from {} ({copied} tensors)", dir.display());
    Ok(())
}

/// Copies the vectors of the vocabulary's words from `path` into
/// `embedding.weight`, and says how many words it covered.
fn init_vectors(path: &Path, vocab: &Vocab, lowercase: bool, store: &mut ParamStore) -> Result<()> {
    let vectors = vectors::read(path, vocab, lowercase)?;
    let id = store
        .id("embedding.weight")
        .ok_or_else(|| Error::invalid("--init-vectors", "this model has no `embedding.weight`".to_string()))?;
    vectors.apply(store.get_mut(id))?;
    let words = vocab.len().saturating_sub(2);
    eprintln!(
        "init: {} of {} vocabulary words ({:.1}%) from {} ({} vectors of {} dimensions); the rest random",
        vectors.covered(),
        words,
        100.0 * vectors.covered() as f64 / words.max(1) as f64,
        path.display(),
        vectors.file_words,
        vectors.dim
    );
    Ok(())
}

/// Says so when no training word maps to UNK: its embedding then keeps its
/// random initialisation, and every unseen test word reads that vector.
fn warn_untrained_unk(train: &[Sample], char_level: bool) {
    if char_level {
        return;
    }
    let unk = train.iter().any(|s| matches!(&s.tokens, Tokens::Words(w) if w.contains(&Vocab::UNK)));
    if !unk {
        eprintln!(
            "warning: no training word maps to UNK, so its embedding is never trained and every word unseen in \
             training reads a random vector; --min-count 2 maps training singletons to UNK"
        );
    }
}

/// The label names of a classification or tagging data set.
fn labels_of(data: &AnyDataset) -> Result<Vec<String>> {
    match data {
        AnyDataset::Classification(d) => Ok(d.labels.clone()),
        AnyDataset::Tagging(d) => Ok(d.labels.clone()),
        AnyDataset::Translation(d) => Err(Error::invalid(
            "train",
            format!("`{}` is a translation data set; train takes classification or tagging", d.name),
        )),
    }
}

/// Trains a model of `spec` on `data` with `objective`, resuming
/// `spec.out/last` if `spec.resume`, and writes `spec.out/summary.json`.
/// Stops early when `interrupt` is set (the state is saved).
pub fn run_resumable(
    data: &AnyDataset,
    spec: &TrainSpec,
    objective: &mut dyn Objective,
    interrupt: Arc<AtomicBool>,
) -> Result<TrainSummary> {
    run_resumable_on(data, spec, objective, interrupt, None)
}

/// [`run_resumable`] with the training steps on `device` when given
/// (`Trainer::run_on`).
pub fn run_resumable_on(
    data: &AnyDataset,
    spec: &TrainSpec,
    objective: &mut dyn Objective,
    interrupt: Arc<AtomicBool>,
    device: Option<crate::train::device_step::OnDevice>,
) -> Result<TrainSummary> {
    let char_level = spec.arch == Arch::CharCnnLstm;
    let vocab_opts = VocabOptions {
        lowercase: spec.lowercase,
        min_count: spec.min_count.unwrap_or(spec.arch.default_min_count()),
        max_size: spec.max_vocab,
    };
    let vocab = build_vocab(char_level, data, vocab_opts)?;
    let labels = labels_of(data)?;
    let model_cfg = model_config(spec, vocab.vocab.len(), labels.len())?;
    let encoded = encode(data, &vocab, spec.lowercase, &model_cfg)?;
    if encoded.dropped_empty.iter().any(|&d| d > 0) {
        eprintln!("data: left out records with no words (train/dev/test): {:?}", encoded.dropped_empty);
    }
    warn_untrained_unk(&encoded.train, char_level);
    let mut store = ParamStore::new();
    let model = Model::new(&model_cfg, &mut store, &mut Rng::new(spec.options.seed))?;
    set_embedding_frequencies(&mut store, &encoded.train)?;
    if let Some(path) = &spec.init_vectors {
        init_vectors(path, &vocab.vocab, spec.lowercase, &mut store)?;
    }
    if let Some(dir) = &spec.init {
        init_from(dir, &model_cfg, &vocab.vocab, &mut store, None)?;
    }
    if let Some(dir) = &spec.init_lm {
        let lm_part: fn(&str) -> bool = |n| n == "embedding.weight" || n.starts_with("lstm.");
        init_from(dir, &model_cfg, &vocab.vocab, &mut store, Some(lm_part))?;
    }
    eprintln!(
        "model: {} ({:?} preset), {} parameters, vocabulary {} {}",
        model_cfg.arch(),
        spec.preset,
        store.num_values(),
        vocab.vocab.len(),
        if char_level { "characters" } else { "words" }
    );
    if char_level {
        if let Some(w) = &vocab.word_vocab {
            eprintln!("model: {} training words kept for the char-level attack's constraint", w.len() - 2);
        }
    }
    let config = CheckpointConfig {
        model: model_cfg,
        labels,
        lowercase: spec.lowercase,
        dataset: Some(data.name().to_string()),
        training: serde_json::Value::Null,
    };
    let trainer = Trainer { out: spec.out.clone(), opts: spec.options.clone(), data: &encoded, interrupt };
    let mut trainee = Trainee { model, store, config, vocab };
    if objective.name() != "plain" {
        eprintln!("objective: {}", objective.name());
    }
    let summary = trainer.run_on(&mut trainee, objective, spec.resume, device)?;
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::invalid("train summary", e.to_string()))?;
    atomic::write_file(&spec.out.join("summary.json"), json.as_bytes())?;
    Ok(summary)
}
