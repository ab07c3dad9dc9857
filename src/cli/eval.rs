//! `hotflip eval`: scores a trained model on a split of a data set.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use hotflip::train::{self, Metrics};

use super::common::{announce_backend, load_model, DataArgs};
use super::CliResult;
use hotflip::cuda::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint directory, or a training run (its best/ is used).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Which split to score.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Examples per forward pass (at least 1; only speed and memory depend on it).
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    dataset: &'a str,
    split: Split,
    labels: &'a [String],
    #[serde(flatten)]
    metrics: &'a Metrics,
}

pub fn run(a: EvalArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    if a.batch == 0 {
        return Err("--batch 0: must be at least 1".into());
    }
    announce_backend(threads, backend);
    let ck = load_model(&a.model)?;
    let data = a.data.load()?;
    let enc = train::encode(&data, &ck.vocab, ck.config.lowercase, &ck.config.model)?;
    let samples = match a.split {
        Split::Train => &enc.train,
        Split::Dev => &enc.dev,
        Split::Test => &enc.test,
    };
    if samples.is_empty() {
        return Err(data.empty_split(&format!("{:?}", a.split).to_lowercase()).into());
    }
    let m = train::evaluate(&ck.model, &ck.store, samples, a.batch)?;
    let report = Report {
        model: ck.dir.display().to_string(),
        dataset: data.name(),
        split: a.split,
        labels: &ck.config.labels,
        metrics: &m,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    match (m.precision, m.recall, m.f05) {
        (Some(p), Some(r), Some(f)) => println!(
            "{} {:?}: precision {p:.4}, recall {r:.4}, F0.5 {f:.4} on label `{}` ({} tokens, accuracy {:.4})",
            data.name(),
            a.split,
            ck.config.labels.get(1).map_or("i", String::as_str),
            m.n,
            m.accuracy
        ),
        _ => println!("{} {:?}: accuracy {:.4} ({} examples)", data.name(), a.split, m.accuracy, m.n),
    }
    print!("{}", confusion_table(&m.confusion, &ck.config.labels));
    Ok(())
}

/// Rows: true label; columns: predicted.
fn confusion_table(c: &[Vec<usize>], labels: &[String]) -> String {
    let w = labels.iter().map(|l| l.len()).max().unwrap_or(4).max(6);
    let mut s = format!("{:>w$} |", "true\\pred");
    for l in labels {
        s += &format!(" {l:>w$}");
    }
    s.push('\n');
    for (i, row) in c.iter().enumerate() {
        s += &format!("{:>w$} |", labels.get(i).map_or("?", String::as_str));
        for v in row {
            s += &format!(" {v:>w$}");
        }
        s.push('\n');
    }
    s
}
