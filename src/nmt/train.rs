//! Training `char_nmt` with teacher forcing: Adam with joint gradient
//! clipping (the classification trainer's `optim` pieces), dev metric =
//! corpus BLEU of greedy decoding on the validation split, best-on-dev
//! checkpoint in `best/`, a resumable `last/` (weights, Adam state,
//! `trainer.json`) saved every few minutes, at every evaluation and on
//! interruption, a time budget, and one `train_log.jsonl` line per
//! evaluation (the learning curve). The loop (`train::epochs`), what
//! `last/` holds and the resume checks (`train::resume`), the progress bar
//! and the throughput span (`train::progress`) are the classification
//! trainer's; this module says what a step (teacher forcing), an
//! evaluation (BLEU on dev) and a checkpoint (`nmt::checkpoint`) are.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bleu::corpus_bleu;
use crate::checkpoint::atomic;
use crate::error::{Error, Result};
use crate::models::char_nmt::CharNmt;
use crate::models::Mode;
use crate::nmt::checkpoint::{self as nmt_ck, NmtConfigFile};
use crate::nmt::data::{epoch_batches, make_batch, NmtExample};
use crate::nmt::decode::translate;
use crate::nmt::NmtVocab;
use crate::nn::ParamStore;
use crate::optim::{clip_grad_norm, Adam, AdamConfig, Optimizer};
use crate::rng::Rng;
use crate::tape::Tape;
use crate::train::epochs::{epochs_done, run_epochs, LoopOptions, Position, Session as LoopSession};
use crate::train::progress::Span;
use crate::train::resume::{self, resume_settings};
use crate::train::{collect_grads, StopReason, BEST, LAST, LOG};

/// Settings of a `char_nmt` training run. Those that change the optimisation
/// (batch, Adam, clipping, seed) must match when resuming.
#[derive(Clone, Debug)]
pub struct NmtTrainOptions {
    /// Epochs in all (a resumed run counts those already done).
    pub epochs: u64,
    /// Wall-time budget in minutes, counted across resumes; the run stops after
    /// a last evaluation once it is spent.
    pub minutes: Option<f64>,
    /// Sentence pairs per training batch.
    pub batch: usize,
    /// Sentences per batch when translating the dev split for BLEU.
    pub eval_batch: usize,
    /// Also evaluate every this many steps (besides every epoch end).
    pub eval_every: Option<u64>,
    /// Learning rate and Adam hyper-parameters.
    pub adam: AdamConfig,
    /// Clip the joint gradient norm (over all parameters) to this, if set.
    pub clip: Option<f32>,
    /// Seeds batch order and dropout; a resumed run must use the same seed.
    pub seed: u64,
    /// Save `last/` at least this often (it is also saved at every evaluation
    /// and on interruption).
    pub save_every: Duration,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// A model in training with what its checkpoints carry.
pub struct NmtTrainee {
    /// The model structure.
    pub model: CharNmt,
    /// Its weights, updated in place by training (the latest, not the best).
    pub store: ParamStore,
    /// The `config.json` written into every checkpoint.
    pub config: NmtConfigFile,
    /// The vocabularies written into every checkpoint.
    pub vocab: NmtVocab,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct State {
    #[serde(flatten)]
    pos: Position,
    best_bleu: Option<f64>,
    best_epoch: Option<f64>,
    seed: u64,
    /// The settings a resumed run must share, by flag (absent in states
    /// written before they were recorded).
    #[serde(default)]
    settings: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LogLine {
    epoch: f64,
    step: u64,
    minutes: f64,
    lr: f32,
    train_loss: Option<f64>,
    /// Real target tokens (`</s>` included) per second of training steps
    /// since the previous evaluation.
    tgt_tokens_per_s: f64,
    train_s: f64,
    /// CPU seconds the process spent in those training steps (all its
    /// threads): a rate that stays comparable on a shared machine.
    train_cpu_s: f64,
    dev_bleu: f64,
    best: bool,
}

/// How a `char_nmt` run ended, and where the best model is.
#[derive(Clone, Debug, Serialize)]
pub struct NmtTrainSummary {
    /// Why training stopped.
    pub stopped: StopReason,
    /// Epochs trained, a partial last one counted by its share of batches.
    pub epochs: f64,
    /// Optimiser steps in all (across resumes).
    pub steps: u64,
    /// Wall time in minutes, across resumes.
    pub minutes: f64,
    /// Epoch (fractional) of the best dev BLEU, if any evaluation ran.
    pub best_epoch: Option<f64>,
    /// Best greedy-decoding corpus BLEU on dev (0–100).
    pub best_dev_bleu: Option<f64>,
    /// The best-on-dev checkpoint directory (`out/best`).
    pub best_dir: PathBuf,
}

/// A `char_nmt` training run: where it writes and on which data.
pub struct NmtTrainer<'a> {
    /// Output directory: `best/`, `last/` and `train_log.jsonl` go here.
    pub out: PathBuf,
    /// The run's settings.
    pub opts: NmtTrainOptions,
    /// Training pairs (pairs with an empty side are skipped).
    pub train: &'a [NmtExample],
    /// Dev pairs, translated greedily for BLEU at every evaluation.
    pub dev: &'a [NmtExample],
    /// Set to stop cleanly: `last/` is saved and `run` returns `Interrupted`.
    pub interrupt: Arc<AtomicBool>,
}

/// Corpus BLEU of `model`'s translations of `examples` (beam `beam`).
pub fn bleu_of(
    model: &CharNmt,
    store: &ParamStore,
    vocab: &NmtVocab,
    examples: &[NmtExample],
    beam: usize,
    batch: usize,
) -> Result<f64> {
    let mut hyps = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch.max(1)) {
        let srcs: Vec<Vec<Vec<usize>>> = chunk.iter().map(|e| e.src_chars.clone()).collect();
        for t in translate(model, store, &srcs, beam)? {
            hyps.push(vocab.decode_tgt(&t.ids));
        }
    }
    let refs: Vec<&str> = examples.iter().map(|e| e.reference.as_str()).collect();
    Ok(corpus_bleu(&hyps, &refs)?.bleu)
}

impl NmtTrainer<'_> {
    /// Trains `t` until the epochs or the time budget run out, or until
    /// interrupted. With `resume`, restarts from `out/last` (which must have
    /// been written with the same model config, seed and optimisation
    /// settings); without, `out` must not hold a resumable run. Errors on empty
    /// splits or a non-finite loss.
    pub fn run(&self, t: &mut NmtTrainee, resume: bool) -> Result<NmtTrainSummary> {
        let opts = &self.opts;
        if self.train.is_empty() || self.dev.is_empty() {
            return Err(Error::invalid("train", "the training and dev splits must not be empty"));
        }
        let last_dir = self.out.join(LAST);
        let mut adam = Adam::new(opts.adam)?;
        let mut st = State {
            pos: Position::default(),
            best_bleu: None,
            best_epoch: None,
            seed: opts.seed,
            settings: resume_settings(opts.batch, &opts.adam, opts.clip, None),
        };
        if resume {
            st = self.restore(t, &mut adam)?;
            eprintln!(
                "resuming {} at epoch {} batch {} (step {})",
                last_dir.display(),
                st.pos.epoch + 1,
                st.pos.batch,
                st.pos.step
            );
        } else {
            resume::check_fresh(&self.out)?;
        }
        let (start, base) = (Instant::now(), st.pos.elapsed_s);
        let per_epoch = epoch_batches(self.train, opts.batch, opts.seed, 0).len().max(1);
        let mut session = Session { trainer: self, t, adam, st, plan: Vec::new(), per_epoch, span_cpu_s: 0.0 };
        let loop_opts = LoopOptions {
            epochs: opts.epochs,
            minutes: opts.minutes,
            eval_every: opts.eval_every,
            save_every: opts.save_every,
            progress: opts.progress,
            unit: "tok",
        };
        let stopped = run_epochs(&mut session, &loop_opts, &self.interrupt)?;
        let st = session.st;
        Ok(NmtTrainSummary {
            stopped,
            epochs: epochs_done(&st.pos, per_epoch),
            steps: st.pos.step,
            minutes: (base + start.elapsed().as_secs_f64()) / 60.0,
            best_epoch: st.best_epoch,
            best_dev_bleu: st.best_bleu,
            best_dir: self.out.join(BEST),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_and_log(
        &self,
        t: &NmtTrainee,
        st: &mut State,
        adam: &Adam,
        elapsed_s: f64,
        span: &mut Span,
        epoch: f64,
        train_cpu_s: f64,
    ) -> Result<()> {
        let dev = bleu_of(&t.model, &t.store, &t.vocab, self.dev, 1, self.opts.eval_batch)?;
        let better = st.best_bleu.is_none_or(|b| dev > b);
        if better {
            st.best_bleu = Some(dev);
            st.best_epoch = Some(epoch);
            let mut cfg = t.config.clone();
            cfg.training = serde_json::json!({
                "epoch": epoch, "step": st.pos.step, "minutes": elapsed_s / 60.0, "seed": st.seed,
                "dev_bleu_greedy": dev,
            });
            nmt_ck::save(&self.out.join(BEST), &cfg, &t.vocab, &t.store, &[])?;
        }
        let line = LogLine {
            epoch,
            step: st.pos.step,
            minutes: elapsed_s / 60.0,
            lr: adam.current_lr(),
            train_loss: st.pos.loss_ema,
            tgt_tokens_per_s: span.per_s(),
            train_s: span.secs,
            train_cpu_s,
            dev_bleu: dev,
            best: better,
        };
        *span = Span::default();
        let json = serde_json::to_string(&line).map_err(|e| Error::invalid("train log", e.to_string()))?;
        atomic::append_line(&self.out.join(LOG), &json)?;
        eprintln!(
            "epoch {epoch:.2}: loss {:.4}, dev BLEU (greedy) {dev:.2}{} ({:.1} min)",
            st.pos.loss_ema.unwrap_or(f64::NAN),
            if better { " *best*" } else { "" },
            elapsed_s / 60.0
        );
        Ok(())
    }

    fn save_last(&self, t: &NmtTrainee, adam: &Adam, st: &State) -> Result<()> {
        let dir = self.out.join(LAST);
        let files = resume::state_files(&dir, adam, &t.store, st)?;
        nmt_ck::save(&dir, &t.config, &t.vocab, &t.store, &files)
    }

    fn restore(&self, t: &mut NmtTrainee, adam: &mut Adam) -> Result<State> {
        let dir = self.out.join(LAST);
        let mut st: State = resume::read_state(&self.out)?;
        let ck = nmt_ck::load(&dir)?;
        if ck.config.model != t.config.model {
            return Err(Error::Checkpoint {
                path: dir,
                msg: "was trained with another configuration than this command asks for".into(),
            });
        }
        if st.seed != self.opts.seed {
            return Err(Error::Checkpoint {
                path: dir,
                msg: format!("was trained with seed {}; this command asks for {}", st.seed, self.opts.seed),
            });
        }
        let now = resume_settings(self.opts.batch, &self.opts.adam, self.opts.clip, None);
        resume::check_settings(&dir, &st.settings, &now)?;
        st.settings = now;
        resume::load_optimizer(&dir, adam, &ck.store, st.pos.step)?;
        t.store = ck.store;
        t.model = ck.model;
        t.vocab = ck.vocab;
        Ok(st)
    }
}

/// One `char_nmt` run as the shared loop drives it.
struct Session<'r, 'd> {
    trainer: &'r NmtTrainer<'d>,
    t: &'r mut NmtTrainee,
    adam: Adam,
    st: State,
    plan: Vec<Vec<usize>>,
    per_epoch: usize,
    /// Process CPU seconds spent in steps since the last evaluation.
    span_cpu_s: f64,
}

/// CPU seconds this process has used, all threads (0 if the clock is
/// unavailable: the figure is informational).
fn process_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    } else {
        0.0
    }
}

impl LoopSession for Session<'_, '_> {
    fn position(&mut self) -> &mut Position {
        &mut self.st.pos
    }

    fn batches_per_epoch(&self) -> usize {
        self.per_epoch
    }

    fn plan(&mut self, epoch: u64) -> Result<usize> {
        let o = &self.trainer.opts;
        self.plan = epoch_batches(self.trainer.train, o.batch, o.seed, epoch);
        Ok(self.plan.len())
    }

    fn step(&mut self, batch: usize) -> Result<(f32, usize)> {
        let cpu0 = process_cpu_s();
        let out = self.train_step(batch);
        self.span_cpu_s += process_cpu_s() - cpu0;
        out
    }

    fn evaluate(&mut self, epoch: f64, elapsed_s: f64, span: &mut Span) -> Result<()> {
        let cpu = std::mem::take(&mut self.span_cpu_s);
        self.trainer.evaluate_and_log(self.t, &mut self.st, &self.adam, elapsed_s, span, epoch, cpu)
    }

    fn has_best(&self) -> bool {
        self.st.best_bleu.is_some()
    }

    fn save_last(&mut self) -> Result<()> {
        self.trainer.save_last(self.t, &self.adam, &self.st)
    }
}

impl Session<'_, '_> {
    /// One teacher-forced Adam step on batch `batch` of the epoch's plan.
    fn train_step(&mut self, batch: usize) -> Result<(f32, usize)> {
        let (o, step) = (&self.trainer.opts, self.st.pos.step);
        let c = &self.t.model.config;
        let (x, y) =
            make_batch(self.trainer.train, &self.plan[batch], c.max_word_len, c.max_src_words, c.max_tgt_words)?;
        let tape = Tape::new();
        let p = tape.bind(&self.t.store);
        let mode = Mode::train(Rng::derive(o.seed, step).next_u64());
        let loss_var = self.t.model.loss(&tape, &p, &x, &y, mode)?;
        let loss = tape.value(loss_var)?.item()?;
        if !loss.is_finite() {
            return Err(Error::invalid(
                "train",
                format!("the loss became {loss} at step {step}; lower --lr and start again (or --resume)"),
            ));
        }
        let mut grads = tape.backward(loss_var)?;
        let mut g = collect_grads(&p, &mut grads, &self.t.store);
        if let Some(max) = o.clip {
            clip_grad_norm(&mut g, max);
        }
        self.adam.step(&mut self.t.store, &g)?;
        Ok((loss, y.tokens()))
    }
}
