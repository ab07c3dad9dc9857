//! A whole attack run over a data split, as `hotflip attack` does it: a
//! resumable results file, fixed batches, a limit on attacked examples,
//! progress, and the summary and HTML report.
//!
//! Batches are fixed slices of the split (`[k·K, (k+1)·K)`), so a resumed
//! run attacks every example in the same company as an uninterrupted one
//! and writes the same numbers; finished examples of a partly done batch
//! are attacked again and their results discarded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::attack::result::{ExampleResult, RunInfo, Summary};
use crate::attack::results_file::ResultsFile;
use crate::attack::search::Task;
use crate::attack::settings::Settings;
use crate::attack::shard::Shard;
use crate::attack::side_by_side::{attack_in_order, Flow};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::util::atomic;

/// One batch of tasks in, one result per task out: an attacker's `attack`.
/// `Sync`, because batches may be attacked side by side
/// ([`RunOptions::parallel`]).
pub type AttackFn<'a> = dyn Fn(&[Task]) -> Result<Vec<ExampleResult>> + Sync + 'a;

/// What an attack changes: characters, words, or words into UNK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Character flips, insertions and deletions (char_cnn_lstm).
    Char,
    /// Word flips under the semantic constraints (word models).
    Word,
    /// Replace one word by UNK (word models).
    Unk,
}

impl Level {
    /// The name results files and summaries use (`char`, `word`, `unk`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Char => "char",
            Level::Word => "word",
            Level::Unk => "unk",
        }
    }

    /// The default number of changes when none is given: the budget for
    /// characters, two word flips, one UNK.
    pub fn default_max_changes(self) -> Option<usize> {
        match self {
            Level::Char => None,
            Level::Word => Some(2),
            Level::Unk => Some(1),
        }
    }
}

/// Where a run comes from and how it is set up: what its results file's
/// sidecar records (a resumed run must match it) and its summary repeats.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The model's directory, as given.
    pub model: String,
    /// The data set's name.
    pub dataset: String,
    /// `train`, `dev` or `test`.
    pub split: String,
    /// What the attack changes.
    pub level: Level,
    /// The search's settings.
    pub settings: Settings,
    /// Documents attacked together.
    pub batch: usize,
    /// Which constraints are on (see `WordConstraints::describe`).
    pub constraints: BTreeMap<String, String>,
    /// Attack only this shard's batches (see [`crate::attack::shard`]).
    pub shard: Option<Shard>,
}

impl RunSpec {
    /// The settings recorded beside the results file.
    pub fn meta(&self) -> serde_json::Value {
        let s = &self.settings;
        let mut meta = serde_json::json!({
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "level": self.level.name(),
            "method": s.method.name(),
            "beam": s.beam,
            "tau": s.tau,
            "budget": s.budget,
            "max_changes": s.max_changes,
            "target": s.target,
            "seed": s.seed,
            "batch": self.batch,
            "constraints": self.constraints,
        });
        if let (Some(shard), Some(m)) = (self.shard, meta.as_object_mut()) {
            m.insert("shard".into(), shard.to_string().into());
        }
        meta
    }

    /// What the summary repeats of the settings.
    pub fn info(&self) -> RunInfo {
        let s = &self.settings;
        RunInfo {
            model: self.model.clone(),
            dataset: format!("{} {}", self.dataset, self.split),
            max_changes: s.max_changes,
            method: s.method.name().into(),
            level: self.level.name().into(),
            tau: s.tau,
            beam: s.beam,
            budget: s.budget,
            target: s.target,
            constraints: self.constraints.clone(),
        }
    }
}

/// Where a run writes and how far it goes.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The JSON Lines results file; an existing one is resumed.
    pub out: PathBuf,
    /// The run's summary as JSON.
    pub summary: Option<PathBuf>,
    /// An HTML report.
    pub html: Option<PathBuf>,
    /// Attack this many correctly classified examples at most.
    pub limit: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Batches attacked side by side, each on its share of the kernel
    /// threads (1: one batch at a time on all of them). The results are the
    /// same whatever the number; see [`crate::attack::side_by_side`].
    pub parallel: usize,
}

/// What a run leaves behind.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The summary of every result in the file.
    pub summary: Summary,
    /// Every result in the file, old and new, in file order.
    pub results: Vec<ExampleResult>,
    /// Stopped by `interrupt`; the finished examples are saved.
    pub interrupted: bool,
    /// Wall time of this session.
    pub seconds: f64,
}

fn attacked_of(rs: &[ExampleResult]) -> usize {
    rs.iter().filter(|r| !r.skipped).count()
}

fn progress_bar(total: u64, visible: bool) -> ProgressBar {
    let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template("attack [{bar:30}] {pos}/{len} attacked {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn show(bar: &ProgressBar, rs: &[ExampleResult]) {
    let att: Vec<&ExampleResult> = rs.iter().filter(|r| !r.skipped).collect();
    let wins = att.iter().filter(|r| r.success).count();
    bar.set_position(att.len() as u64);
    bar.set_message(format!(
        "| {wins} succeeded ({:.1}%) | {} skipped",
        100.0 * wins as f64 / att.len().max(1) as f64,
        rs.len() - att.len()
    ));
}

/// Keeps the results not yet in the file, up to the one that reaches the
/// limit of attacked examples.
fn fresh_within_limit(mut results: Vec<ExampleResult>, file: &ResultsFile, limit: usize) -> Vec<ExampleResult> {
    results.retain(|r| !file.done.contains(&r.index));
    let room = limit - attacked_of(&file.results);
    let mut seen = 0;
    results.retain(|r| {
        if seen >= room {
            return false;
        }
        seen += !r.skipped as usize;
        true
    });
    results
}

/// The results of the first `limit` attacked examples in split order (and
/// the skipped ones among them): what a run with `--limit` reports, even
/// when an earlier run with a larger limit wrote more into the file.
fn within_limit(results: &[ExampleResult], limit: usize) -> Vec<ExampleResult> {
    let mut sorted: Vec<&ExampleResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut attacked = 0;
    sorted
        .into_iter()
        .take_while(|r| {
            let keep = attacked < limit;
            attacked += !r.skipped as usize;
            keep
        })
        .cloned()
        .collect()
}

/// Attacks `examples` (a whole split; results carry their index in it) in
/// fixed batches of `spec.batch`, appending to `opts.out` and resuming what
/// it holds, until `opts.limit` examples are attacked, the split ends, or
/// `interrupt` is set. Writes the summary and report files asked for.
pub fn run_resumable(
    attack: &AttackFn<'_>,
    examples: &[Example],
    spec: &RunSpec,
    labels: &[String],
    opts: &RunOptions,
    interrupt: &AtomicBool,
) -> Result<RunOutcome> {
    if spec.batch == 0 {
        return Err(Error::invalid("attack", "the batch must hold at least 1 document"));
    }
    if spec.shard.is_some() && opts.limit.is_some() {
        return Err(Error::invalid(
            "attack",
            "a limit and a shard do not mix (each shard would stop at its own count); shard the whole split",
        ));
    }
    let mut file = ResultsFile::open(&opts.out, &spec.meta())?;
    if file.duplicates_dropped > 0 {
        eprintln!(
            "{}: dropped {} lines whose example index came earlier in the file",
            opts.out.display(),
            file.duplicates_dropped
        );
    }
    let limit = opts.limit.unwrap_or(usize::MAX);
    if !file.results.is_empty() {
        eprintln!(
            "resuming {}: {} examples done ({} attacked)",
            opts.out.display(),
            file.results.len(),
            attacked_of(&file.results)
        );
    }
    let total = opts.limit.unwrap_or(examples.len()).min(examples.len()) as u64;
    let bar = progress_bar(total, opts.progress);
    show(&bar, &file.results);
    let start = Instant::now();
    let todo: Vec<Vec<Task>> = (0..examples.len())
        .step_by(spec.batch)
        .enumerate()
        .filter(|&(k, _)| spec.shard.is_none_or(|s| s.owns(k)))
        .map(|(_, first)| first..(first + spec.batch).min(examples.len()))
        .filter(|batch| !batch.clone().all(|i| file.done.contains(&i)))
        .map(|batch| {
            batch.map(|i| Task { index: i, text: examples[i].text.clone(), label: examples[i].label }).collect()
        })
        .collect();
    let mut interrupted = false;
    if attacked_of(&file.results) < limit {
        let parallel = opts.parallel.max(1);
        let threads_each = (rayon::current_num_threads() / parallel).max(1);
        let ended = attack_in_order(attack, &todo, parallel, threads_each, interrupt, |results| {
            let results = fresh_within_limit(results, &file, limit);
            file.append(&results)?;
            show(&bar, &file.results);
            Ok(if attacked_of(&file.results) >= limit { Flow::Stop } else { Flow::Continue })
        })?;
        interrupted = ended.interrupted;
    }
    bar.finish_and_clear();
    let reported = within_limit(&file.results, limit);
    if reported.len() < file.results.len() {
        eprintln!(
            "{} holds {} attacked examples; this run reports the first {} (--limit {limit})",
            opts.out.display(),
            attacked_of(&file.results),
            attacked_of(&reported)
        );
    }
    let summary = Summary::of(&spec.info(), &reported);
    if let Some(p) = &opts.summary {
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| Error::invalid("summary", e.to_string()))?;
        atomic::write_file(p, &json)?;
    }
    if let Some(p) = &opts.html {
        let html = crate::attack::report::html(&summary, &reported, labels);
        atomic::write_file(p, html.as_bytes())?;
    }
    Ok(RunOutcome { summary, results: reported, interrupted, seconds: start.elapsed().as_secs_f64() })
}
