//! `hotflip merge`: joins the results files of `hotflip attack --shard I/N`
//! runs into the file, summary and report one unsharded run writes.

use std::path::PathBuf;

use clap::Args;

use hotflip::attack::{merge, report, Summary};
use hotflip::checkpoint;
use hotflip::util::atomic;

use super::CliResult;

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' --out files (each with its .meta.json beside it).
    #[arg(required = true, value_name = "SHARD.jsonl")]
    shards: Vec<PathBuf>,
    /// The joined results, in index order.
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    /// The run's summary as JSON.
    #[arg(long, value_name = "FILE.json")]
    summary: Option<PathBuf>,
    /// An HTML report (reads the labels from the model's config.json).
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
}

pub fn run(a: MergeArgs) -> CliResult<()> {
    let merged = merge(&a.shards)?;
    let mut jsonl = Vec::new();
    for r in &merged.results {
        serde_json::to_writer(&mut jsonl, r)?;
        jsonl.push(b'\n');
    }
    atomic::write_file(&a.out, &jsonl)?;
    let mut meta_path = a.out.as_os_str().to_owned();
    meta_path.push(".meta.json");
    atomic::write_file(&PathBuf::from(meta_path), &serde_json::to_vec_pretty(&merged.meta)?)?;
    let summary = Summary::of(&merged.info()?, &merged.results);
    if let Some(p) = &a.summary {
        atomic::write_file(p, &serde_json::to_vec_pretty(&summary)?)?;
    }
    if let Some(p) = &a.html {
        let dir = merged.model_dir().ok_or("the shards' settings name no model")?;
        let config = checkpoint::load_config(&dir).map_err(|e| format!("--html needs the model's labels: {e}"))?;
        atomic::write_file(p, report::html(&summary, &merged.results, &config.labels).as_bytes())?;
    }
    eprint!("{}", report::table(&summary));
    eprintln!("merged {} shards: {} results -> {}", a.shards.len(), merged.results.len(), a.out.display());
    Ok(())
}
