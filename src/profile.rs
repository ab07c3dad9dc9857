//! Per-op time profile of the tape: forward time is the wall time between
//! one recorded op and the previous one (the op's own kernel, plus any
//! untaped work in between), backward time is each closure's own time.
//! Off unless switched on (`hotflip bench engine --profile`, or the
//! `HOTFLIP_PROFILE` environment variable), and then a clock read per op.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static ON: AtomicBool = AtomicBool::new(false);
static TABLE: Mutex<BTreeMap<&'static str, Entry>> = Mutex::new(BTreeMap::new());

/// Totals for one op name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Entry {
    pub calls: u64,
    pub forward: Duration,
    pub backward: Duration,
}

pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether profiling is on (also when `HOTFLIP_PROFILE` is set, read once).
pub fn enabled() -> bool {
    static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    ON.load(Ordering::Relaxed) || *ENV.get_or_init(|| std::env::var_os("HOTFLIP_PROFILE").is_some())
}

pub(crate) fn add_forward(op: &'static str, d: Duration) {
    if let Ok(mut t) = TABLE.lock() {
        let e = t.entry(op).or_default();
        e.calls += 1;
        e.forward += d;
    }
}

pub(crate) fn add_backward(op: &'static str, d: Duration) {
    if let Ok(mut t) = TABLE.lock() {
        t.entry(op).or_default().backward += d;
    }
}

/// Takes the accumulated table, slowest first, and resets it.
pub fn take() -> Vec<(&'static str, Entry)> {
    let mut v: Vec<_> = TABLE.lock().map(|mut t| std::mem::take(&mut *t).into_iter().collect()).unwrap_or_default();
    v.sort_by_key(|(_, e)| std::cmp::Reverse(e.forward + e.backward));
    v
}

/// The table as aligned text.
pub fn render(rows: &[(&'static str, Entry)]) -> String {
    let total: Duration = rows.iter().map(|(_, e)| e.forward + e.backward).sum();
    let mut s = format!("{:<28} {:>8} {:>11} {:>11} {:>6}\n", "op", "calls", "forward ms", "backward ms", "share");
    for (op, e) in rows {
        let t = e.forward + e.backward;
        s += &format!(
            "{:<28} {:>8} {:>11.2} {:>11.2} {:>5.1}%\n",
            op,
            e.calls,
            e.forward.as_secs_f64() * 1e3,
            e.backward.as_secs_f64() * 1e3,
            100.0 * t.as_secs_f64() / total.as_secs_f64().max(1e-12)
        );
    }
    s
}
