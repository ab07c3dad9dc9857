//! Training `char_nmt` with teacher forcing: Adam with joint gradient
//! clipping (the classification trainer's `optim` pieces), dev metric =
//! corpus BLEU of greedy decoding on the validation split, best-on-dev
//! checkpoint in `best/`, a resumable `last/` (weights, Adam state,
//! `trainer.json`) saved every few minutes, at every evaluation and on
//! interruption, a time budget, and one `train_log.jsonl` line per
//! evaluation (the learning curve). What `last/` holds, the resume checks,
//! the progress bar and the throughput span are the classification
//! trainer's (`train::resume`, `train::progress`); the loop itself is its
//! own (teacher-forced batches, BLEU on dev, no early stopping).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
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
use crate::train::progress::{epoch_bar, Span};
use crate::train::resume::{self, resume_settings};
use crate::train::{collect_grads, StopReason, BEST, LAST, LOG};

#[derive(Clone, Debug)]
pub struct NmtTrainOptions {
    pub epochs: u64,
    pub minutes: Option<f64>,
    pub batch: usize,
    pub eval_batch: usize,
    /// Also evaluate every this many steps (besides every epoch end).
    pub eval_every: Option<u64>,
    pub adam: AdamConfig,
    pub clip: Option<f32>,
    pub seed: u64,
    pub save_every: Duration,
    pub progress: bool,
}

/// A model in training with what its checkpoints carry.
pub struct NmtTrainee {
    pub model: CharNmt,
    pub store: ParamStore,
    pub config: NmtConfigFile,
    pub vocab: NmtVocab,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct State {
    epoch: u64,
    batch: usize,
    step: u64,
    elapsed_s: f64,
    best_bleu: Option<f64>,
    best_epoch: Option<f64>,
    seed: u64,
    loss_ema: Option<f64>,
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
    dev_bleu: f64,
    best: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct NmtTrainSummary {
    pub stopped: StopReason,
    pub epochs: f64,
    pub steps: u64,
    pub minutes: f64,
    pub best_epoch: Option<f64>,
    pub best_dev_bleu: Option<f64>,
    pub best_dir: PathBuf,
}

pub struct NmtTrainer<'a> {
    pub out: PathBuf,
    pub opts: NmtTrainOptions,
    pub train: &'a [NmtExample],
    pub dev: &'a [NmtExample],
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
    pub fn run(&self, t: &mut NmtTrainee, resume: bool) -> Result<NmtTrainSummary> {
        let opts = &self.opts;
        if self.train.is_empty() || self.dev.is_empty() {
            return Err(Error::invalid("train", "the training and dev splits must not be empty"));
        }
        let last_dir = self.out.join(LAST);
        let mut adam = Adam::new(opts.adam)?;
        let mut st = State {
            epoch: 0,
            batch: 0,
            step: 0,
            elapsed_s: 0.0,
            best_bleu: None,
            best_epoch: None,
            seed: opts.seed,
            loss_ema: None,
            settings: resume_settings(opts.batch, &opts.adam, opts.clip, None),
        };
        if resume {
            st = self.restore(t, &mut adam)?;
            eprintln!(
                "resuming {} at epoch {} batch {} (step {})",
                last_dir.display(),
                st.epoch + 1,
                st.batch,
                st.step
            );
        } else {
            resume::check_fresh(&self.out)?;
        }
        let start = Instant::now();
        let base = st.elapsed_s;
        let now = || base + start.elapsed().as_secs_f64();
        let c = t.model.config.clone();
        let mut last_save = Instant::now();
        let mut span = Span::default();
        let mut stopped = StopReason::Epochs;
        let mut plan_len = 1;
        'epochs: while st.epoch < opts.epochs {
            let plan = epoch_batches(self.train, opts.batch, opts.seed, st.epoch);
            plan_len = plan.len().max(1);
            let bar = self.bar(plan.len(), st.epoch, st.batch);
            while st.batch < plan.len() {
                if self.interrupt.load(Ordering::Relaxed) {
                    bar.abandon();
                    stopped = StopReason::Interrupted;
                    st.elapsed_s = now();
                    self.save_last(t, &adam, &st)?;
                    break 'epochs;
                }
                if opts.minutes.is_some_and(|m| now() >= m * 60.0) {
                    bar.abandon();
                    stopped = StopReason::TimeBudget;
                    break 'epochs;
                }
                let t0 = Instant::now();
                let (x, y) = make_batch(self.train, &plan[st.batch], c.max_word_len, c.max_src_words, c.max_tgt_words)?;
                let tape = Tape::new();
                let p = tape.bind(&t.store);
                let mode = Mode::train(Rng::derive(opts.seed, st.step).next_u64());
                let loss_var = t.model.loss(&tape, &p, &x, &y, mode)?;
                let loss = tape.value(loss_var)?.item()?;
                if !loss.is_finite() {
                    return Err(Error::invalid(
                        "train",
                        format!("the loss became {loss} at step {}; lower --lr and start again (or --resume)", st.step),
                    ));
                }
                let mut grads = tape.backward(loss_var)?;
                let mut g = collect_grads(&p, &mut grads, &t.store);
                if let Some(max) = opts.clip {
                    clip_grad_norm(&mut g, max);
                }
                adam.step(&mut t.store, &g)?;
                st.step += 1;
                st.batch += 1;
                span.units += y.tokens();
                span.secs += t0.elapsed().as_secs_f64();
                let ema = st.loss_ema.map_or(loss as f64, |e| 0.98 * e + 0.02 * loss as f64);
                st.loss_ema = Some(ema);
                bar.set_position(st.batch as u64);
                bar.set_message(format!("loss {ema:.3}  {:.0} tok/s", span.per_s()));
                if opts.eval_every.is_some_and(|k| k > 0 && st.step.is_multiple_of(k)) && st.batch < plan.len() {
                    let ep = st.epoch as f64 + st.batch as f64 / plan_len as f64;
                    self.evaluate_and_log(t, &mut st, &adam, now(), &mut span, ep)?;
                    st.elapsed_s = now();
                    self.save_last(t, &adam, &st)?;
                    last_save = Instant::now();
                }
                if last_save.elapsed() >= opts.save_every {
                    st.elapsed_s = now();
                    self.save_last(t, &adam, &st)?;
                    last_save = Instant::now();
                }
            }
            bar.finish_and_clear();
            st.epoch += 1;
            st.batch = 0;
            let ep = st.epoch as f64;
            self.evaluate_and_log(t, &mut st, &adam, now(), &mut span, ep)?;
            st.elapsed_s = now();
            self.save_last(t, &adam, &st)?;
            last_save = Instant::now();
        }
        if stopped == StopReason::TimeBudget && (st.batch > 0 || st.best_bleu.is_none()) {
            let ep = st.epoch as f64 + st.batch as f64 / plan_len as f64;
            self.evaluate_and_log(t, &mut st, &adam, now(), &mut span, ep)?;
            st.elapsed_s = now();
            self.save_last(t, &adam, &st)?;
        }
        Ok(NmtTrainSummary {
            stopped,
            epochs: st.epoch as f64 + st.batch as f64 / plan_len as f64,
            steps: st.step,
            minutes: now() / 60.0,
            best_epoch: st.best_epoch,
            best_dev_bleu: st.best_bleu,
            best_dir: self.out.join(BEST),
        })
    }

    fn bar(&self, len: usize, epoch: u64, pos: usize) -> ProgressBar {
        epoch_bar(self.opts.progress, len, epoch, self.opts.epochs, pos)
    }

    fn evaluate_and_log(
        &self,
        t: &NmtTrainee,
        st: &mut State,
        adam: &Adam,
        elapsed_s: f64,
        span: &mut Span,
        epoch: f64,
    ) -> Result<()> {
        let dev = bleu_of(&t.model, &t.store, &t.vocab, self.dev, 1, self.opts.eval_batch)?;
        let better = st.best_bleu.is_none_or(|b| dev > b);
        if better {
            st.best_bleu = Some(dev);
            st.best_epoch = Some(epoch);
            let mut cfg = t.config.clone();
            cfg.training = serde_json::json!({
                "epoch": epoch, "step": st.step, "minutes": elapsed_s / 60.0, "seed": st.seed,
                "dev_bleu_greedy": dev,
            });
            nmt_ck::save(&self.out.join(BEST), &cfg, &t.vocab, &t.store, &[])?;
        }
        let line = LogLine {
            epoch,
            step: st.step,
            minutes: elapsed_s / 60.0,
            lr: adam.current_lr(),
            train_loss: st.loss_ema,
            tgt_tokens_per_s: span.per_s(),
            train_s: span.secs,
            dev_bleu: dev,
            best: better,
        };
        *span = Span::default();
        let json = serde_json::to_string(&line).map_err(|e| Error::invalid("train log", e.to_string()))?;
        atomic::append_line(&self.out.join(LOG), &json)?;
        eprintln!(
            "epoch {epoch:.2}: loss {:.4}, dev BLEU (greedy) {dev:.2}{} ({:.1} min)",
            st.loss_ema.unwrap_or(f64::NAN),
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
        resume::load_optimizer(&dir, adam, &ck.store, st.step)?;
        t.store = ck.store;
        t.model = ck.model;
        t.vocab = ck.vocab;
        Ok(st)
    }
}
