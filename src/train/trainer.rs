//! The training loop: bucketed batches, an objective, Adam with clipping,
//! evaluation on dev after every epoch, best-on-dev checkpointing, early
//! stopping, a time budget, and a resumable state saved at every epoch end,
//! every few minutes and on interruption.
//!
//! A run directory holds
//! - `best/`: the checkpoint with the best dev score (MODELS.md format);
//! - `last/`: the latest weights plus `optimizer.safetensors` and
//!   `trainer.json`, enough to continue exactly where it stopped;
//! - `train_log.jsonl`: one line per evaluation (the learning curve).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointConfig};
use crate::data::ModelVocab;
use crate::error::{Error, Result};
use crate::models::{Mode, Model};
use crate::nn::ParamStore;
use crate::optim::{Adam, AdamConfig, Optimizer};
use crate::rng::Rng;
use crate::train::batches::{epoch_plan, Batch};
use crate::train::device_step::{self, DeviceObjective, DeviceUpdater, OnDevice};
use crate::train::epochs::{epochs_done, run_epochs, LoopOptions, Position, Session as LoopSession};
use crate::train::metrics::{evaluate, evaluate_at, Metrics};
use crate::train::objective::Objective;
use crate::train::progress::Span;
use crate::train::resume::{self, STATE_FILE};
use crate::train::samples::{Encoded, Sample};
use crate::train::step::Updater;
use crate::util::atomic;

/// Subdirectory of the output directory holding the best-on-dev checkpoint.
pub const BEST: &str = "best";
/// Subdirectory holding the resumable checkpoint (weights, optimiser state,
/// `trainer.json`), rewritten during the run.
pub const LAST: &str = "last";
/// The learning curve: one JSON line per evaluation, in the output directory.
pub const LOG: &str = "train_log.jsonl";

/// Settings of a classification or tagging run. Those that change the
/// optimisation (batch, Adam, clipping, max-norm, seed) must match when
/// resuming.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Epochs in all (a resumed run counts those already done).
    pub epochs: u64,
    /// Stop (after a final dev evaluation) once this much wall time has passed.
    pub minutes: Option<f64>,
    /// Examples per training batch.
    pub batch: usize,
    /// Examples per batch when evaluating dev and test (a memory and speed
    /// setting).
    pub eval_batch: usize,
    /// Learning rate and Adam hyper-parameters.
    pub adam: AdamConfig,
    /// Joint gradient-norm limit.
    pub clip: Option<f32>,
    /// Max-norm constraint (Kim 2014): after every step, each row of
    /// `classifier.weight` (one class's weight vector) is scaled back to
    /// this L2 norm if it grew beyond it.
    pub max_norm: Option<f32>,
    /// Stop after this many evaluations without a better dev score.
    pub patience: Option<usize>,
    /// Seeds batch order and dropout; a resumed run must use the same seed.
    pub seed: u64,
    /// Also score the test split at every evaluation (for learning curves;
    /// never used to select the model).
    pub eval_test: bool,
    /// Save `last/` at least this often.
    pub save_every: Duration,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            minutes: None,
            batch: 32,
            eval_batch: 128,
            adam: AdamConfig::default(),
            clip: Some(5.0),
            max_norm: None,
            patience: None,
            seed: 0,
            eval_test: false,
            save_every: Duration::from_secs(300),
            progress: true,
        }
    }
}

/// Why a training run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All requested epochs were trained.
    Epochs,
    /// The `minutes` budget was spent.
    TimeBudget,
    /// `patience` evaluations in a row did not improve the dev score.
    EarlyStopping,
    /// The interrupt flag was set; `last/` was saved, so the run can resume.
    Interrupted,
}

/// How a run ended, the best dev figures, and where the best model is.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    /// Why training stopped.
    pub stopped: StopReason,
    /// Epochs trained, a partial last one counted by its share of batches.
    pub epochs: f64,
    /// Optimiser steps in all (across resumes).
    pub steps: u64,
    /// Wall time in minutes, across resumes.
    pub minutes: f64,
    /// Epoch (fractional) of the best dev score, if any evaluation ran.
    pub best_epoch: Option<f64>,
    /// Dev figures of the best checkpoint (selected by `Metrics::score`).
    pub best_dev: Option<Metrics>,
    /// Test figures of the best checkpoint (absent when interrupted).
    pub test: Option<Metrics>,
    /// The best-on-dev checkpoint directory (`out/best`).
    pub best_dir: PathBuf,
}

/// What `last/trainer.json` records to continue a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct TrainState {
    /// The epoch in progress, the next batch of it, steps, time, loss.
    #[serde(flatten)]
    pos: Position,
    best_score: Option<f64>,
    best_epoch: Option<f64>,
    bad_evals: usize,
    seed: u64,
    objective: String,
    /// The settings a resumed run must share, by flag (`--batch`, `--lr`, …);
    /// absent in states written before they were recorded.
    #[serde(default)]
    settings: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The training settings a resume must not change, by their flags.
fn resume_settings(opts: &TrainOptions) -> std::collections::BTreeMap<String, serde_json::Value> {
    resume::resume_settings(opts.batch, &opts.adam, opts.clip, opts.max_norm)
}

/// The first key whose value differs between two JSON objects, with both
/// values (`null` where one lacks it).
fn first_difference(old: &serde_json::Value, new: &serde_json::Value) -> Option<(String, String, String)> {
    let (a, b) = (old.as_object()?, new.as_object()?);
    let null = serde_json::Value::Null;
    a.keys().chain(b.keys()).find_map(|k| {
        let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
        (x != y).then(|| (k.clone(), x.to_string(), y.to_string()))
    })
}

/// One line of `train_log.jsonl`.
#[derive(Serialize)]
struct LogLine<'a> {
    epoch: f64,
    step: u64,
    minutes: f64,
    lr: f32,
    train_loss: Option<f64>,
    /// Training documents per second of training steps since the previous
    /// evaluation.
    docs_per_s: f64,
    /// Seconds spent in training steps since the previous evaluation (an
    /// epoch's training time, without evaluation and saving).
    train_s: f64,
    dev: &'a Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<&'a Metrics>,
    best: bool,
}

/// A model being trained and everything its checkpoints carry.
pub struct Trainee {
    /// The model structure.
    pub model: Model,
    /// Its weights, updated in place by training (the latest, not the best).
    pub store: ParamStore,
    /// The `config.json` written into every checkpoint.
    pub config: CheckpointConfig,
    /// The vocabulary written into every checkpoint.
    pub vocab: ModelVocab,
}

/// A training run: where it writes, with which settings, on which data.
pub struct Trainer<'a> {
    /// Output directory: `best/`, `last/` and `train_log.jsonl` go here.
    pub out: PathBuf,
    /// The run's settings.
    pub opts: TrainOptions,
    /// The encoded splits (dev selects the model; test is scored at the end).
    pub data: &'a Encoded,
    /// Set to stop cleanly: `last/` is saved and the run returns `Interrupted`.
    pub interrupt: Arc<AtomicBool>,
}

fn mix(seed: u64, step: u64) -> u64 {
    Rng::derive(seed, step).next_u64()
}

impl Trainer<'_> {
    /// Trains `t` with `objective`, continuing `out/last` if `resume`.
    pub fn run(&self, t: &mut Trainee, objective: &mut dyn Objective, resume: bool) -> Result<TrainSummary> {
        self.run_on(t, objective, resume, None)
    }

    /// [`Trainer::run`] with the steps on `device` when given (weights and
    /// Adam's moments resident there, downloaded for every evaluation and
    /// save: `train::device_step`); an architecture or objective that does
    /// not train on a device yet is an error, never a silent CPU run.
    pub fn run_on(
        &self,
        t: &mut Trainee,
        objective: &mut dyn Objective,
        resume: bool,
        device: Option<OnDevice>,
    ) -> Result<TrainSummary> {
        let opts = &self.opts;
        if let Some(on) = &device {
            if let Some(why) = device_step::unsupported_arch(t.model.config().arch()) {
                return Err(Error::invalid("train", why));
            }
            if on.objective.name() != objective.name() {
                return Err(Error::invalid(
                    "train",
                    format!("the device objective `{}` is not the run's `{}`", on.objective.name(), objective.name()),
                ));
            }
        }
        if self.data.train.is_empty() || self.data.dev.is_empty() {
            return Err(Error::invalid("train", "the training and dev splits must not be empty"));
        }
        let last_dir = self.out.join(LAST);
        let mut updater = Updater { adam: Adam::new(opts.adam)?, clip: opts.clip, max_norm: opts.max_norm };
        let mut state = TrainState {
            pos: Position::default(),
            best_score: None,
            best_epoch: None,
            bad_evals: 0,
            seed: opts.seed,
            objective: objective.name(),
            settings: resume_settings(opts),
        };
        if resume {
            state = self.restore(t, &mut updater.adam, &objective.name())?;
            eprintln!(
                "resuming {} at epoch {} batch {} (step {}, {:.1} min so far)",
                last_dir.display(),
                state.pos.epoch + 1,
                state.pos.batch,
                state.pos.step,
                state.pos.elapsed_s / 60.0
            );
        } else {
            resume::check_fresh(&self.out)?;
        }
        let device = match device {
            Some(on) => Some((
                DeviceUpdater::new(on.device, &t.model, &t.store, &updater.adam, opts.clip, opts.max_norm)?,
                on.objective,
            )),
            None => None,
        };
        let (start, base) = (Instant::now(), state.pos.elapsed_s);
        let lengths: Vec<usize> = self.data.train.iter().map(Sample::len).collect();
        let cfg = t.model.config();
        let min_len = t.model.min_len();
        let mut session = Session {
            trainer: self,
            // Every epoch has the same number of batches: `epoch_plan` cuts
            // pools that are whole multiples of the batch size.
            per_epoch: lengths.len().div_ceil(opts.batch.max(1)).max(1),
            lengths,
            plan: Vec::new(),
            cfg,
            min_len,
            t,
            objective,
            updater,
            device,
            state,
            best_metrics: None,
        };
        let loop_opts = LoopOptions {
            epochs: opts.epochs,
            minutes: opts.minutes,
            eval_every: None,
            save_every: opts.save_every,
            progress: opts.progress,
            unit: "docs",
        };
        let stopped = run_epochs(&mut session, &loop_opts, &self.interrupt)?;
        session.sync()?;
        let (state, mut best_metrics) = (session.state, session.best_metrics);
        let best_dir = self.out.join(BEST);
        let minutes = (base + start.elapsed().as_secs_f64()) / 60.0;
        let epochs = epochs_done(&state.pos, session.per_epoch);
        if best_metrics.is_none() && best_dir.exists() {
            // Resumed, and nothing beat the earlier best: report that one.
            let cfg = checkpoint::load_config(&best_dir)?;
            best_metrics = cfg.training.get("dev").and_then(|v| serde_json::from_value(v.clone()).ok());
        }
        let test = if stopped == StopReason::Interrupted || !best_dir.exists() {
            None
        } else {
            let best = checkpoint::load(&best_dir)?;
            let threshold = dev_threshold(best_metrics.as_ref());
            Some(evaluate_at(&best.model, &best.store, &self.data.test, opts.eval_batch, threshold)?)
        };
        Ok(TrainSummary {
            stopped,
            epochs,
            steps: state.pos.step,
            minutes,
            best_epoch: state.best_epoch,
            best_dev: best_metrics,
            test,
            best_dir,
        })
    }

    /// Scores dev (and test if asked), logs a line, saves `best/` when dev
    /// improves. Returns the dev metrics when they are the new best.
    /// `span` (the training since the previous evaluation) is logged and reset.
    /// `scored`: dev's (and test's) figures when the caller computed them
    /// (on the training device), else they are computed here on the host
    /// from `t`; `lr` is the optimiser's current rate.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_and_log(
        &self,
        t: &Trainee,
        state: &mut TrainState,
        lr: f32,
        elapsed_s: f64,
        span: &mut Span,
        epoch: f64,
        scored: Option<Scored>,
    ) -> Result<Option<Metrics>> {
        let Scored { dev, test } = match scored {
            Some(s) => s,
            None => {
                let dev = evaluate(&t.model, &t.store, &self.data.dev, self.opts.eval_batch)?;
                let test = if self.opts.eval_test {
                    let threshold = dev_threshold(Some(&dev));
                    Some(evaluate_at(&t.model, &t.store, &self.data.test, self.opts.eval_batch, threshold)?)
                } else {
                    None
                };
                Scored { dev, test }
            }
        };
        let score = dev.score();
        let better = state.best_score.is_none_or(|b| score > b);
        if better {
            state.best_score = Some(score);
            state.best_epoch = Some(epoch);
            state.bad_evals = 0;
            let mut cfg = t.config.clone();
            cfg.training = serde_json::json!({
                "objective": state.objective,
                "epoch": epoch,
                "step": state.pos.step,
                "minutes": elapsed_s / 60.0,
                "seed": state.seed,
                "dev": dev,
            });
            checkpoint::save(&self.out.join(BEST), &cfg, &t.vocab, &t.store, &[])?;
        } else {
            state.bad_evals += 1;
        }
        let line = LogLine {
            epoch,
            step: state.pos.step,
            minutes: elapsed_s / 60.0,
            lr,
            train_loss: state.pos.loss_ema,
            docs_per_s: span.per_s(),
            train_s: span.secs,
            dev: &dev,
            test: test.as_ref(),
            best: better,
        };
        let json = serde_json::to_string(&line).map_err(|e| Error::invalid("train log", e.to_string()))?;
        *span = Span::default();
        atomic::append_line(&self.out.join(LOG), &json)?;
        let metric = if dev.f05.is_some() { "F0.5" } else { "accuracy" };
        let ap = |m: &Metrics| m.average_precision.map(|a| format!(" (AP {a:.4})")).unwrap_or_default();
        eprintln!(
            "epoch {epoch:.2}: loss {:.4}, dev {metric} {:.4}{}{}{} ({:.1} min)",
            state.pos.loss_ema.unwrap_or(f64::NAN),
            score,
            ap(&dev),
            test.as_ref().map(|m| format!(", test {metric} {:.4}{}", m.score(), ap(m))).unwrap_or_default(),
            if better { " *best*" } else { "" },
            elapsed_s / 60.0
        );
        Ok(better.then_some(dev))
    }

    fn save_last(&self, t: &Trainee, adam: &Adam, state: &TrainState) -> Result<()> {
        let dir = self.out.join(LAST);
        let files = resume::state_files(&dir, adam, &t.store, state)?;
        checkpoint::save(&dir, &t.config, &t.vocab, &t.store, &files)
    }

    fn restore(&self, t: &mut Trainee, adam: &mut Adam, objective: &str) -> Result<TrainState> {
        let dir = self.out.join(LAST);
        let mut state: TrainState = resume::read_state(&self.out)?;
        let ck = checkpoint::load(&dir)?;
        if ck.config.model != t.config.model || ck.config.labels != t.config.labels {
            let as_json = |c: &checkpoint::CheckpointConfig| {
                let mut v = serde_json::to_value(&c.model).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("labels".into(), serde_json::json!(c.labels));
                }
                v
            };
            let what = first_difference(&as_json(&ck.config), &as_json(&t.config))
                .map_or_else(String::new, |(k, old, new)| format!(": `{k}` was {old}, this command asks for {new}"));
            return Err(Error::Checkpoint {
                path: dir,
                msg: format!("was trained with another architecture, size or label set{what}"),
            });
        }
        if state.objective != objective || state.seed != self.opts.seed {
            return Err(Error::Checkpoint {
                path: dir,
                msg: format!(
                    "was trained with objective `{}` and seed {}; this command asks for `{objective}` and seed {}",
                    state.objective, state.seed, self.opts.seed
                ),
            });
        }
        let now = resume_settings(&self.opts);
        resume::check_settings(&dir, &state.settings, &now)?;
        state.settings = now;
        resume::load_optimizer(&dir, adam, &ck.store, state.pos.step)?;
        t.store = ck.store;
        t.model = ck.model;
        t.vocab = ck.vocab;
        Ok(state)
    }
}

/// One classification or tagging run as the shared loop drives it.
struct Session<'r, 'd> {
    trainer: &'r Trainer<'d>,
    t: &'r mut Trainee,
    objective: &'r mut dyn Objective,
    updater: Updater,
    /// The steps' device, when training there (`updater.adam` and the
    /// store are then synced from it before they are read).
    device: Option<(DeviceUpdater, Box<dyn DeviceObjective>)>,
    state: TrainState,
    lengths: Vec<usize>,
    per_epoch: usize,
    plan: Vec<Vec<usize>>,
    cfg: crate::models::ModelConfig,
    min_len: usize,
    /// Dev metrics of a new best found in this session.
    best_metrics: Option<Metrics>,
}

/// One evaluation's figures: dev's, and test's with `--eval-test`.
struct Scored {
    dev: Metrics,
    test: Option<Metrics>,
}

impl Session<'_, '_> {
    /// Dev (and test, at dev's threshold) scored with the device's weights.
    fn score_on_device(&self, d: &DeviceUpdater) -> Result<Scored> {
        let (data, opts) = (&self.trainer.data, &self.trainer.opts);
        let eval = |samples: &[Sample], threshold| {
            device_step::evaluate_at(d.model(), &self.cfg, self.min_len, samples, opts.eval_batch, threshold)
        };
        let dev = eval(&data.dev, None)?;
        let test = if opts.eval_test { Some(eval(&data.test, dev_threshold(Some(&dev)))?) } else { None };
        Ok(Scored { dev, test })
    }

    /// Brings the device's weights and moments to the host store and Adam.
    fn sync(&mut self) -> Result<()> {
        match &mut self.device {
            Some((d, _)) => d.sync(&mut self.t.store, &mut self.updater.adam),
            None => Ok(()),
        }
    }
}

impl LoopSession for Session<'_, '_> {
    fn position(&mut self) -> &mut Position {
        &mut self.state.pos
    }

    fn batches_per_epoch(&self) -> usize {
        self.per_epoch
    }

    fn plan(&mut self, epoch: u64) -> Result<usize> {
        let o = &self.trainer.opts;
        self.plan = epoch_plan(&self.lengths, o.batch, o.seed, epoch);
        Ok(self.plan.len())
    }

    fn step(&mut self, batch: usize) -> Result<(f32, usize)> {
        let (o, pos) = (&self.trainer.opts, &self.state.pos);
        let b = Batch::make(&self.trainer.data.train, &self.plan[batch], &self.cfg, self.min_len)?;
        let mode = Mode::train(mix(o.seed, pos.step));
        let loss = match &mut self.device {
            Some((d, objective)) => d.step(objective.as_mut(), &b, mode, pos.step)?,
            None => self.updater.step(self.objective, &self.t.model, &mut self.t.store, &b, mode, pos.step)?,
        };
        if !loss.is_finite() {
            let last_dir = self.trainer.out.join(LAST);
            let advice = if last_dir.join(STATE_FILE).exists() {
                format!("lower --lr and continue from {} with --resume, or start again", last_dir.display())
            } else {
                "lower --lr and start again".to_string()
            };
            return Err(Error::invalid(
                "train",
                format!("the loss became {loss} at step {} (epoch {}); {advice}", pos.step, pos.epoch + 1),
            ));
        }
        Ok((loss, b.len()))
    }

    fn evaluate(&mut self, epoch: f64, elapsed_s: f64, span: &mut Span) -> Result<()> {
        // On a device, dev (and test) are scored there; the weights come
        // to the host only when `best/` is to be saved.
        let (scored, lr) = match &self.device {
            Some((d, _)) => (Some(self.score_on_device(d)?), d.current_lr()),
            None => (None, self.updater.adam.current_lr()),
        };
        if scored.as_ref().is_some_and(|s| self.state.best_score.is_none_or(|b| s.dev.score() > b)) {
            self.sync()?;
        }
        let best = self.trainer.evaluate_and_log(self.t, &mut self.state, lr, elapsed_s, span, epoch, scored)?;
        if best.is_some() {
            self.best_metrics = best;
        }
        Ok(())
    }

    fn has_best(&self) -> bool {
        self.state.best_score.is_some()
    }

    fn stop_early(&self) -> bool {
        self.trainer.opts.patience.is_some_and(|p| self.state.bad_evals >= p)
    }

    fn save_last(&mut self) -> Result<()> {
        self.sync()?;
        self.trainer.save_last(self.t, &self.updater.adam, &self.state)
    }
}

/// The threshold on P(`i`) that dev's figures chose (taggers only).
fn dev_threshold(dev: Option<&Metrics>) -> Option<f64> {
    dev.and_then(|m| m.best_threshold).map(|b| b.threshold)
}

/// The run directory's best checkpoint, or the directory itself if it is a
/// checkpoint: what `--model DIR` accepts.
pub fn resolve_model_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join(checkpoint::CONFIG_FILE).exists() {
        return Ok(dir.to_path_buf());
    }
    let best = dir.join(BEST);
    if best.join(checkpoint::CONFIG_FILE).exists() {
        return Ok(best);
    }
    Err(Error::Checkpoint {
        path: dir.to_path_buf(),
        msg: format!("neither a checkpoint (no {}) nor a training run (no {BEST}/)", checkpoint::CONFIG_FILE),
    })
}
