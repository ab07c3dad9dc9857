//! `hotflip train`: trains one of the four architectures on a data set.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod, FlipKind, FlipTraining};
use hotflip::ops::neighbours::AlphaScope;
use hotflip::optim::AdamConfig;
use hotflip::train::{self, Objective, Plain, StopReason, TrainOptions, TrainSpec};

use super::common::{announce_backend, DataArgs};
use super::CliResult;
use hotflip::backend::{CudaDevice, Device};
use hotflip::cuda::Backend;
use hotflip::train::device_step::{DeviceObjective, DevicePlain};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Arch {
    CharCnnLstm,
    WordCnn,
    LstmClassifier,
    BilstmTagger,
    /// Character-level translation (HotFlip §4.2; --dataset multi30k --src de --tgt en).
    CharNmt,
}

impl Arch {
    /// The name `--arch` takes (and `ModelConfig::arch` gives).
    fn name(self) -> &'static str {
        match self {
            Arch::CharCnnLstm => "char_cnn_lstm",
            Arch::WordCnn => "word_cnn",
            Arch::LstmClassifier => "lstm_classifier",
            Arch::BilstmTagger => "bilstm_tagger",
            Arch::CharNmt => "char_nmt",
        }
    }

    /// The library's architecture for the classifiers and the tagger;
    /// char_nmt trains through its own loop (`translate::train_nmt`).
    fn classifier(self) -> CliResult<train::Arch> {
        Ok(match self {
            Arch::CharCnnLstm => train::Arch::CharCnnLstm,
            Arch::WordCnn => train::Arch::WordCnn,
            Arch::LstmClassifier => train::Arch::LstmClassifier,
            Arch::BilstmTagger => train::Arch::BilstmTagger,
            Arch::CharNmt => return Err("char_nmt is trained by its own loop (translate::train_nmt)".into()),
        })
    }
}

impl From<Preset> for train::Preset {
    fn from(p: Preset) -> Self {
        match p {
            Preset::Small => train::Preset::Small,
            Preset::Paper => train::Preset::Paper,
        }
    }
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
    /// VAT / iVAT: the norm ξ of the power iteration's random start (Miyato et al.'s 0.1 unless given).
    #[arg(long)]
    xi: Option<f32>,
    /// Normalise iAdvT's α per example (Sato et al.) or per position.
    #[arg(long, value_enum, default_value = "example")]
    alpha_scope: ScopeArg,
    /// HotFlip training: share of characters flipped per example.
    #[arg(long, default_value_t = 0.2)]
    flip_fraction: f32,
    /// HotFlip training: at most this many flips in one word (default: no cap).
    #[arg(long)]
    flips_per_word: Option<usize>,
    /// char_nmt: source language (multi30k: de or en).
    #[arg(long, default_value = "de")]
    src: String,
    /// char_nmt: target language.
    #[arg(long, default_value = "en")]
    tgt: String,
    /// char_nmt: also evaluate dev BLEU every this many steps (learning curves).
    #[arg(long, value_name = "STEPS")]
    eval_every: Option<u64>,
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

/// The embedding-space adversary `--adv` and its settings name.
fn embedding_adversary(a: &TrainArgs, m: EmbeddingMethod) -> EmbeddingAdversary {
    let mut o = EmbeddingAdversary::paper(m, a.seed);
    if let Some(e) = a.epsilon {
        o.epsilon = e;
    }
    o.lambda = a.lambda;
    o.neighbours = a.neighbours;
    if let Some(xi) = a.xi {
        o.xi = xi;
    }
    o.scope = match a.alpha_scope {
        ScopeArg::Example => AlphaScope::PerExample,
        ScopeArg::Position => AlphaScope::PerPosition,
    };
    o
}

fn objective(a: &TrainArgs) -> CliResult<Box<dyn Objective>> {
    let emb = |m: EmbeddingMethod| -> Box<dyn Objective> { Box::new(embedding_adversary(a, m)) };
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
        && a.xi.is_none_or(|x| x > 0.0 && x.is_finite())
        && a.lambda >= 0.0
        && a.lambda.is_finite()
        && a.neighbours > 0;
    if !ok {
        return Err("--epsilon and --xi must be positive, --lambda non-negative, --neighbours at least 1".into());
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

/// `--min-count` unless given: 5 for characters, 2 for the tagger (so UNK
/// is trained) and for char_nmt, 1 for the other word models.
pub fn default_min_count(arch: Arch) -> usize {
    arch.classifier().map(train::Arch::default_min_count).unwrap_or(2)
}

/// Training needs examples in every split (dev picks the model, test gives
/// the reported figure): an empty one is an error naming it and its files.
fn check_splits(data: &hotflip::data::AnyDataset) -> CliResult<()> {
    use hotflip::data::AnyDataset;
    let sizes = match data {
        AnyDataset::Classification(d) => d.sizes(),
        AnyDataset::Tagging(d) => d.sizes(),
        AnyDataset::Translation(d) => d.sizes(),
    };
    match ["train", "dev", "test"].iter().zip(sizes).find(|(_, n)| *n == 0) {
        Some((which, _)) => Err(data.empty_split(which).into()),
        None => Ok(()),
    }
}

/// Rejects flag values no training can use.
fn check_args(a: &TrainArgs) -> CliResult<()> {
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
    if let Some(p) = a.dropout.filter(|p| !(0.0..1.0).contains(p)) {
        return Err(format!("--dropout {p} must be in [0, 1)").into());
    }
    Ok(())
}

/// Where the training steps run: `None` for the CPU engine; with a GPU
/// selected, the device and the objective's device version if this
/// architecture and objective train there, else an error saying what does
/// not (never a silent CPU run).
fn training_device(
    a: &TrainArgs,
    objective: String,
    threads: usize,
    backend: &Backend,
    auto: bool,
) -> CliResult<Option<train::device_step::OnDevice>> {
    let Some(gpu) = backend.gpu() else {
        announce_backend(threads, backend);
        return Ok(None);
    };
    if let Some(why) = train::device_step::unsupported_arch(a.arch.name()) {
        return cpu_instead(why, auto, threads);
    }
    let on_device: Box<dyn DeviceObjective> = match a.adv {
        AdvArg::None => Box::new(DevicePlain),
        AdvArg::Hotflip => {
            let mut o = FlipTraining::paper(FlipKind::Chars);
            o.fraction = a.flip_fraction;
            o.per_word = a.flips_per_word;
            Box::new(o)
        }
        AdvArg::WordSem | AdvArg::WordUnk
            if matches!(a.arch, Arch::LstmClassifier | Arch::BilstmTagger | Arch::WordCnn) =>
        {
            Box::new(FlipTraining::paper(if a.adv == AdvArg::WordSem { FlipKind::WordSem } else { FlipKind::WordUnk }))
        }
        AdvArg::Advt
        | AdvArg::Iadvt
        | AdvArg::Vat
        | AdvArg::Ivat
        | AdvArg::Random
        | AdvArg::IadvtRand
        | AdvArg::IadvtBest
            if matches!(a.arch, Arch::LstmClassifier | Arch::BilstmTagger | Arch::WordCnn) =>
        {
            let method = match a.adv {
                AdvArg::Advt => EmbeddingMethod::AdvT,
                AdvArg::Iadvt => EmbeddingMethod::IAdvT,
                AdvArg::Vat => EmbeddingMethod::Vat,
                AdvArg::Random => EmbeddingMethod::Random,
                AdvArg::IadvtRand => EmbeddingMethod::IAdvTRand,
                AdvArg::IadvtBest => EmbeddingMethod::IAdvTBest,
                _ => EmbeddingMethod::IVat,
            };
            Box::new(embedding_adversary(a, method))
        }
        _ => return cpu_instead(train::device_step::unsupported_objective(&objective), auto, threads),
    };
    eprintln!(
        "backend: cuda ({}{}) for the training steps (forward/backward, clipping, Adam) and the dev evaluations",
        gpu.info().name,
        if gpu.is_emulated() { ", emulated on the CPU" } else { "" }
    );
    let device: Arc<dyn Device> = Arc::new(CudaDevice::new(gpu.clone()));
    Ok(Some(train::device_step::OnDevice { device, objective: on_device }))
}

/// What a run the GPU cannot take yet does: an error when the GPU was asked
/// for by name (`--device cuda`), the CPU with one line under `auto`, as
/// `auto` does when there is no GPU.
fn cpu_instead<T>(why: String, auto: bool, threads: usize) -> CliResult<Option<T>> {
    if !auto {
        return Err(why.into());
    }
    eprintln!("backend: cpu, {threads} threads for training (--device auto: {why})");
    Ok(None)
}

/// `--arch char_nmt`: the translation model trains through its own loop.
fn train_translation(
    a: TrainArgs,
    threads: usize,
    backend: &Backend,
    auto: bool,
    interrupt: Arc<AtomicBool>,
) -> CliResult<()> {
    if a.adv != AdvArg::None || a.init.is_some() || a.init_vectors.is_some() || a.max_norm.is_some() {
        return Err("--arch char_nmt trains plainly: --adv, --init, --init-vectors and --max-norm do not apply".into());
    }
    if let Some(why) = backend.gpu().and_then(|_| train::device_step::unsupported_arch("char_nmt")) {
        cpu_instead::<()>(why, auto, threads)?;
    }
    announce_backend(threads, backend);
    let r = super::translate::NmtTrainRequest {
        data: a.data,
        paper: a.preset == Preset::Paper,
        src: a.src,
        tgt: a.tgt,
        out: a.out,
        epochs: a.epochs,
        minutes: a.minutes,
        batch: a.batch,
        lr: a.lr,
        lr_decay: a.lr_decay,
        clip: a.clip,
        dropout: a.dropout,
        seed: a.seed,
        min_count: a.min_count,
        max_vocab: a.max_vocab,
        eval_every: a.eval_every,
        resume: a.resume,
        progress: !a.no_progress,
    };
    super::translate::train_nmt(r, interrupt)
}

/// What `train::run_resumable` needs, from the flags.
fn spec(a: &TrainArgs) -> CliResult<TrainSpec> {
    Ok(TrainSpec {
        arch: a.arch.classifier()?,
        preset: a.preset.into(),
        dropout: a.dropout,
        lowercase: !a.keep_case,
        min_count: a.min_count,
        max_vocab: a.max_vocab,
        init: a.init.clone(),
        init_vectors: a.init_vectors.clone(),
        init_lm: a.init_lm.clone(),
        out: a.out.clone(),
        resume: a.resume,
        options: TrainOptions {
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
        },
    })
}

/// `auto`: `--device auto` chose the backend, so what the GPU cannot train
/// yet falls back to the CPU with one line instead of failing.
pub fn run(a: TrainArgs, threads: usize, backend: &Backend, auto: bool, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    check_args(&a)?;
    if a.arch == Arch::CharNmt {
        return train_translation(a, threads, backend, auto, interrupt);
    }
    let mut objective = objective(&a)?;
    let device = training_device(&a, objective.name(), threads, backend, auto)?;
    let data = a.data.load()?;
    let spec = spec(&a)?;
    check_splits(&data)?;
    let summary = train::run_resumable_on(&data, &spec, objective.as_mut(), interrupt, device)?;
    match summary.stopped {
        StopReason::Interrupted => {
            return Err(super::Interrupted(format!(
                "interrupted: state saved in {}; continue with the same command and --resume",
                a.out.join("last").display()
            ))
            .into());
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

#[cfg(test)]
mod tests {
    use super::cpu_instead;

    #[test]
    fn what_the_gpu_cannot_train_fails_by_name_and_falls_back_under_auto() {
        let why = "char_nmt does not train on the GPU yet".to_string();
        let named = cpu_instead::<()>(why.clone(), false, 2);
        assert!(named.as_ref().is_err_and(|e| e.to_string() == why), "--device cuda must fail: {named:?}");
        assert!(matches!(cpu_instead::<()>(why, true, 2), Ok(None)), "--device auto must fall back to the CPU");
    }
}
