//! `hotflip pretrain-lm`: an LSTM language model with the embedding and
//! LSTM of `lstm_classifier` or `bilstm_tagger` (`train::lm`), saved as a
//! checkpoint of that architecture so `train --init-lm DIR` can start from
//! its embedding and LSTM weights. The run is `train::lm_run` on the loop
//! every trainer shares: `--minutes`, Ctrl-C and `--resume` as in `train`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use hotflip::checkpoint::CheckpointConfig;
use hotflip::cuda::Backend;
use hotflip::models::{LstmTextConfig, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::optim::AdamConfig;
use hotflip::train::lm::{self, LmHead, LmOptions, Proposal};
use hotflip::train::lm_run::{LmRunOptions, LmTrainee, LmTrainer};
use hotflip::train::{self, Sample, StopReason, Tokens, VocabOptions};
use hotflip::Rng;

use super::common::{announce_backend, DataArgs};
use super::train::{default_min_count, Arch, Preset};
use super::CliResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum LmArch {
    /// One forward LM (the classifier's LSTM).
    LstmClassifier,
    /// A forward and a backward LM (the tagger's two directions).
    BilstmTagger,
}

#[derive(Args)]
pub struct PretrainLmArgs {
    /// The architecture whose embedding and LSTM are pre-trained.
    #[arg(long, value_enum)]
    arch: LmArch,
    #[command(flatten)]
    data: DataArgs,
    /// Model size (as `train`).
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    /// Output: DIR/best (lowest dev perplexity), DIR/last (resumable),
    /// DIR/lm_log.jsonl.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Epochs in all (a resumed run counts those already done).
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Stop after this many minutes in all, resumes included (checked
    /// between steps; the partial epoch is evaluated).
    #[arg(long, value_name = "M")]
    minutes: Option<f64>,
    /// Continue the run in --out from its last saved state (same settings).
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Sampled-softmax negatives per batch (unigram^0.75 proposal).
    #[arg(long, default_value_t = 1024)]
    samples: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, default_value_t = 0.9998)]
    lr_decay: f32,
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Dropout probability on the embedded words (default: the preset's).
    #[arg(long)]
    dropout: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// As `train` (the vocabulary must be the one the classifier/tagger will build).
    #[arg(long)]
    keep_case: bool,
    /// As `train` (default: 2 for bilstm_tagger, 1 for lstm_classifier).
    #[arg(long)]
    min_count: Option<usize>,
    #[arg(long)]
    max_vocab: Option<usize>,
}

fn sentences(samples: &[Sample]) -> Vec<Vec<usize>> {
    samples
        .iter()
        .filter_map(|s| match &s.tokens {
            Tokens::Words(w) if !w.is_empty() => Some(w.clone()),
            _ => None,
        })
        .collect()
}

/// The labels of a classification or tagging set (a language model has
/// no use for a translation set).
fn labels_of(data: &hotflip::data::AnyDataset) -> CliResult<Vec<String>> {
    match data {
        hotflip::data::AnyDataset::Classification(d) => Ok(d.labels.clone()),
        hotflip::data::AnyDataset::Tagging(d) => Ok(d.labels.clone()),
        hotflip::data::AnyDataset::Translation(d) => Err(format!("`{}` is a translation data set", d.name).into()),
    }
}

/// The classifier's or tagger's sizes for `v` words (the preset's, with
/// `--dropout`), its config, and how many LMs (directions) it pre-trains.
fn model_config(a: &PretrainLmArgs, v: usize, classes: usize) -> (LstmTextConfig, ModelConfig, usize) {
    let mut c = match a.preset {
        Preset::Small => LstmTextConfig::small(v, classes),
        Preset::Paper => LstmTextConfig::paper(v, classes),
    };
    if let Some(p) = a.dropout {
        c.dropout = p;
    }
    match a.arch {
        LmArch::LstmClassifier => (c.clone(), ModelConfig::LstmClassifier(c), 1),
        LmArch::BilstmTagger => (c.clone(), ModelConfig::BilstmTagger(c), 2),
    }
}

pub fn run(a: PretrainLmArgs, threads: usize, backend: &Backend, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if a.batch == 0 || a.epochs == 0 || a.samples == 0 {
        return Err("--batch, --epochs and --samples must be at least 1".into());
    }
    if a.minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
        return Err("--minutes must be positive".into());
    }
    announce_backend(threads, backend);
    let data = a.data.load()?;
    let arch = match a.arch {
        LmArch::LstmClassifier => Arch::LstmClassifier,
        LmArch::BilstmTagger => Arch::BilstmTagger,
    };
    let lowercase = !a.keep_case;
    let opts =
        VocabOptions { lowercase, min_count: a.min_count.unwrap_or(default_min_count(arch)), max_size: a.max_vocab };
    let vocab = train::build_vocab(false, &data, opts)?;
    let labels = labels_of(&data)?;
    let v = vocab.vocab.len();
    let (c, cfg, dirs) = model_config(&a, v, labels.len());
    let encoded = train::encode(&data, &vocab, lowercase, &cfg)?;
    let (tr, dev) = (sentences(&encoded.train), sentences(&encoded.dev));
    let mut store = ParamStore::new();
    let mut rng = Rng::new(a.seed);
    let model = Model::new(&cfg, &mut store, &mut rng)?;
    train::set_embedding_frequencies(&mut store, &encoded.train)?;
    let head = LmHead::new(v, c.lstm_hidden, dirs, &mut rng)?;
    let proposal = Proposal::new(&lm::counts(&tr, v))?;
    let lm_opts = LmOptions {
        batch: a.batch,
        samples: a.samples,
        adam: AdamConfig { lr: a.lr, decay: a.lr_decay, ..AdamConfig::default() },
        clip: (a.clip > 0.0).then_some(a.clip),
        seed: a.seed,
    };
    eprintln!(
        "pretrain-lm: {} ({:?} preset, {} LM{}), vocabulary {v} words, {} train / {} dev sentences, sampled softmax with {} negatives",
        cfg.arch(),
        a.preset,
        if dirs == 2 { "forward + backward" } else { "forward" },
        if dirs == 2 { "s" } else { "" },
        tr.len(),
        dev.len(),
        a.samples
    );
    let config = CheckpointConfig {
        model: cfg.clone(),
        labels,
        lowercase,
        dataset: Some(data.name().to_string()),
        training: serde_json::json!({"pretrain_lm": {"samples": a.samples, "directions": dirs}}),
    };
    let mut trainee = LmTrainee { model, store, head, config, vocab };
    let trainer = LmTrainer {
        out: a.out.clone(),
        opts: LmRunOptions {
            epochs: a.epochs,
            minutes: a.minutes,
            lm: lm_opts,
            save_every: Duration::from_secs(300),
            progress: !a.no_progress,
        },
        train: &tr,
        dev: &dev,
        proposal: &proposal,
        max_words: c.max_words,
        interrupt,
        after_step: None,
    };
    let s = trainer.run(&mut trainee, a.resume)?;
    if s.stopped == StopReason::Interrupted {
        return Err(super::Interrupted(format!(
            "interrupted: state saved in {}; continue with the same command and --resume",
            a.out.join("last").display()
        ))
        .into());
    }
    eprintln!(
        "done ({:?}) after {:.2} epochs, {:.1} min: best dev perplexity {:.1} (epoch {:.2}) -> {}",
        s.stopped,
        s.epochs,
        s.minutes,
        s.best_perplexity.unwrap_or(f64::NAN),
        s.best_epoch.unwrap_or(f64::NAN),
        s.best_dir.display()
    );
    Ok(())
}
