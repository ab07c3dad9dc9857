//! `hotflip demo`: the whole tool in one command — train the small
//! character model on AG's News, evaluate it, attack it, write a report.
//! Every step resumes: rerunning continues an interrupted demo and skips
//! finished steps.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Args, Parser};

use hotflip::cuda::Backend;

use super::{Cli, CliResult, Command};

#[derive(Args)]
pub struct DemoArgs {
    /// Where the model, results and report go (default: $HOTFLIP_RUNS/demo, else runs/demo in the current directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// AG's News split: ag_news_small until the official train.csv is present.
    #[arg(long, default_value = "ag_news_small")]
    dataset: String,
    /// The data set's own folder (default: $HOTFLIP_DATA/ag_news, then data/ag_news, then ../shared/data/ag_news).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Training epochs (about 7 s each on 2 cores).
    #[arg(long, default_value_t = 40)]
    epochs: u64,
    /// Correctly classified test documents to attack.
    #[arg(long, default_value_t = 200)]
    limit: usize,
}

/// Parses one step's command line as the user would type it.
fn step(words: Vec<String>) -> CliResult<Command> {
    let cli = Cli::try_parse_from(std::iter::once("hotflip".to_string()).chain(words))?;
    Ok(cli.command)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The environment variable naming the folder runs go to by default.
pub const RUNS_ENV: &str = "HOTFLIP_RUNS";

/// `--out`, else `$HOTFLIP_RUNS/demo`, else `runs/demo`.
fn out_dir(out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| {
        std::env::var_os(RUNS_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("runs"), PathBuf::from)
            .join("demo")
    })
}

pub fn run(a: DemoArgs, threads: usize, backend: &Backend, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    let out = out_dir(a.out.clone());
    let shown = std::path::absolute(&out).unwrap_or_else(|_| out.clone());
    eprintln!("demo: writing to {} (--out or ${RUNS_ENV} to change)", shown.display());
    let model = out.join("model");
    let data: Vec<String> = match &a.data_dir {
        Some(d) => vec!["--dataset".into(), a.dataset.clone(), "--data-dir".into(), s(d)],
        None => vec!["--dataset".into(), a.dataset.clone()],
    };
    if !model.join("summary.json").exists() {
        eprintln!("demo 1/3: training char_cnn_lstm (small preset) for {} epochs", a.epochs);
        let mut w: Vec<String> = vec!["train".into(), "--arch".into(), "char_cnn_lstm".into()];
        w.extend(data.clone());
        w.extend(["--out".into(), s(&model), "--epochs".into(), a.epochs.to_string(), "--no-progress".into()]);
        if model.join("last").join("trainer.json").exists() {
            w.push("--resume".into());
        }
        if let Command::Train(t) = step(w)? {
            super::train::run(*t, threads, backend, true, Arc::clone(&interrupt))?;
        }
        if !model.join("summary.json").exists() {
            return Err("training stopped before it finished; run the same command again to continue".into());
        }
    } else {
        eprintln!("demo 1/3: {} is trained already", model.display());
    }
    eprintln!("demo 2/3: test accuracy");
    let mut w: Vec<String> = vec!["eval".into(), "--model".into(), s(&model)];
    w.extend(data.clone());
    if let Command::Eval(e) = step(w)? {
        super::eval::run(e, threads, backend)?;
    }
    eprintln!("demo 3/3: HotFlip (beam 10, τ 0.5, 10% of characters) on {} test documents", a.limit);
    let mut w: Vec<String> = vec!["attack".into(), "--model".into(), s(&model)];
    w.extend(data);
    w.extend([
        "--limit".into(),
        a.limit.to_string(),
        "--out".into(),
        s(&out.join("attack.jsonl")),
        "--summary".into(),
        s(&out.join("attack.json")),
        "--html".into(),
        s(&out.join("attack.html")),
    ]);
    if let Command::Attack(t) = step(w)? {
        super::attack::run(*t, threads, backend, interrupt)?;
    }
    eprintln!(
        "demo done: model {}, results {}, report {}",
        model.display(),
        out.join("attack.jsonl").display(),
        out.join("attack.html").display()
    );
    Ok(())
}
