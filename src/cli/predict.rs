//! `hotflip predict`: labels texts read from standard input, one per line.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use hotflip::attack::Shard;
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
    /// Texts per batch (at least 1).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Label only shard I of N (I counts from 0): the input lines k (counting
    /// from 0) with k mod N = I. Each output line then starts with its input
    /// line's k (`"index": k` with --json; `k<TAB>` otherwise) so shards can be joined.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

/// An output line, marked with its input line's index `k` when sharded:
/// `{"index":k,...}` with --json, `k<TAB>...` otherwise.
fn marked(line: String, index: Option<usize>, json: bool) -> String {
    match (index, json) {
        (None, _) => line,
        (Some(k), true) => format!("{{\"index\":{k},{}", line.strip_prefix('{').unwrap_or(&line)),
        (Some(k), false) => format!("{k}\t{line}"),
    }
}

#[derive(Serialize)]
struct Line<'a> {
    label: &'a str,
    label_id: usize,
    probs: &'a [f32],
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<&'a str>>,
    /// The text's word count when it is longer than the model reads
    /// (`max_words`): only the first `max_words` words were labelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    cut_from_words: Option<usize>,
}

/// One line of standard input: its text, or why it cannot be read.
fn read_lines(input: impl BufRead) -> CliResult<Vec<Result<String, String>>> {
    let mut out = Vec::new();
    for (i, bytes) in input.split(b'\n').enumerate() {
        let mut bytes = bytes.map_err(|e| format!("reading standard input, line {}: {e}", i + 1))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let bytes = if i == 0 { hotflip::data::strip_bom_bytes(&bytes).to_vec() } else { bytes };
        out.push(
            String::from_utf8(bytes)
                .map_err(|e| format!("line {}: not valid UTF-8 at byte {}", i + 1, e.utf8_error().valid_up_to() + 1)),
        );
    }
    Ok(out)
}

pub fn run(a: PredictArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    if a.batch == 0 {
        return Err("--batch 0: must be at least 1".into());
    }
    announce_backend(threads, backend);
    let ck = load_model(&a.model)?;
    let cfg = &ck.config.model;
    let max_words = cfg.max_words();
    let all = read_lines(std::io::stdin().lock())?;
    let lines: Vec<usize> = (0..all.len()).filter(|&k| a.shard.is_none_or(|s| s.owns(k))).collect();
    let texts: Vec<&Result<String, String>> = lines.iter().map(|&k| &all[k]).collect();
    let samples: Vec<Option<Sample>> = texts
        .iter()
        .zip(&lines)
        .map(|(t, &index)| -> CliResult<Option<Sample>> {
            let Ok(t) = t else { return Ok(None) };
            let tokens = Tokens::of_text(t, &ck.vocab.vocab, ck.config.lowercase, cfg)?;
            Ok(Some(Sample { tokens, target: Target::Class(0), index }))
        })
        .collect::<CliResult<_>>()?;
    // Empty lines have no words for the model to read; they get no prediction.
    let readable: Vec<Sample> = samples.iter().flatten().filter(|s| !s.is_empty()).cloned().collect();
    let probs = train::predict(&ck.model, &ck.store, &readable, a.batch)?;
    let c = cfg.n_classes();
    let labels = &ck.config.labels;
    let mut out = std::io::stdout().lock();
    let mut k = 0;
    let (mut unreadable, mut cut) = (0usize, 0usize);
    for ((text, s), &line) in texts.iter().zip(&samples).zip(&lines) {
        let mark = |l: String| marked(l, a.shard.map(|_| line), a.json);
        let s = match (text, s) {
            (Err(msg), _) => {
                unreadable += 1;
                if a.json {
                    writeln!(out, "{}", mark(serde_json::json!({ "label": null, "error": msg }).to_string()))?;
                } else {
                    writeln!(out, "{}", mark(format!("(error: {msg})")))?;
                }
                continue;
            }
            (Ok(_), Some(s)) if !s.is_empty() => s,
            _ => {
                writeln!(out, "{}", mark(if a.json { "{\"label\":null}" } else { "(empty line)" }.into()))?;
                continue;
            }
        };
        let n_words = text.as_ref().map_or(0, |t| t.split_whitespace().count());
        let cut_from_words = (n_words > max_words).then_some(n_words);
        if let Some(n) = cut_from_words {
            cut += 1;
            eprintln!("note: line {} has {n} words; the model reads the first {max_words} (max_words)", s.index + 1);
        }
        let p = &probs[k];
        k += 1;
        if cfg.is_tagger() {
            let tags: Vec<&str> = p.chunks(c).map(|row| labels[argmax(row)].as_str()).collect();
            let any = tags.iter().position(|&t| t == labels[1]).map_or(0, |_| 1);
            if a.json {
                let line = Line { label: &labels[any], label_id: any, probs: p, tags: Some(tags), cut_from_words };
                writeln!(out, "{}", mark(serde_json::to_string(&line)?))?;
            } else {
                writeln!(out, "{}", mark(tags.join(" ")))?;
            }
        } else {
            let y = argmax(p);
            if a.json {
                let line = Line { label: &labels[y], label_id: y, probs: p, tags: None, cut_from_words };
                writeln!(out, "{}", mark(serde_json::to_string(&line)?))?;
            } else {
                let ps: Vec<String> = labels.iter().zip(p).map(|(l, v)| format!("{l}={v:.3}")).collect();
                writeln!(out, "{}", mark(format!("{}\t{}", labels[y], ps.join(" "))))?;
            }
        }
    }
    if unreadable > 0 {
        eprintln!("{unreadable} of {} lines could not be read (not UTF-8); each has an error line", texts.len());
    }
    if cut > 1 {
        eprintln!("{cut} texts were longer than max_words {max_words} and were cut");
    }
    Ok(())
}
