//! `hotflip pos-train` and `hotflip pos-tag`: the part-of-speech tagger the
//! word-level attack uses, trained and tried on its own.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;

use hotflip::lexicon::pos::{conllu, PerceptronTagger, PosTagger, TrainOptions};
use hotflip::lexicon::resources;

use super::CliResult;

#[derive(Args)]
pub struct PosTrainArgs {
    /// CoNLL-U training file (default: the treebank found under --data-root).
    #[arg(long, value_name = "FILE")]
    conllu: Option<PathBuf>,
    /// Where to look for a treebank when --conllu is not given.
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    data_root: PathBuf,
    /// CoNLL-U file to report accuracy on after training.
    #[arg(long, value_name = "FILE")]
    dev: Option<PathBuf>,
    /// Where to write the model (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Passes over the training data.
    #[arg(long, default_value_t = TrainOptions::default().iterations)]
    iterations: usize,
    /// Seed of the order sentences are visited in.
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    seed: u64,
    /// Lowercase all text, in training and tagging (for lowercased data sets such as SST-2).
    #[arg(long)]
    lowercase: bool,
}

#[derive(Args)]
pub struct PosTagArgs {
    /// A model written by pos-train.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
}

pub fn train(a: PosTrainArgs) -> CliResult<()> {
    let path = match a.conllu {
        Some(p) => p,
        None => resources::pos_treebank(&a.data_root)?,
    };
    let sentences = conllu::read(&path)?;
    let words: usize = sentences.iter().map(|s| s.tokens.len()).sum();
    eprintln!("pos-train: {}: {} sentences, {words} words", path.display(), sentences.len());
    let opts = TrainOptions { iterations: a.iterations, seed: a.seed, lowercase: a.lowercase, ..Default::default() };
    let start = std::time::Instant::now();
    let tagger = PerceptronTagger::train_with_progress(&sentences, &opts, |i, acc| {
        eprintln!("  pass {}/{}: training accuracy {:.4}", i + 1, opts.iterations, acc.ratio());
    })?;
    let (dict, features) = tagger.size();
    eprintln!(
        "pos-train: trained in {:.1} s ({dict} tag-dictionary words, {features} features)",
        start.elapsed().as_secs_f64()
    );
    if let Some(dev) = &a.dev {
        let acc = tagger.evaluate(&conllu::read(dev)?);
        println!("{}: accuracy {:.4} ({}/{} words)", dev.display(), acc.ratio(), acc.correct, acc.total);
    }
    tagger.save(&a.out)?;
    eprintln!("pos-train: wrote {}", a.out.display());
    Ok(())
}

/// Tags standard input, one sentence per line, tokens split on whitespace;
/// prints `token/TAG` pairs, one sentence per line.
pub fn tag(a: PosTagArgs) -> CliResult<()> {
    let tagger = PerceptronTagger::load(&a.model)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("reading standard input, line {}: {e}", i + 1))?;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let tagged: Vec<String> = tokens.iter().zip(tagger.tag(&tokens)).map(|(w, t)| format!("{w}/{t}")).collect();
        writeln!(out, "{}", tagged.join(" "))?;
    }
    out.flush()?;
    Ok(())
}
