//! What both training loops show and log about their pace: the per-epoch
//! progress bar and the training throughput since the last evaluation.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over an epoch's `len` batches at `pos` (hidden unless `show`).
pub fn epoch_bar(show: bool, len: usize, epoch: u64, epochs: u64, pos: usize) -> ProgressBar {
    let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    let style = ProgressStyle::with_template(&format!(
        "epoch {:>3}/{} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ETA {{eta}}",
        epoch + 1,
        epochs
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_position(pos as u64);
    bar
}

/// Training work since the previous evaluation: units (documents, target
/// tokens) and seconds of training steps only (evaluation and saving are
/// not training throughput).
#[derive(Default)]
pub struct Span {
    /// Units trained on.
    pub units: usize,
    /// Seconds in training steps.
    pub secs: f64,
}

impl Span {
    /// Units per second of training steps.
    pub fn per_s(&self) -> f64 {
        self.units as f64 / self.secs.max(1e-9)
    }
}
