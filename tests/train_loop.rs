//! The training loop through the library API, on a tiny synthetic task where
//! the label says whether a keyword occurs: learning, exact resume after a
//! finished run and after an interruption, the time budget, early stopping,
//! and the errors a user can run into.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hotflip::checkpoint::{self, tensors, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::optim::AdamConfig;
use hotflip::train::{
    Batch, Encoded, Objective, Plain, Sample, StepContext, StepResult, StopReason, Target, Tokens, TrainOptions,
    TrainSummary, Trainee, Trainer, BEST, LAST, LOG,
};
use hotflip::{Error, Rng};

/// Words `w0..w{N_WORDS-1}` plus the keyword; ids 0 and 1 are PAD and UNK.
const N_WORDS: usize = 30;
const KEYWORD: usize = 2 + N_WORDS;
const VOCAB: usize = KEYWORD + 1;
/// Training batches per epoch (256 samples / batch 16).
const STEPS_PER_EPOCH: u64 = 16;

/// Sentences of 3..10 random words; half get the keyword at a random place
/// and are labelled 1.
fn split(n: usize, rng: &mut Rng) -> Vec<Sample> {
    (0..n)
        .map(|index| {
            let len = 3 + rng.below(8);
            let mut ids: Vec<usize> = (0..len).map(|_| 2 + rng.below(N_WORDS)).collect();
            let label = rng.below(2);
            if label == 1 {
                let at = rng.below(len);
                ids[at] = KEYWORD;
            }
            Sample { tokens: Tokens::Words(ids), target: Target::Class(label), index }
        })
        .collect()
}

fn keyword_task() -> Encoded {
    let mut rng = Rng::new(7);
    Encoded { train: split(256, &mut rng), dev: split(64, &mut rng), test: split(128, &mut rng), dropped_empty: [0; 3] }
}

fn trainee(seed: u64) -> Trainee {
    let cfg = ModelConfig::WordCnn(WordCnnConfig {
        vocab: VOCAB,
        n_classes: 2,
        embed_dim: 8,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![6, 6],
        // Dropout on, so that resuming must also reproduce the masks.
        dropout: 0.3,
        max_words: 20,
    });
    let mut store = ParamStore::new();
    let model = Model::new(&cfg, &mut store, &mut Rng::new(seed)).expect("a valid config");
    let mut tokens: Vec<String> = (0..N_WORDS).map(|i| format!("w{i}")).collect();
    tokens.push("keyword".into());
    let vocab = ModelVocab::new(Vocab::from_tokens(VocabKind::Words, tokens).expect("distinct tokens"), None)
        .expect("a word vocabulary");
    let config = CheckpointConfig {
        model: cfg,
        labels: vec!["absent".into(), "present".into()],
        lowercase: true,
        dataset: Some("keyword".into()),
        training: serde_json::Value::Null,
    };
    Trainee { model, store, config, vocab }
}

fn options(epochs: u64) -> TrainOptions {
    TrainOptions {
        epochs,
        batch: 16,
        eval_batch: 64,
        adam: AdamConfig { lr: 1e-2, ..AdamConfig::default() },
        progress: false,
        ..TrainOptions::default()
    }
}

fn run_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("hotflip-train-{name}-")).tempdir().expect("a temporary directory")
}

fn train(
    out: &Path,
    data: &Encoded,
    opts: TrainOptions,
    objective: &mut dyn Objective,
    resume: bool,
    interrupt: Arc<AtomicBool>,
) -> hotflip::Result<TrainSummary> {
    let trainer = Trainer { out: out.to_path_buf(), opts, data, interrupt };
    trainer.run(&mut trainee(0), objective, resume)
}

fn train_plain(out: &Path, data: &Encoded, opts: TrainOptions, resume: bool) -> hotflip::Result<TrainSummary> {
    train(out, data, opts, &mut Plain, resume, Arc::new(AtomicBool::new(false)))
}

/// Asserts that two safetensors files hold the same tensors, bit for bit.
fn assert_same_tensors(a: &Path, b: &Path) {
    let ta = tensors::load(a).unwrap_or_else(|e| panic!("{e}"));
    let tb = tensors::load(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ta.len(), tb.len(), "{} vs {}", a.display(), b.display());
    for ((na, xa), (nb, xb)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        assert_eq!(xa.shape(), xb.shape(), "{na}");
        let same = xa.data().iter().zip(xb.data()).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "tensor {na} differs between {} and {} (max |diff| {:?})", a.display(), b.display(), {
            xa.max_abs_diff(xb)
        });
    }
}

/// `last/` and `best/` of two runs hold identical weights and optimizer state.
fn assert_same_run(a: &Path, b: &Path) {
    for file in [format!("{BEST}/model.safetensors"), format!("{LAST}/model.safetensors")] {
        assert_same_tensors(&a.join(&file), &b.join(&file));
    }
    assert_same_tensors(&a.join(LAST).join("optimizer.safetensors"), &b.join(LAST).join("optimizer.safetensors"));
    assert_eq!(trainer_state(a, "step"), trainer_state(b, "step"));
    assert_eq!(trainer_state(a, "best_epoch"), trainer_state(b, "best_epoch"));
    assert_eq!(log_lines(a).len(), log_lines(b).len());
}

fn trainer_state(run: &Path, field: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join(LAST).join("trainer.json")).expect("last/trainer.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v[field].clone()
}

fn log_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join(LOG))
        .expect("train_log.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn keyword_task_is_learned_well_above_chance() {
    // Kim's small embedding init starts on a plateau of a few epochs.
    const EPOCHS: u64 = 12;
    let data = keyword_task();
    let dir = run_dir("learn");
    let s = train_plain(dir.path(), &data, options(EPOCHS), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::Epochs);
    assert_eq!(s.steps, EPOCHS * STEPS_PER_EPOCH);
    let test = s.test.expect("the best checkpoint is scored on test");
    // Chance is 0.5; a width-1 filter can find the keyword exactly.
    assert!(test.accuracy >= 0.9, "test accuracy {} after {EPOCHS} epochs", test.accuracy);
    assert_eq!(test.n, data.test.len());
    // The learning curve is logged, one line per epoch, and the loss fell.
    let log = log_lines(dir.path());
    assert_eq!(log.len() as u64, EPOCHS);
    let first = log[0]["train_loss"].as_f64().expect("a loss");
    let last = log[log.len() - 1]["train_loss"].as_f64().expect("a loss");
    // Throughput covers the epoch's own training: all 256 documents.
    for line in &log {
        let (rate, secs) = (line["docs_per_s"].as_f64().expect("a rate"), line["train_s"].as_f64().expect("seconds"));
        assert!(secs > 0.0 && (rate * secs - 256.0).abs() < 1e-6, "{line}");
    }
    // (`train_loss` is a slow moving average, 0.98 per step.)
    assert!(last < 0.75 * first, "train loss {first} -> {last}");
    // best/ is a loadable checkpoint that scores what the summary says.
    let best = checkpoint::load(&dir.path().join(BEST)).unwrap_or_else(|e| panic!("{e}"));
    let again = hotflip::train::evaluate(&best.model, &best.store, &data.test, 64).expect("evaluation");
    assert_eq!(again.accuracy, test.accuracy);
}

#[test]
fn resuming_a_finished_run_with_more_epochs_equals_training_straight_through() {
    let data = keyword_task();
    let straight = run_dir("straight");
    train_plain(straight.path(), &data, options(4), false).unwrap_or_else(|e| panic!("{e}"));
    let split = run_dir("split");
    let first = train_plain(split.path(), &data, options(2), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.steps, 2 * STEPS_PER_EPOCH);
    let second = train_plain(split.path(), &data, options(4), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.stopped, StopReason::Epochs);
    assert_eq!(second.steps, 4 * STEPS_PER_EPOCH);
    assert_same_run(straight.path(), split.path());
}

/// Plain training that raises the interrupt flag during step `at`, as a
/// Ctrl-C arriving mid-step would.
struct InterruptAt {
    at: u64,
    flag: Arc<AtomicBool>,
}

impl Objective for InterruptAt {
    fn name(&self) -> String {
        Plain.name()
    }

    fn step(&mut self, ctx: &StepContext<'_>, batch: &Batch) -> hotflip::Result<StepResult> {
        if ctx.step == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        Plain.step(ctx, batch)
    }
}

#[test]
fn interruption_saves_mid_epoch_and_resuming_finishes_like_an_uninterrupted_run() {
    let data = keyword_task();
    let straight = run_dir("uninterrupted");
    train_plain(straight.path(), &data, options(3), false).unwrap_or_else(|e| panic!("{e}"));

    let cut = run_dir("interrupted");
    let flag = Arc::new(AtomicBool::new(false));
    // Step 20 is the fifth batch of the second epoch: the step completes,
    // then the loop sees the flag before the sixth batch.
    let mut objective = InterruptAt { at: STEPS_PER_EPOCH + 4, flag: Arc::clone(&flag) };
    let s = train(cut.path(), &data, options(3), &mut objective, false, flag).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::Interrupted);
    assert_eq!(s.steps, STEPS_PER_EPOCH + 5);
    assert_eq!(s.epochs, 1.0 + 5.0 / STEPS_PER_EPOCH as f64);
    assert!(s.test.is_none(), "an interrupted run is not scored on test");
    assert_eq!(trainer_state(cut.path(), "epoch"), 1, "0-based epoch in progress");
    assert_eq!(trainer_state(cut.path(), "batch"), 5, "next batch of that epoch");
    assert_eq!(trainer_state(cut.path(), "step"), STEPS_PER_EPOCH + 5);
    // Only the first epoch was evaluated.
    assert_eq!(log_lines(cut.path()).len(), 1);

    let s = train_plain(cut.path(), &data, options(3), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::Epochs);
    assert_eq!(s.steps, 3 * STEPS_PER_EPOCH);
    assert_same_run(straight.path(), cut.path());
}

#[test]
fn time_budget_stops_early_and_still_writes_best() {
    let data = keyword_task();
    let dir = run_dir("budget");
    let opts = TrainOptions { minutes: Some(0.002), ..options(100_000) };
    let s = train_plain(dir.path(), &data, opts, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::TimeBudget);
    assert!(s.epochs < 100_000.0);
    assert!(dir.path().join(BEST).join("model.safetensors").exists());
    assert!(s.test.is_some(), "the best checkpoint is scored on test");
    // The partial epoch was evaluated too, and last/ can continue it.
    let log = log_lines(dir.path());
    let last = log.last().expect("at least one evaluation");
    assert_eq!(last["epoch"].as_f64(), Some(s.epochs));
    assert_eq!(s.epochs, s.steps as f64 / STEPS_PER_EPOCH as f64);
    assert_eq!(trainer_state(dir.path(), "step"), s.steps);
}

#[test]
fn a_budget_spent_before_the_first_step_still_evaluates_and_writes_best() {
    let data = keyword_task();
    let dir = run_dir("budget-zero");
    let opts = TrainOptions { minutes: Some(1e-9), ..options(5) };
    let s = train_plain(dir.path(), &data, opts, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::TimeBudget);
    assert_eq!((s.steps, s.epochs), (0, 0.0));
    assert!(dir.path().join(BEST).join("model.safetensors").exists());
    assert_eq!(log_lines(dir.path()).len(), 1);
}

#[test]
fn early_stopping_stops_after_patience_evaluations_without_improvement() {
    let data = keyword_task();
    let dir = run_dir("patience");
    let opts = TrainOptions { patience: Some(2), ..options(200) };
    let s = train_plain(dir.path(), &data, opts, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stopped, StopReason::EarlyStopping);
    let best = s.best_epoch.expect("a best epoch");
    assert_eq!(s.epochs, best + 2.0, "stops two epochs after the best");
    assert!(s.epochs < 200.0);
    let log = log_lines(dir.path());
    assert_eq!(log.len() as f64, s.epochs);
    assert!(!log[log.len() - 1]["best"].as_bool().expect("a flag"));
}

#[test]
fn refuses_to_overwrite_a_run_without_resume() {
    let data = keyword_task();
    let dir = run_dir("overwrite");
    train_plain(dir.path(), &data, options(1), false).unwrap_or_else(|e| panic!("{e}"));
    let before = std::fs::read(dir.path().join(LAST).join("model.safetensors")).expect("last/ weights");
    let err = train_plain(dir.path(), &data, options(1), false).expect_err("a second run into the same --out");
    let msg = err.to_string();
    assert!(matches!(err, Error::Checkpoint { .. }), "{msg}");
    assert!(msg.contains("already holds a training run") && msg.contains("--resume"), "{msg}");
    let after = std::fs::read(dir.path().join(LAST).join("model.safetensors")).expect("last/ weights");
    assert_eq!(before, after, "the refused run must not touch the old one");
}

#[test]
fn resume_without_a_saved_run_says_there_is_nothing_to_resume() {
    let data = keyword_task();
    let dir = run_dir("empty");
    let err = train_plain(dir.path(), &data, options(1), true).expect_err("nothing to resume");
    let msg = err.to_string();
    assert!(msg.contains("nothing to resume"), "{msg}");
    assert!(msg.contains("without --resume"), "{msg}");
}

#[test]
fn resume_with_another_seed_is_refused() {
    let data = keyword_task();
    let dir = run_dir("seed");
    train_plain(dir.path(), &data, options(1), false).unwrap_or_else(|e| panic!("{e}"));
    let opts = TrainOptions { seed: 5, ..options(2) };
    let err = train_plain(dir.path(), &data, opts, true).expect_err("another seed");
    assert!(err.to_string().contains("seed 0"), "{err}");
}

#[test]
fn a_diverging_loss_is_an_error_naming_the_step() {
    let data = keyword_task();
    let dir = run_dir("nan");
    let opts =
        TrainOptions { adam: AdamConfig { lr: 1e30, decay: 1.0, ..AdamConfig::default() }, clip: None, ..options(3) };
    let err = train_plain(dir.path(), &data, opts, false).expect_err("lr 1e30 diverges");
    let msg = err.to_string();
    // Adam moves every weight by about lr on the first step: step 1 overflows.
    assert!(msg.contains("the loss became") && msg.contains("at step 1 (epoch 1)"), "{msg}");
    assert!(msg.contains("lower --lr"), "{msg}");
}

/// Largest L2 norm of a row of `classifier.weight` in a checkpoint.
fn max_classifier_row_norm(ck: &Path) -> f32 {
    let loaded = checkpoint::load(ck).unwrap_or_else(|e| panic!("{e}"));
    let w = loaded.store.by_name("classifier.weight").expect("an output layer");
    let cols = w.shape()[1];
    w.data().chunks(cols).map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt()).fold(0.0, f32::max)
}

#[test]
fn max_norm_bounds_the_classifier_rows() {
    let data = keyword_task();
    let free = run_dir("no-max-norm");
    train_plain(free.path(), &data, options(12), false).unwrap_or_else(|e| panic!("{e}"));
    // Without the constraint the rows grow past the limit used below…
    let unconstrained = max_classifier_row_norm(&free.path().join(LAST));
    assert!(unconstrained > 0.4, "{unconstrained}");
    let held = run_dir("max-norm");
    let opts = TrainOptions { max_norm: Some(0.4), ..options(12) };
    let s = train_plain(held.path(), &data, opts, false).unwrap_or_else(|e| panic!("{e}"));
    // …and with it every row stays within it, while the task is still learned.
    for dir in [BEST, LAST] {
        let n = max_classifier_row_norm(&held.path().join(dir));
        assert!(n <= 0.4 + 1e-5, "{dir}: row norm {n}");
    }
    assert!(s.test.expect("scored").accuracy >= 0.9);
}
