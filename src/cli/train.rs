//! `hotflip train`: trains one of the four architectures on a data set.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod, FlipKind, FlipTraining};
use hotflip::checkpoint::CheckpointConfig;
use hotflip::data::Vocab;
use hotflip::models::{CharCnnLstmConfig, LstmTextConfig, Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::ops::neighbours::AlphaScope;
use hotflip::optim::AdamConfig;
use hotflip::train::{self, Objective, Plain, StopReason, TrainOptions, Trainee, Trainer, VocabOptions};
use hotflip::Rng;

use super::common::{announce_backend, DataArgs};
use super::CliResult;
use hotflip::cuda::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Arch {
    CharCnnLstm,
    WordCnn,
    LstmClassifier,
    BilstmTagger,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Sized to train on a 2-core CPU in minutes.
    Small,
    /// The papers' sizes (MODELS.md).
    Paper,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Architecture (shared/spec/MODELS.md).
    #[arg(long, value_enum)]
    arch: Arch,
    #[command(flatten)]
    data: DataArgs,
    /// Model size.
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    /// Run directory: best/ (best on dev), last/ (resumable), train_log.jsonl.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Epochs (passes over the training split).
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Stop after this many minutes (wall time, evaluations included), keeping the best on dev.
    #[arg(long, value_name = "M")]
    minutes: Option<f64>,
    /// Documents per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Learning-rate decay per step (Sato et al.: 0.9998; 1 = none).
    #[arg(long, default_value_t = 0.9998)]
    lr_decay: f32,
    /// Clip the joint gradient norm to this value (0 = no clipping).
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Max-norm constraint (Kim 2014 uses 3): after every step, rescale each class's row of
    /// classifier.weight to at most this L2 norm.
    #[arg(long, value_name = "X")]
    max_norm: Option<f32>,
    /// Stop after this many epochs without a better dev score (early stopping).
    #[arg(long)]
    patience: Option<usize>,
    /// Dropout probability (default: the preset's).
    #[arg(long)]
    dropout: Option<f32>,
    /// Seed for initialisation, batch order and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep the case of words and characters (default: lowercase).
    #[arg(long)]
    keep_case: bool,
    /// Drop tokens seen fewer times than this in training (default: 5 for characters, 2 for
    /// bilstm_tagger, 1 for the other word models). The tagger needs rare training words mapped to
    /// UNK: otherwise UNK's embedding is never trained, yet on FCE the unseen test words (mostly
    /// misspellings) are erroneous half the time (BENCHMARKS.md, issue 15).
    #[arg(long)]
    min_count: Option<usize>,
    /// Keep at most this many tokens in the vocabulary.
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Also score the test split after every epoch (logged; never used to pick the model).
    #[arg(long)]
    eval_test: bool,
    /// Continue the run in --out from its last saved state.
    #[arg(long)]
    resume: bool,
    /// Start from the weights of this checkpoint (a run directory or its
    /// `best/`) instead of a random init: fine-tuning, as Sato et al. start
    /// adversarial training from a pre-trained model. Same architecture,
    /// sizes and vocabulary required.
    #[arg(long, value_name = "DIR")]
    init: Option<PathBuf>,
    /// Initialise the word embeddings from pre-trained vectors (word2vec/GloVe text format:
    /// `word v1 ... vD` per line). The embedding size becomes the file's D; vocabulary words
    /// absent from the file keep the usual random initialisation. Word models only.
    #[arg(long, value_name = "FILE")]
    init_vectors: Option<PathBuf>,
    /// Start the embedding and LSTM from a language model written by `hotflip pretrain-lm`
    /// (same --arch, preset and vocabulary options); the other layers start at random.
    #[arg(long, value_name = "DIR")]
    init_lm: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Adversarial training: HotFlip flips (characters), one word flip
    /// (word-sem, word-unk), or embedding perturbations (advt, vat, iadvt, ivat, random,
    /// iadvt-rand: one random nearest-word direction per position, iadvt-best: the single best one).
    #[arg(long, value_enum, default_value = "none")]
    adv: AdvArg,
    /// Perturbation norm per example (default: 5; 15 for iadvt, ivat, iadvt-rand, iadvt-best).
    #[arg(long)]
    epsilon: Option<f32>,
    /// Weight λ of the adversarial term.
    #[arg(long, default_value_t = 1.0)]
    lambda: f32,
    /// K nearest words of iAdvT / iVAT.
    #[arg(long, default_value_t = 10)]
    neighbours: usize,
    /// Normalise iAdvT's α per example (Sato et al.) or per position.
    #[arg(long, value_enum, default_value = "example")]
    alpha_scope: ScopeArg,
    /// HotFlip training: share of characters flipped per example.
    #[arg(long, default_value_t = 0.2)]
    flip_fraction: f32,
    /// HotFlip training: at most this many flips in one word (default: no cap).
    #[arg(long)]
    flips_per_word: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "kebab-case")]
pub enum AdvArg {
    None,
    Hotflip,
    WordSem,
    WordUnk,
    Advt,
    Vat,
    Iadvt,
    Ivat,
    Random,
    IadvtRand,
    IadvtBest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    Example,
    Position,
}

fn objective(a: &TrainArgs) -> CliResult<Box<dyn Objective>> {
    let emb = |m: EmbeddingMethod| -> Box<dyn Objective> {
        let mut o = EmbeddingAdversary::paper(m, a.seed);
        if let Some(e) = a.epsilon {
            o.epsilon = e;
        }
        o.lambda = a.lambda;
        o.neighbours = a.neighbours;
        o.scope = match a.alpha_scope {
            ScopeArg::Example => AlphaScope::PerExample,
            ScopeArg::Position => AlphaScope::PerPosition,
        };
        Box::new(o)
    };
    let flip = |k: FlipKind| -> Box<dyn Objective> {
        let mut o = FlipTraining::paper(k);
        o.fraction = a.flip_fraction;
        o.per_word = a.flips_per_word;
        Box::new(o)
    };
    let needs_words = !matches!(a.adv, AdvArg::None | AdvArg::Hotflip);
    if needs_words && a.arch == Arch::CharCnnLstm {
        return Err(format!("--adv {:?} perturbs word embeddings; char_cnn_lstm takes --adv hotflip", a.adv)
            .to_lowercase()
            .into());
    }
    if !(a.flip_fraction > 0.0 && a.flip_fraction <= 1.0) {
        return Err("--flip-fraction must be in (0, 1]".into());
    }
    if a.flips_per_word == Some(0) {
        return Err("--flips-per-word must be at least 1".into());
    }
    if a.adv == AdvArg::Hotflip && a.arch != Arch::CharCnnLstm {
        return Err("--adv hotflip flips characters; for word models use --adv word-sem or word-unk".into());
    }
    let ok = a.epsilon.is_none_or(|e| e > 0.0 && e.is_finite())
        && a.lambda >= 0.0
        && a.lambda.is_finite()
        && a.neighbours > 0;
    if !ok {
        return Err("--epsilon must be positive, --lambda non-negative, --neighbours at least 1".into());
    }
    Ok(match a.adv {
        AdvArg::None => Box::new(Plain),
        AdvArg::Hotflip => flip(FlipKind::Chars),
        AdvArg::WordSem => flip(FlipKind::WordSem),
        AdvArg::WordUnk => flip(FlipKind::WordUnk),
        AdvArg::Advt => emb(EmbeddingMethod::AdvT),
        AdvArg::Vat => emb(EmbeddingMethod::Vat),
        AdvArg::Iadvt => emb(EmbeddingMethod::IAdvT),
        AdvArg::Ivat => emb(EmbeddingMethod::IVat),
        AdvArg::Random => emb(EmbeddingMethod::Random),
        AdvArg::IadvtRand => emb(EmbeddingMethod::IAdvTRand),
        AdvArg::IadvtBest => emb(EmbeddingMethod::IAdvTBest),
    })
}

fn model_config(a: &TrainArgs, vocab: usize, classes: usize) -> CliResult<ModelConfig> {
    let paper = a.preset == Preset::Paper;
    let mut cfg = match a.arch {
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
    };
    if let Some(path) = &a.init_vectors {
        let dim = hotflip::data::vectors::dim_of(path).map_err(|e| format!("--init-vectors: {e}"))?;
        match &mut cfg {
            ModelConfig::CharCnnLstm(_) => {
                return Err("--init-vectors initialises word embeddings; char_cnn_lstm has none".into())
            }
            ModelConfig::WordCnn(c) => c.embed_dim = dim,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.embed_dim = dim,
        }
    }
    if let Some(p) = a.dropout {
        if !(0.0..1.0).contains(&p) {
            return Err(format!("--dropout {p} must be in [0, 1)").into());
        }
        match &mut cfg {
            ModelConfig::CharCnnLstm(c) => c.dropout = p,
            ModelConfig::WordCnn(c) => c.dropout = p,
            ModelConfig::LstmClassifier(c) | ModelConfig::BilstmTagger(c) => c.dropout = p,
        }
    }
    Ok(cfg)
}

/// Copies every parameter of the checkpoint at `dir` into `store`, after
/// checking that it is the same model over the same vocabulary.
fn init_from(
    dir: &Path,
    cfg: &ModelConfig,
    vocab: &Vocab,
    store: &mut ParamStore,
    only: Option<fn(&str) -> bool>,
) -> CliResult<()> {
    let best = dir.join("best");
    let dir = if best.join("config.json").exists() { best } else { dir.to_path_buf() };
    let ck = hotflip::checkpoint::load(&dir)?;
    let where_ = dir.display();
    if ck.config.model.arch() != cfg.arch() {
        return Err(
            format!("--init {where_}: a {} checkpoint, but --arch is {}", ck.config.model.arch(), cfg.arch()).into()
        );
    }
    if ck.vocab.vocab.tokens() != vocab.tokens() {
        return Err(format!(
            "--init {where_}: its vocabulary ({} tokens) differs from this data's ({}); train on the same data set and vocabulary options",
            ck.vocab.vocab.len(),
            vocab.len()
        )
        .into());
    }
    let ids: Vec<_> = store.ids().collect();
    let mut copied = 0;
    for id in ids {
        let name = store.name(id).to_string();
        if only.is_some_and(|keep| !keep(&name)) {
            continue;
        }
        copied += 1;
        let t = ck.store.by_name(&name).map_err(|_| format!("--init {where_}: no tensor `{name}`"))?;
        if t.shape() != store.get(id).shape() {
            return Err(format!(
                "--init {where_}: `{name}` is {:?}, this model's is {:?} (another preset?)",
                t.shape(),
                store.get(id).shape()
            )
            .into());
        }
        store.set(id, t.clone())?;
    }
    eprintln!("init: weights from {where_} ({copied} tensors)");
    Ok(())
}

/// Copies the vectors of the vocabulary's words from `path` into
/// `embedding.weight`, and says how many words it covered.
fn init_vectors(path: &Path, vocab: &Vocab, lowercase: bool, store: &mut ParamStore) -> CliResult<()> {
    let vectors = hotflip::data::vectors::read(path, vocab, lowercase).map_err(|e| format!("--init-vectors: {e}"))?;
    let id = store.id("embedding.weight").ok_or("--init-vectors: this model has no `embedding.weight`")?;
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

/// `--min-count` unless given: 5 for characters, 2 for the tagger (so UNK
/// is trained), 1 for the other word models.
pub fn default_min_count(arch: Arch) -> usize {
    match arch {
        Arch::CharCnnLstm => 5,
        Arch::BilstmTagger => 2,
        Arch::WordCnn | Arch::LstmClassifier => 1,
    }
}

/// Says so when no training word maps to UNK: its embedding then keeps its
/// random initialisation, and every unseen test word reads that vector.
fn warn_untrained_unk(train: &[train::Sample], char_level: bool) {
    if char_level {
        return;
    }
    let unk = train.iter().any(|s| matches!(&s.tokens, train::Tokens::Words(w) if w.contains(&Vocab::UNK)));
    if !unk {
        eprintln!(
            "warning: no training word maps to UNK, so its embedding is never trained and every word unseen in \
             training reads a random vector; --min-count 2 maps training singletons to UNK"
        );
    }
}

pub fn run(a: TrainArgs, threads: usize, backend: &Backend, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if a.batch == 0 || a.epochs == 0 {
        return Err("--batch and --epochs must be at least 1".into());
    }
    if a.minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
        return Err("--minutes must be positive".into());
    }
    if [a.init_vectors.is_some(), a.init.is_some(), a.init_lm.is_some()].iter().filter(|&&x| x).count() > 1 {
        return Err("--init-vectors, --init and --init-lm all set the embeddings; pick one".into());
    }
    if a.max_norm.is_some_and(|m| !(m > 0.0 && m.is_finite())) {
        return Err("--max-norm must be positive".into());
    }
    let mut objective = objective(&a)?;
    announce_backend(threads, backend);
    let data = a.data.load()?;
    let char_level = a.arch == Arch::CharCnnLstm;
    let lowercase = !a.keep_case;
    let vocab_opts =
        VocabOptions { lowercase, min_count: a.min_count.unwrap_or(default_min_count(a.arch)), max_size: a.max_vocab };
    let vocab = train::build_vocab(char_level, &data, vocab_opts)?;
    let labels: Vec<String> = match &data {
        hotflip::data::AnyDataset::Classification(d) => d.labels.clone(),
        hotflip::data::AnyDataset::Tagging(d) => d.labels.clone(),
        hotflip::data::AnyDataset::Translation(d) => {
            return Err(format!("`{}` is a translation data set; train takes classification or tagging", d.name).into())
        }
    };
    let model_cfg = model_config(&a, vocab.vocab.len(), labels.len())?;
    let encoded = train::encode(&data, &vocab, lowercase, &model_cfg)?;
    if encoded.dropped_empty.iter().any(|&d| d > 0) {
        eprintln!("data: left out records with no words (train/dev/test): {:?}", encoded.dropped_empty);
    }
    warn_untrained_unk(&encoded.train, char_level);
    let mut store = ParamStore::new();
    let model = Model::new(&model_cfg, &mut store, &mut Rng::new(a.seed))?;
    train::set_embedding_frequencies(&mut store, &encoded.train)?;
    if let Some(path) = &a.init_vectors {
        init_vectors(path, &vocab.vocab, lowercase, &mut store)?;
    }
    if let Some(dir) = &a.init {
        init_from(dir, &model_cfg, &vocab.vocab, &mut store, None)?;
    }
    if let Some(dir) = &a.init_lm {
        init_from(
            dir,
            &model_cfg,
            &vocab.vocab,
            &mut store,
            Some(|n| n == "embedding.weight" || n.starts_with("lstm.")),
        )?;
    }
    eprintln!(
        "model: {} ({:?} preset), {} parameters, vocabulary {} {}",
        model_cfg.arch(),
        a.preset,
        store.num_values(),
        vocab.vocab.len(),
        if char_level { "characters" } else { "words" }
    );
    if char_level && model_cfg.arch() == "char_cnn_lstm" {
        if let Some(w) = &vocab.word_vocab {
            eprintln!("model: {} training words kept for the char-level attack's constraint", w.len() - 2);
        }
    }
    let config = CheckpointConfig {
        model: model_cfg,
        labels,
        lowercase,
        dataset: Some(data.name().to_string()),
        training: serde_json::Value::Null,
    };
    let opts = TrainOptions {
        epochs: a.epochs,
        minutes: a.minutes,
        batch: a.batch,
        eval_batch: 128,
        adam: AdamConfig { lr: a.lr, decay: a.lr_decay, ..AdamConfig::default() },
        clip: (a.clip > 0.0).then_some(a.clip),
        max_norm: a.max_norm,
        patience: a.patience,
        seed: a.seed,
        eval_test: a.eval_test,
        save_every: Duration::from_secs(300),
        progress: !a.no_progress,
    };
    let trainer = Trainer { out: a.out.clone(), opts, data: &encoded, interrupt };
    let mut trainee = Trainee { model, store, config, vocab };
    if a.adv != AdvArg::None {
        eprintln!("objective: {}", objective.name());
    }
    let summary = trainer.run(&mut trainee, objective.as_mut(), a.resume)?;
    let json = serde_json::to_string_pretty(&summary)?;
    hotflip::checkpoint::atomic::write_file(&a.out.join("summary.json"), json.as_bytes())?;
    match summary.stopped {
        StopReason::Interrupted => {
            eprintln!(
                "interrupted: state saved in {}; continue with the same command and --resume",
                a.out.join("last").display()
            );
        }
        reason => {
            let what = if summary.best_dev.as_ref().and_then(|m| m.f05).is_some() { "F0.5" } else { "accuracy" };
            eprintln!(
                "done ({reason:?}) after {:.1} epochs, {:.1} min: best dev {what} {:.4} (epoch {:.2}), test {what} {:.4} -> {}",
                summary.epochs,
                summary.minutes,
                summary.best_dev.as_ref().map_or(f64::NAN, |m| m.score()),
                summary.best_epoch.unwrap_or(f64::NAN),
                summary.test.as_ref().map_or(f64::NAN, |m| m.score()),
                summary.best_dir.display()
            );
        }
    }
    Ok(())
}
