//! `hotflip eval`: scores a trained model on a split of a data set.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use hotflip::attack::Shard;
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
    /// Score only shard I of N (I counts from 0): the examples k with k mod N = I.
    /// With --json the report holds the counts that combine shards exactly.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Taggers: also score dev, and report this split at the threshold on
    /// P(`i`) that gives dev's best F0.5 (`at_dev_threshold` in --json).
    #[arg(long)]
    dev_threshold: bool,
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
    /// Sharded runs only: which shard, and its correct count (the sum of
    /// the confusion matrix's diagonal; `n` is the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correct: Option<usize>,
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
    let owned: Vec<_>;
    let samples = match a.shard {
        Some(shard) => {
            owned = samples.iter().enumerate().filter(|&(k, _)| shard.owns(k)).map(|(_, s)| s.clone()).collect();
            &owned[..]
        }
        None => &samples[..],
    };
    let threshold = if a.dev_threshold {
        if !ck.config.model.is_tagger() {
            return Err("--dev-threshold is for taggers (a threshold on P(`i`))".into());
        }
        if enc.dev.is_empty() {
            return Err(data.empty_split("dev").into());
        }
        let dev = train::evaluate(&ck.model, &ck.store, &enc.dev, a.batch)?;
        dev.best_threshold.map(|b| b.threshold)
    } else {
        None
    };
    let m = train::evaluate_at(&ck.model, &ck.store, samples, a.batch, threshold)?;
    let correct = m.confusion.iter().enumerate().map(|(i, row)| row[i]).sum();
    let report = Report {
        model: ck.dir.display().to_string(),
        dataset: data.name(),
        split: a.split,
        labels: &ck.config.labels,
        shard: a.shard.map(|s| s.to_string()),
        correct: a.shard.map(|_| correct),
        metrics: &m,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if let Some(shard) = a.shard {
        println!("shard {shard}: {correct} of {} correct", m.n);
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
    if let (Some(ap), Some(b)) = (m.average_precision, m.best_threshold) {
        println!(
            "average precision of P(i) {ap:.4}; best F0.5 on this split {:.4} at P(i) >= {:.4} (P {:.4}, R {:.4})",
            b.f05, b.threshold, b.precision, b.recall
        );
    }
    if let Some(d) = m.at_dev_threshold {
        println!(
            "at dev's best threshold P(i) >= {:.4}: precision {:.4}, recall {:.4}, F0.5 {:.4}",
            d.threshold, d.precision, d.recall, d.f05
        );
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
