//! `hotflip predict`: labels texts read from standard input, one per line.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use hotflip::train::{self, argmax, Sample, Target, Tokens};

use super::common::{announce_backend, load_model};
use super::CliResult;
use hotflip::cuda::Backend;

#[derive(Args)]
pub struct PredictArgs {
    /// A checkpoint directory, or a training run (its best/ is used).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Print one JSON object per line of input.
    #[arg(long)]
    json: bool,
    /// Texts per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

#[derive(Serialize)]
struct Line<'a> {
    label: &'a str,
    label_id: usize,
    probs: &'a [f32],
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<&'a str>>,
}

pub fn run(a: PredictArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    announce_backend(threads, backend);
    let ck = load_model(&a.model)?;
    let cfg = &ck.config.model;
    let stdin = std::io::stdin();
    let mut texts = Vec::new();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| format!("reading standard input, line {}: {e}", i + 1))?;
        texts.push(line);
    }
    let samples: Vec<Sample> = texts
        .iter()
        .enumerate()
        .map(|(index, t)| -> CliResult<Sample> {
            let tokens = Tokens::of_text(t, &ck.vocab.vocab, ck.config.lowercase, cfg)?;
            Ok(Sample { tokens, target: Target::Class(0), index })
        })
        .collect::<CliResult<_>>()?;
    // Empty lines have no words for the model to read; they get no prediction.
    let readable: Vec<Sample> = samples.iter().filter(|s| !s.is_empty()).cloned().collect();
    let probs = train::predict(&ck.model, &ck.store, &readable, a.batch.max(1))?;
    let c = cfg.n_classes();
    let labels = &ck.config.labels;
    let mut out = std::io::stdout().lock();
    let mut k = 0;
    for s in &samples {
        if s.is_empty() {
            writeln!(out, "{}", if a.json { "{\"label\":null}" } else { "(empty line)" })?;
            continue;
        }
        let p = &probs[k];
        k += 1;
        if cfg.is_tagger() {
            let tags: Vec<&str> = p.chunks(c).map(|row| labels[argmax(row)].as_str()).collect();
            let any = tags.iter().position(|&t| t == labels[1]).map_or(0, |_| 1);
            if a.json {
                let line = Line { label: &labels[any], label_id: any, probs: p, tags: Some(tags) };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            } else {
                writeln!(out, "{}", tags.join(" "))?;
            }
        } else {
            let y = argmax(p);
            if a.json {
                let line = Line { label: &labels[y], label_id: y, probs: p, tags: None };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            } else {
                let ps: Vec<String> = labels.iter().zip(p).map(|(l, v)| format!("{l}={v:.3}")).collect();
                writeln!(out, "{}\t{}", labels[y], ps.join(" "))?;
            }
        }
    }
    Ok(())
}
