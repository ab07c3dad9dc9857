//! Batches attacked side by side: a document's attack is a chain of small
//! passes (one beam's children at a time), too small for the CPU kernels'
//! threads to share well, while the batches of a run are independent. So
//! `workers` threads each take the next batch, attack it on their own
//! thread pool, and the results reach the caller in batch order, as one
//! thread would hand them over.
//!
//! Time: every batch is charged its share of the wall clock (the clock
//! divided by the number of batches running at each moment), so the
//! results' `seconds` still add up to the run's wall time and the summary's
//! seconds per example stays a throughput figure, as with `--batch`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

use crate::attack::result::ExampleResult;
use crate::attack::translation::TranslationResult;
use crate::error::{Error, Result};

/// A result that carries the wall seconds spent on it.
pub trait Timed {
    /// Multiplies the seconds charged to it by `factor`.
    fn scale_seconds(&mut self, factor: f64);
}

impl Timed for ExampleResult {
    fn scale_seconds(&mut self, factor: f64) {
        self.seconds *= factor;
    }
}

impl Timed for TranslationResult {
    fn scale_seconds(&mut self, factor: f64) {
        self.seconds *= factor;
    }
}

/// One batch of tasks in, one result per task out, callable from several
/// threads at once.
pub type BatchFn<'a, T, R> = dyn Fn(&[T]) -> Result<Vec<R>> + Sync + 'a;

/// What the caller says after each batch's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next batch.
    Continue,
    /// Start no further batch (the limit is reached); results of batches
    /// already running are dropped.
    Stop,
}

/// How a side-by-side run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// A batch was left unstarted because `interrupt` was set.
    pub interrupted: bool,
}

/// A clock that advances at 1 / (batches running): the share of the wall
/// clock each running batch is charged (processor sharing's virtual time).
struct SharedClock {
    origin: Instant,
    state: Mutex<ClockState>,
}

#[derive(Default)]
struct ClockState {
    last: f64,
    virtual_s: f64,
    busy: usize,
}

/// When a batch started, on both clocks.
#[derive(Clone, Copy)]
struct Started {
    wall: f64,
    virtual_s: f64,
}

impl SharedClock {
    fn new() -> Self {
        SharedClock { origin: Instant::now(), state: Mutex::new(ClockState::default()) }
    }

    /// Moves the virtual clock to now; `change` is added to the running count.
    fn tick(&self, change: isize) -> Started {
        let now = self.origin.elapsed().as_secs_f64();
        // A poisoned lock only means another worker panicked mid-tick; the
        // times it holds are still the best there are.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.busy > 0 {
            s.virtual_s += (now - s.last) / s.busy as f64;
        }
        s.last = now;
        s.busy = s.busy.saturating_add_signed(change);
        Started { wall: now, virtual_s: s.virtual_s }
    }

    fn start(&self) -> Started {
        self.tick(1)
    }

    /// The batch's wall seconds and its share of them.
    fn finish(&self, started: Started) -> (f64, f64) {
        let end = self.tick(-1);
        (end.wall - started.wall, end.virtual_s - started.virtual_s)
    }
}

/// How far workers may run ahead of the hand-over: batch k starts only
/// while fewer than `ahead` batches before it wait to be handed over, so
/// one slow batch neither lets the others run on far past a `--limit` nor
/// piles up their results.
struct Window {
    handed: Mutex<usize>,
    moved: Condvar,
    ahead: usize,
}

impl Window {
    fn new(ahead: usize) -> Self {
        Window { handed: Mutex::new(0), moved: Condvar::new(), ahead }
    }

    /// Waits until batch `k` may start; false when the run stopped meanwhile.
    fn admit(&self, k: usize, stop: &AtomicBool) -> bool {
        // A poisoned lock only means a worker panicked; the count is intact.
        let mut handed = self.handed.lock().unwrap_or_else(|p| p.into_inner());
        while k >= *handed + self.ahead && !stop.load(Ordering::Relaxed) {
            handed = self.moved.wait(handed).unwrap_or_else(|p| p.into_inner());
        }
        !stop.load(Ordering::Relaxed)
    }

    /// `handed` batches are handed over (or the run stopped): wake the waiting.
    fn advance(&self, handed: usize) {
        *self.handed.lock().unwrap_or_else(|p| p.into_inner()) = handed;
        self.moved.notify_all();
    }
}

/// Scales the results' seconds so that they add up to `share` of the
/// `wall` seconds the batch took.
fn charge<R: Timed>(results: &mut [R], wall: f64, share: f64) {
    if wall > 0.0 {
        for r in results {
            r.scale_seconds(share / wall);
        }
    }
}

/// Attacks `batches` (each a list of tasks), `workers` at a time, each
/// worker on a pool of `threads_each` threads; hands every batch's results
/// to `sink` in the order of `batches`. Stops starting batches when `sink`
/// says [`Flow::Stop`], when a batch fails (that error is returned, after
/// the batches before it were handed over), or when `interrupt` is set.
pub fn attack_in_order<T: Sync, R: Timed + Send>(
    attack: &BatchFn<'_, T, R>,
    batches: &[Vec<T>],
    workers: usize,
    threads_each: usize,
    interrupt: &AtomicBool,
    mut sink: impl FnMut(Vec<R>) -> Result<Flow>,
) -> Result<Ended> {
    let workers = workers.clamp(1, batches.len().max(1));
    if workers == 1 {
        // One at a time on the caller's thread, its kernels on every thread.
        for tasks in batches {
            if interrupt.load(Ordering::Relaxed) {
                return Ok(Ended { interrupted: true });
            }
            if sink(attack(tasks)?)? == Flow::Stop {
                break;
            }
        }
        return Ok(Ended { interrupted: false });
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let saw_interrupt = AtomicBool::new(false);
    let clock = SharedClock::new();
    // Enough room that a slow document rarely idles the other workers, a
    // bound on what runs past a --limit: 32 documents, or 2 batches a worker.
    let batch_len = batches.first().map_or(1, Vec::len).max(1);
    let window = Window::new((2 * workers).max(32 / batch_len));
    let pools = (0..workers)
        .map(|_| rayon::ThreadPoolBuilder::new().num_threads(threads_each.max(1)).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("attack", format!("cannot start {workers} attack threads: {e}")))?;
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<R>>)>();
    std::thread::scope(|scope| {
        for pool in &pools {
            let tx = tx.clone();
            let (next, stop, saw_interrupt, clock, window) = (&next, &stop, &saw_interrupt, &clock, &window);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if interrupt.load(Ordering::Relaxed) {
                    saw_interrupt.store(true, Ordering::Relaxed);
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(tasks) = batches.get(k) else { break };
                if !window.admit(k, stop) {
                    break;
                }
                let started = clock.start();
                let mut out = pool.install(|| attack(tasks));
                let (wall, share) = clock.finish(started);
                if let Ok(results) = &mut out {
                    charge(results, wall, share);
                }
                let failed = out.is_err();
                if tx.send((k, out)).is_err() || failed {
                    break;
                }
            });
        }
        drop(tx);
        hand_over_in_order(rx, &stop, &window, &mut sink)
    })?;
    Ok(Ended { interrupted: saw_interrupt.load(Ordering::Relaxed) })
}

/// Receives batches as they finish and hands them to `sink` in batch order,
/// holding those that finish early; sets `stop` when the run must end.
fn hand_over_in_order<R>(
    rx: mpsc::Receiver<(usize, Result<Vec<R>>)>,
    stop: &AtomicBool,
    window: &Window,
    sink: &mut impl FnMut(Vec<R>) -> Result<Flow>,
) -> Result<()> {
    let mut waiting: BTreeMap<usize, Result<Vec<R>>> = BTreeMap::new();
    let mut expected = 0;
    let mut failure = None;
    // The channel closes when every worker has left, so this drains
    // everything still running before returning.
    for (k, out) in rx {
        waiting.insert(k, out);
        while failure.is_none() && !stop.load(Ordering::Relaxed) {
            let Some(out) = waiting.remove(&expected) else { break };
            expected += 1;
            match out.and_then(&mut *sink) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => stop.store(true, Ordering::Relaxed),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
            window.advance(expected);
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::search::Task;
    use std::time::Duration;

    fn result(index: usize, seconds: f64) -> ExampleResult {
        ExampleResult {
            index,
            label: 0,
            skipped: false,
            orig_text: String::new(),
            orig_pred: 0,
            orig_prob: 1.0,
            adv_text: String::new(),
            adv_pred: 0,
            adv_prob: 1.0,
            success: false,
            target: None,
            changes: Vec::new(),
            chars_changed: 0,
            n_chars: 0,
            n_units: 0,
            frac_changed: 0.0,
            max_changes: 0,
            tau_changes: Default::default(),
            best_adv_prob: 0.0,
            forward_passes: 1,
            backward_passes: 0,
            seconds,
        }
    }

    fn batches(n: usize, size: usize) -> Vec<Vec<Task>> {
        (0..n)
            .map(|b| (0..size).map(|i| Task { index: b * size + i, text: String::new(), label: 0 }).collect())
            .collect()
    }

    /// Later batches finish first: batch k sleeps 8·(n − k) ms.
    fn slow_first(n: usize) -> impl Fn(&[Task]) -> Result<Vec<ExampleResult>> + Sync {
        move |tasks: &[Task]| {
            let k = tasks[0].index / tasks.len();
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_millis(8 * (n - k) as u64));
            let s = t0.elapsed().as_secs_f64() / tasks.len() as f64;
            Ok(tasks.iter().map(|t| result(t.index, s)).collect())
        }
    }

    #[test]
    fn results_come_in_batch_order_whatever_finishes_first() {
        let n = 9;
        let attack = slow_first(n);
        let mut seen = Vec::new();
        let ended = attack_in_order(&attack, &batches(n, 2), 3, 1, &AtomicBool::new(false), |rs| {
            seen.extend(rs.iter().map(|r| r.index));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(seen, (0..2 * n).collect::<Vec<_>>());
        assert!(!ended.interrupted);
    }

    #[test]
    fn charged_seconds_add_up_to_the_wall_clock() {
        let n = 8;
        let attack = slow_first(n);
        let t0 = Instant::now();
        let mut total = 0.0;
        attack_in_order(&attack, &batches(n, 3), 4, 1, &AtomicBool::new(false), |rs| {
            total += rs.iter().map(|r| r.seconds).sum::<f64>();
            Ok(Flow::Continue)
        })
        .unwrap();
        let wall = t0.elapsed().as_secs_f64();
        // Four side by side: the uncharged sum would be ~4x the wall time
        // (8 + 16 + ... + 64 ms of sleeps over ~80 ms; start-up and
        // scheduling gaps stay well under half the wall time).
        assert!(total <= wall * 1.0001, "charged {total} s in {wall} s");
        assert!(total > 0.5 * wall, "charged {total} s in {wall} s");
    }

    #[test]
    fn stop_starts_no_further_batch_and_hands_nothing_after_it() {
        let calls = AtomicUsize::new(0);
        let attack = |tasks: &[Task]| {
            calls.fetch_add(1, Ordering::Relaxed);
            Ok(tasks.iter().map(|t| result(t.index, 0.0)).collect())
        };
        let mut handed = 0;
        attack_in_order(&attack, &batches(50, 1), 2, 1, &AtomicBool::new(false), |_| {
            handed += 1;
            Ok(if handed == 3 { Flow::Stop } else { Flow::Continue })
        })
        .unwrap();
        assert_eq!(handed, 3);
        // The window (32 batches of one task ahead of the hand-over) bounds
        // what ran past the stop, however the threads were scheduled.
        assert!(calls.load(Ordering::Relaxed) <= 3 + 32, "{} batches attacked", calls.load(Ordering::Relaxed));
    }

    #[test]
    fn workers_wait_for_a_slow_batch_within_the_window() {
        // Batch 0 is slow; without the window the other worker would run
        // through all 60 before batch 0 is handed over.
        let started_early = AtomicUsize::new(0);
        let first_done = AtomicBool::new(false);
        let attack = |tasks: &[Task]| {
            if tasks[0].index == 0 {
                std::thread::sleep(Duration::from_millis(50));
                first_done.store(true, Ordering::SeqCst);
            } else if !first_done.load(Ordering::SeqCst) {
                started_early.fetch_add(1, Ordering::SeqCst);
            }
            Ok(tasks.iter().map(|t| result(t.index, 0.0)).collect())
        };
        let mut seen = Vec::new();
        attack_in_order(&attack, &batches(60, 1), 2, 1, &AtomicBool::new(false), |rs| {
            seen.extend(rs.iter().map(|r| r.index));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(seen, (0..60).collect::<Vec<_>>());
        let early = started_early.load(Ordering::SeqCst);
        assert!(early <= 31, "{early} ran past the window of 32");
    }

    #[test]
    fn a_failing_batch_is_reported_after_the_ones_before_it() {
        let attack = |tasks: &[Task]| {
            if tasks[0].index == 4 {
                return Err(Error::invalid("attack", "batch four"));
            }
            Ok(tasks.iter().map(|t| result(t.index, 0.0)).collect())
        };
        let mut seen = Vec::new();
        let err = attack_in_order(&attack, &batches(10, 1), 3, 1, &AtomicBool::new(false), |rs| {
            seen.extend(rs.iter().map(|r| r.index));
            Ok(Flow::Continue)
        })
        .unwrap_err();
        assert!(err.to_string().contains("batch four"), "{err}");
        assert_eq!(seen, vec![0, 1, 2, 3]);
    }

    #[test]
    fn an_interrupt_starts_nothing_new_and_says_so() {
        // The first batch to run sets the interrupt: each of the two
        // workers finishes at most the batch it holds.
        let interrupt = AtomicBool::new(false);
        let attack = |tasks: &[Task]| {
            interrupt.store(true, Ordering::SeqCst);
            Ok(tasks.iter().map(|t| result(t.index, 0.0)).collect())
        };
        let mut seen = Vec::new();
        let ended = attack_in_order(&attack, &batches(40, 1), 2, 1, &interrupt, |rs| {
            seen.extend(rs.iter().map(|r| r.index));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert!(ended.interrupted);
        // Everything started is handed over, in order, with no gap.
        assert!((1..=2).contains(&seen.len()), "{seen:?}");
        assert_eq!(seen, (0..seen.len()).collect::<Vec<_>>());
    }
}
