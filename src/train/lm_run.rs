//! A language-model pre-training run (`hotflip pretrain-lm`) on the loop
//! every trainer shares (`train::epochs`): a time budget, interruption,
//! a resumable `last/` saved every few minutes, at every evaluation and on
//! interruption, the progress bar and one `lm_log.jsonl` line per
//! evaluation. This module says what a step (`train::lm::train_step`), an
//! evaluation (full-softmax dev perplexity) and a checkpoint are.
//!
//! `best/` is a checkpoint of the classifier's or tagger's architecture
//! (what `train --init-lm` reads); `last/` adds the LM heads' weights and
//! both optimisers' state, so that `--resume` continues exactly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, tensors, CheckpointConfig};
use crate::data::ModelVocab;
use crate::error::{Error, Result};
use crate::models::{Mode, Model, WordBatch};
use crate::optim::{Adam, Optimizer};
use crate::rng::Rng;
use crate::train::batches::epoch_plan;
use crate::train::epochs::{epochs_done, run_epochs, LoopOptions, Position, Session as LoopSession};
use crate::train::lm::{perplexity, train_step, LmHead, LmOptions, Proposal};
use crate::train::progress::Span;
use crate::train::resume::{self, resume_settings};
use crate::train::{StopReason, BEST, LAST};
use crate::util::atomic;

/// The learning curve of a pre-training run: one line per evaluation.
pub const LM_LOG: &str = "lm_log.jsonl";
/// The heads' weights in `last/`.
pub const HEAD_FILE: &str = "lm_head.safetensors";
/// The heads' Adam state in `last/`.
pub const HEAD_OPTIMIZER_FILE: &str = "lm_head_optimizer.safetensors";

/// How long and how a pre-training run goes.
#[derive(Clone, Debug)]
pub struct LmRunOptions {
    /// Epochs in all (a resumed run counts those already done).
    pub epochs: u64,
    /// Wall-time budget in minutes, counted across resumes.
    pub minutes: Option<f64>,
    /// Batch, candidates, Adam, clipping and seed; all must match on resume.
    pub lm: LmOptions,
    /// Save `last/` at least this often.
    pub save_every: Duration,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// The model, its LM heads and what their checkpoints carry.
pub struct LmTrainee {
    /// The classifier's or tagger's structure (only its embedding and LSTM train).
    pub model: Model,
    /// Its weights, updated in place.
    pub store: crate::nn::ParamStore,
    /// The word-prediction heads (with their own weights).
    pub head: LmHead,
    /// The `config.json` of every checkpoint (`training` is filled in at `best/`).
    pub config: CheckpointConfig,
    /// The vocabulary of every checkpoint.
    pub vocab: ModelVocab,
}

/// A pre-training run: where it writes and on which sentences.
pub struct LmTrainer<'a> {
    /// Output directory: `best/`, `last/` and `lm_log.jsonl` go here.
    pub out: PathBuf,
    /// The run's settings.
    pub opts: LmRunOptions,
    /// Training sentences (word ids).
    pub train: &'a [Vec<usize>],
    /// Dev sentences, scored by full-softmax perplexity at every evaluation.
    pub dev: &'a [Vec<usize>],
    /// The sampling proposal (from the training counts).
    pub proposal: &'a Proposal,
    /// Words per sentence the model reads.
    pub max_words: usize,
    /// Set to stop cleanly after the current step: `last/` is saved.
    pub interrupt: Arc<AtomicBool>,
    /// Called after every step with the steps taken so far (tests raise
    /// `interrupt` from it, as a Ctrl-C arriving mid-step would).
    pub after_step: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// How a pre-training run ended.
#[derive(Clone, Debug, Serialize)]
pub struct LmSummary {
    /// Why it stopped.
    pub stopped: StopReason,
    /// Epochs trained, a partial last one counted by its share of batches.
    pub epochs: f64,
    /// Steps in all (across resumes).
    pub steps: u64,
    /// Wall time in minutes, across resumes.
    pub minutes: f64,
    /// Epoch (fractional) of the best dev perplexity.
    pub best_epoch: Option<f64>,
    /// The best (lowest) dev perplexity.
    pub best_perplexity: Option<f64>,
    /// `out/best`.
    pub best_dir: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct State {
    #[serde(flatten)]
    pos: Position,
    best_perplexity: Option<f64>,
    best_epoch: Option<f64>,
    seed: u64,
    settings: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LogLine {
    epoch: f64,
    step: u64,
    minutes: f64,
    lr: f32,
    /// Moving average (0.98 per step) of the sampled-softmax loss.
    train_sampled_loss: Option<f64>,
    /// Training sentences per second of training steps since the previous evaluation.
    sentences_per_s: f64,
    train_s: f64,
    dev_perplexity: f64,
    best: bool,
}

fn settings(o: &LmOptions) -> BTreeMap<String, serde_json::Value> {
    let mut s = resume_settings(o.batch, &o.adam, o.clip, None);
    s.insert("--samples".into(), serde_json::json!(o.samples));
    s
}

impl LmTrainer<'_> {
    /// Pre-trains `t` until the epochs or the budget run out, or until
    /// interrupted; with `resume`, from `out/last` (same config, seed and
    /// settings), else `out` must hold no run.
    pub fn run(&self, t: &mut LmTrainee, resume: bool) -> Result<LmSummary> {
        let o = &self.opts.lm;
        if self.train.is_empty() || self.dev.is_empty() {
            return Err(Error::invalid("language model", "the training and dev text must not be empty"));
        }
        let (mut adam_m, mut adam_h) = (Adam::new(o.adam)?, Adam::new(o.adam)?);
        let mut st = State {
            pos: Position::default(),
            best_perplexity: None,
            best_epoch: None,
            seed: o.seed,
            settings: settings(o),
        };
        if resume {
            st = self.restore(t, &mut adam_m, &mut adam_h)?;
            eprintln!(
                "resuming {} at epoch {} batch {} (step {}, {:.1} min so far)",
                self.out.join(LAST).display(),
                st.pos.epoch + 1,
                st.pos.batch,
                st.pos.step,
                st.pos.elapsed_s / 60.0
            );
        } else {
            resume::check_fresh(&self.out)?;
            if self.out.join(BEST).exists() {
                return Err(Error::Checkpoint {
                    path: self.out.clone(),
                    msg: "already holds a model; choose another --out".into(),
                });
            }
            let ppl0 = perplexity(&t.model, &t.store, &t.head, self.dev, self.max_words)?;
            eprintln!("epoch 0: dev perplexity {ppl0:.1}");
        }
        let (start, base) = (Instant::now(), st.pos.elapsed_s);
        let lengths: Vec<usize> = self.train.iter().map(Vec::len).collect();
        let per_epoch = lengths.len().div_ceil(o.batch.max(1)).max(1);
        let mut session = Session { trainer: self, t, adam_m, adam_h, st, lengths, plan: Vec::new(), per_epoch };
        let loop_opts = LoopOptions {
            epochs: self.opts.epochs,
            minutes: self.opts.minutes,
            eval_every: None,
            save_every: self.opts.save_every,
            progress: self.opts.progress,
            unit: "sent",
        };
        let stopped = run_epochs(&mut session, &loop_opts, &self.interrupt)?;
        let st = session.st;
        Ok(LmSummary {
            stopped,
            epochs: epochs_done(&st.pos, per_epoch),
            steps: st.pos.step,
            minutes: (base + start.elapsed().as_secs_f64()) / 60.0,
            best_epoch: st.best_epoch,
            best_perplexity: st.best_perplexity,
            best_dir: self.out.join(BEST),
        })
    }

    fn restore(&self, t: &mut LmTrainee, adam_m: &mut Adam, adam_h: &mut Adam) -> Result<State> {
        let dir = self.out.join(LAST);
        let mut st: State = resume::read_state(&self.out)?;
        let ck = checkpoint::load(&dir)?;
        if ck.config.model != t.config.model || ck.vocab.vocab.len() != t.vocab.vocab.len() {
            return Err(Error::Checkpoint {
                path: dir,
                msg: "was pre-trained with another architecture, size or vocabulary than this command asks for".into(),
            });
        }
        if st.seed != self.opts.lm.seed {
            return Err(Error::Checkpoint {
                path: dir,
                msg: format!("was trained with seed {}; this command asks for {}", st.seed, self.opts.lm.seed),
            });
        }
        let now = settings(&self.opts.lm);
        resume::check_settings(&dir, &st.settings, &now)?;
        st.settings = now;
        resume::load_optimizer(&dir, adam_m, &ck.store, st.pos.step)?;
        let head = tensors::load(&dir.join(HEAD_FILE))?;
        t.head.load_weights(&head, &dir.join(HEAD_FILE))?;
        adam_h.load_state(&t.head.store, &tensors::load(&dir.join(HEAD_OPTIMIZER_FILE))?, st.pos.step)?;
        t.store = ck.store;
        t.model = ck.model;
        Ok(st)
    }
}

/// One pre-training run as the shared loop drives it.
struct Session<'r, 'd> {
    trainer: &'r LmTrainer<'d>,
    t: &'r mut LmTrainee,
    adam_m: Adam,
    adam_h: Adam,
    st: State,
    lengths: Vec<usize>,
    plan: Vec<Vec<usize>>,
    per_epoch: usize,
}

impl LoopSession for Session<'_, '_> {
    fn position(&mut self) -> &mut Position {
        &mut self.st.pos
    }

    fn batches_per_epoch(&self) -> usize {
        self.per_epoch
    }

    fn plan(&mut self, epoch: u64) -> Result<usize> {
        let o = &self.trainer.opts.lm;
        self.plan = epoch_plan(&self.lengths, o.batch, o.seed, epoch);
        Ok(self.plan.len())
    }

    fn step(&mut self, batch: usize) -> Result<(f32, usize)> {
        let (tr, step) = (self.trainer, self.st.pos.step);
        let members = &self.plan[batch];
        let sents: Vec<Vec<usize>> = members.iter().map(|&i| tr.train[i].clone()).collect();
        let x = WordBatch::from_sentences(&sents, tr.max_words, 1)?;
        // Dropout and the sampled candidates depend on the step alone, so a
        // resumed run draws what an uninterrupted one would.
        let mut rng = Rng::derive(tr.opts.lm.seed, step);
        let mode = Mode::train(rng.next_u64());
        let t = &mut *self.t;
        let adam = (&mut self.adam_m, &mut self.adam_h);
        let loss = train_step(&t.model, &mut t.store, &mut t.head, adam, &x, tr.proposal, &tr.opts.lm, mode, &mut rng)?;
        if !loss.is_finite() {
            return Err(Error::invalid(
                "language model",
                format!("the loss became {loss} at step {step}; lower --lr and start again (or --resume)"),
            ));
        }
        if let Some(f) = tr.after_step {
            f(step + 1);
        }
        Ok((loss, members.len()))
    }

    fn evaluate(&mut self, epoch: f64, elapsed_s: f64, span: &mut Span) -> Result<()> {
        let (tr, t) = (self.trainer, &*self.t);
        let ppl = perplexity(&t.model, &t.store, &t.head, tr.dev, tr.max_words)?;
        let better = self.st.best_perplexity.is_none_or(|b| ppl < b);
        if better {
            self.st.best_perplexity = Some(ppl);
            self.st.best_epoch = Some(epoch);
            let mut cfg = t.config.clone();
            if let Some(o) = cfg.training.as_object_mut() {
                o.insert(
                    "best".into(),
                    serde_json::json!({"epoch": epoch, "step": self.st.pos.step, "dev_perplexity": ppl}),
                );
            }
            checkpoint::save(&tr.out.join(BEST), &cfg, &t.vocab, &t.store, &[])?;
        }
        let line = LogLine {
            epoch,
            step: self.st.pos.step,
            minutes: elapsed_s / 60.0,
            lr: self.adam_m.current_lr(),
            train_sampled_loss: self.st.pos.loss_ema,
            sentences_per_s: span.per_s(),
            train_s: span.secs,
            dev_perplexity: ppl,
            best: better,
        };
        *span = Span::default();
        let json = serde_json::to_string(&line).map_err(|e| Error::invalid("lm log", e.to_string()))?;
        atomic::append_line(&tr.out.join(LM_LOG), &json)?;
        eprintln!(
            "epoch {epoch:.2}: step {}, sampled loss {:.3}, dev perplexity {ppl:.1}{} ({:.1} min)",
            self.st.pos.step,
            self.st.pos.loss_ema.unwrap_or(f64::NAN),
            if better { " *best*" } else { "" },
            elapsed_s / 60.0
        );
        Ok(())
    }

    fn has_best(&self) -> bool {
        self.st.best_perplexity.is_some()
    }

    fn save_last(&mut self) -> Result<()> {
        let (tr, t) = (self.trainer, &*self.t);
        let dir = tr.out.join(LAST);
        let [a, b] = resume::state_files(&dir, &self.adam_m, &t.store, &self.st)?;
        let head_tensors: Vec<(String, crate::Tensor)> =
            t.head.store.iter().map(|(n, x)| (n.to_string(), x.clone())).collect();
        let head = tensors::to_bytes(&dir.join(HEAD_FILE), &head_tensors, None)?;
        let (opt, steps) = self.adam_h.state(&t.head.store);
        let meta = std::collections::HashMap::from([("steps".to_string(), steps.to_string())]);
        let head_opt = tensors::to_bytes(&dir.join(HEAD_OPTIMIZER_FILE), &opt, Some(meta))?;
        let files = [a, b, (HEAD_FILE, head), (HEAD_OPTIMIZER_FILE, head_opt)];
        checkpoint::save(&dir, &t.config, &t.vocab, &t.store, &files)
    }
}
