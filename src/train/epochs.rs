//! The training loop both trainers run (`Trainer` for classifiers and
//! taggers, `nmt::train` for `char_nmt`): epochs of batches in a seeded
//! plan, a time budget, interruption, `last/` saved every few minutes and
//! after every evaluation, an evaluation after every epoch (and every
//! `eval_every` steps), and a last evaluation of a partial epoch cut by the
//! time budget. What a step, an evaluation and a save are is the
//! [`Session`]'s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::train::progress::{epoch_bar, Span};
use crate::train::trainer::StopReason;

/// Where a run is: saved in `last/trainer.json` (flattened into the
/// trainer's own state) so that a resumed run continues exactly there.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Position {
    /// The epoch in progress.
    pub epoch: u64,
    /// The next batch of its plan.
    pub batch: usize,
    /// Steps taken in all.
    pub step: u64,
    /// Wall time of the run so far, earlier sessions included.
    pub elapsed_s: f64,
    /// Moving average of the training loss.
    pub loss_ema: Option<f64>,
}

/// How long and how the loop runs.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// Epochs in all (a resumed run counts those already done).
    pub epochs: u64,
    /// Stop once this much wall time has passed (after a last evaluation).
    pub minutes: Option<f64>,
    /// Also evaluate every this many steps.
    pub eval_every: Option<u64>,
    /// Save `last/` at least this often.
    pub save_every: Duration,
    /// Draw a progress bar.
    pub progress: bool,
    /// What a step's units are called in the bar (`docs`, `tok`).
    pub unit: &'static str,
}

/// One trainer's model, data and state, as the loop drives it.
pub trait Session {
    /// The run's position (part of the state `save_last` writes).
    fn position(&mut self) -> &mut Position;
    /// Batches per epoch (the same every epoch).
    fn batches_per_epoch(&self) -> usize;
    /// Draws epoch `epoch`'s plan; returns its number of batches.
    fn plan(&mut self, epoch: u64) -> Result<usize>;
    /// One training step on batch `batch` of the plan: the loss (an error
    /// if it is not finite) and the units trained on.
    fn step(&mut self, batch: usize) -> Result<(f32, usize)>;
    /// Scores dev at `epoch` (fractional for a partial one), logs the
    /// span's throughput (then reset), and keeps the best.
    fn evaluate(&mut self, epoch: f64, elapsed_s: f64, span: &mut Span) -> Result<()>;
    /// Whether an evaluation has been made in this run (resumed ones included).
    fn has_best(&self) -> bool;
    /// Whether the evaluations ask to stop (early stopping).
    fn stop_early(&self) -> bool {
        false
    }
    /// Writes `last/`.
    fn save_last(&mut self) -> Result<()>;
}

/// Runs `s` from its position until its epochs, the time budget or an
/// interruption; returns why it stopped.
pub fn run_epochs(s: &mut dyn Session, opts: &LoopOptions, interrupt: &AtomicBool) -> Result<StopReason> {
    let start = Instant::now();
    let base = s.position().elapsed_s;
    let now = || base + start.elapsed().as_secs_f64();
    let per_epoch = s.batches_per_epoch().max(1);
    let epochs_done = |p: &Position| p.epoch as f64 + p.batch as f64 / per_epoch as f64;
    let mut last_save = Instant::now();
    let mut span = Span::default();
    let mut stopped = StopReason::Epochs;
    'epochs: while s.position().epoch < opts.epochs {
        let epoch = s.position().epoch;
        let len = s.plan(epoch)?;
        let bar = epoch_bar(opts.progress, len, epoch, opts.epochs, s.position().batch);
        while s.position().batch < len {
            if interrupt.load(Ordering::Relaxed) {
                bar.abandon();
                stopped = StopReason::Interrupted;
                s.position().elapsed_s = now();
                s.save_last()?;
                break 'epochs;
            }
            if opts.minutes.is_some_and(|m| now() >= m * 60.0) {
                bar.abandon();
                stopped = StopReason::TimeBudget;
                break 'epochs;
            }
            let t0 = Instant::now();
            let batch = s.position().batch;
            let (loss, units) = s.step(batch)?;
            span.units += units;
            span.secs += t0.elapsed().as_secs_f64();
            let p = s.position();
            p.step += 1;
            p.batch += 1;
            let ema = p.loss_ema.map_or(loss as f64, |e| 0.98 * e + 0.02 * loss as f64);
            p.loss_ema = Some(ema);
            let (step, batch) = (p.step, p.batch);
            bar.set_position(batch as u64);
            bar.set_message(format!("loss {ema:.4}  {:.0} {}/s", span.per_s(), opts.unit));
            let due = opts.eval_every.is_some_and(|k| k > 0 && step.is_multiple_of(k)) && batch < len;
            if due {
                let ep = epochs_done(s.position());
                s.evaluate(ep, now(), &mut span)?;
            }
            if due || last_save.elapsed() >= opts.save_every {
                s.position().elapsed_s = now();
                s.save_last()?;
                last_save = Instant::now();
            }
        }
        bar.finish_and_clear();
        let p = s.position();
        p.epoch += 1;
        p.batch = 0;
        let ep = p.epoch as f64;
        s.evaluate(ep, now(), &mut span)?;
        s.position().elapsed_s = now();
        s.save_last()?;
        last_save = Instant::now();
        if s.stop_early() {
            stopped = StopReason::EarlyStopping;
            break;
        }
    }
    // The last partial epoch still counts: evaluate it, keep it if best.
    // At an epoch boundary it was just evaluated, unless nothing was yet.
    if stopped == StopReason::TimeBudget && (s.position().batch > 0 || !s.has_best()) {
        let ep = epochs_done(s.position());
        s.evaluate(ep, now(), &mut span)?;
        s.position().elapsed_s = now();
        s.save_last()?;
    }
    Ok(stopped)
}

/// Epochs done at `p`, a partial one counted by its share of batches.
pub fn epochs_done(p: &Position, batches_per_epoch: usize) -> f64 {
    p.epoch as f64 + p.batch as f64 / batches_per_epoch.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the loop asks of it.
    #[derive(Default)]
    struct Fake {
        pos: Position,
        per_epoch: usize,
        steps: Vec<(u64, usize)>,
        evals: Vec<f64>,
        saves: usize,
        best: bool,
        interrupt_after: Option<u64>,
        flag: std::sync::Arc<AtomicBool>,
    }

    impl Session for Fake {
        fn position(&mut self) -> &mut Position {
            &mut self.pos
        }
        fn batches_per_epoch(&self) -> usize {
            self.per_epoch
        }
        fn plan(&mut self, _epoch: u64) -> Result<usize> {
            Ok(self.per_epoch)
        }
        fn step(&mut self, batch: usize) -> Result<(f32, usize)> {
            self.steps.push((self.pos.epoch, batch));
            if self.interrupt_after == Some(self.pos.step + 1) {
                self.flag.store(true, Ordering::Relaxed);
            }
            Ok((1.0, 10))
        }
        fn evaluate(&mut self, epoch: f64, _elapsed_s: f64, span: &mut Span) -> Result<()> {
            self.evals.push(epoch);
            self.best = true;
            *span = Span::default();
            Ok(())
        }
        fn has_best(&self) -> bool {
            self.best
        }
        fn save_last(&mut self) -> Result<()> {
            self.saves += 1;
            Ok(())
        }
    }

    fn opts(epochs: u64, eval_every: Option<u64>) -> LoopOptions {
        LoopOptions {
            epochs,
            minutes: None,
            eval_every,
            save_every: Duration::from_secs(3600),
            progress: false,
            unit: "docs",
        }
    }

    #[test]
    fn epochs_mid_epoch_evaluations_and_a_resumed_position() {
        let mut f = Fake { per_epoch: 4, ..Fake::default() };
        let stop = run_epochs(&mut f, &opts(2, Some(3)), &AtomicBool::new(false)).unwrap();
        assert_eq!(stop, StopReason::Epochs);
        assert_eq!(f.steps.len(), 8);
        // Step 3 (mid-epoch 0), epoch 1's end, step 6 (mid-epoch 1), epoch 2's end;
        // not step 8, which is an epoch's end anyway.
        assert_eq!(f.evals, vec![0.75, 1.0, 1.5, 2.0]);
        assert_eq!(f.saves, 4);
        // A run resumed at epoch 1 batch 2 does batches 2 and 3 of epoch 1 only.
        let pos = Position { epoch: 1, batch: 2, step: 6, ..Position::default() };
        let mut g = Fake { per_epoch: 4, pos, ..Fake::default() };
        run_epochs(&mut g, &opts(2, None), &AtomicBool::new(false)).unwrap();
        assert_eq!(g.steps, vec![(1, 2), (1, 3)]);
        assert_eq!((g.pos.epoch, g.pos.batch, g.pos.step), (2, 0, 8));
    }

    #[test]
    fn an_interruption_saves_where_it_stopped_and_a_spent_budget_evaluates_once() {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let mut f = Fake { per_epoch: 5, interrupt_after: Some(2), flag: flag.clone(), ..Fake::default() };
        let stop = run_epochs(&mut f, &opts(3, None), &flag).unwrap();
        assert_eq!(stop, StopReason::Interrupted);
        assert_eq!((f.pos.epoch, f.pos.batch, f.pos.step, f.saves), (0, 2, 2, 1));
        assert!(f.evals.is_empty());
        let mut g = Fake { per_epoch: 5, ..Fake::default() };
        let budget = LoopOptions { minutes: Some(0.0), ..opts(3, None) };
        let stop = run_epochs(&mut g, &budget, &AtomicBool::new(false)).unwrap();
        assert_eq!(stop, StopReason::TimeBudget);
        // No step, but nothing evaluated yet: one evaluation so that `best/` exists.
        assert_eq!((g.steps.len(), g.evals.clone(), g.saves), (0, vec![0.0], 1));
    }
}
