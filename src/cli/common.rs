//! Pieces several subcommands share: data set loading, model loading, and
//! the backend line.

use std::path::{Path, PathBuf};

use clap::Args;

use hotflip::checkpoint::{self, Checkpoint};
use hotflip::cuda::Backend;
use hotflip::data::{self, AnyDataset, LoadOptions};
use hotflip::train::resolve_model_dir;

use super::CliResult;

/// Where a data set comes from.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Data set: ag_news, ag_news_small, sst2, mr, imdb, fce (see ../shared/data/README.md).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// The data set's own folder (default: data/<name>, then ../shared/data/<name>).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Skip malformed rows (and report how many) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    pub fn load(&self) -> CliResult<AnyDataset> {
        let opts = LoadOptions { skip_bad_rows: self.skip_bad_rows };
        let d = data::load(&self.dataset, self.data_dir.as_deref(), opts)?;
        let (sizes, skipped) = match &d {
            AnyDataset::Classification(d) => (d.sizes(), d.skipped_count()),
            AnyDataset::Tagging(d) => (d.sizes(), d.skipped_count()),
            AnyDataset::Translation(d) => (d.sizes(), d.skipped_count()),
        };
        eprintln!(
            "data: {} ({}): {} train / {} dev / {} test{}",
            d.name(),
            d.split(),
            sizes[0],
            sizes[1],
            sizes[2],
            if skipped > 0 { format!(", {skipped} malformed rows skipped") } else { String::new() }
        );
        Ok(d)
    }
}

/// Loads `--model DIR` (a checkpoint, or a training run's best one).
pub fn load_model(dir: &Path) -> CliResult<Checkpoint> {
    let resolved = resolve_model_dir(dir)?;
    if resolved != dir {
        eprintln!("model: {} (the run's best checkpoint)", resolved.display());
    }
    Ok(checkpoint::load(&resolved)?)
}

/// Says once which backend computes. The tape runs on the CPU for now; with
/// a GPU selected, say that it is not used by this command.
pub fn announce_backend(threads: usize, backend: &Backend) {
    match backend {
        Backend::Cpu { .. } => eprintln!("backend: cpu ({threads} threads)"),
        Backend::Cuda(_) => {
            eprintln!("backend: cpu ({threads} threads); the GPU is selected but this command runs on the CPU engine")
        }
    }
}

/// [`announce_backend`] for the attack: the character attack scores and
/// prunes on the GPU; forward and backward stay on the CPU engine.
pub fn announce_attack_backend(threads: usize, backend: &Backend, char_level: bool) {
    match backend {
        Backend::Cuda(gpu) if char_level => eprintln!(
            "backend: cuda ({}) for HotFlip scoring and top-b pruning; forward/backward on the cpu engine ({threads} \
             threads)",
            gpu.info().name
        ),
        _ => announce_backend(threads, backend),
    }
}
