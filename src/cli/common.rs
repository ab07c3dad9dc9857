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
    /// Data set: ag_news, ag_news_small, sst2, mr, imdb, fce, multi30k (see ../shared/data/README.md).
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// The data set's own folder (default: $HOTFLIP_DATA/<name>, then data/<name>, then ../shared/data/<name>).
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
        let split = split_without_name(d.name(), d.split());
        eprintln!(
            "data: {} from {}: {} train / {} dev / {} test; split: {split}{}",
            d.name(),
            d.dir().display(),
            sizes[0],
            sizes[1],
            sizes[2],
            if skipped > 0 { format!(", {skipped} malformed rows skipped") } else { String::new() }
        );
        Ok(d)
    }
}

/// The split description without the data set's name in front (the reduced
/// AG's News split's description starts with it), so the `data:` line says
/// the name once.
fn split_without_name<'a>(name: &str, split: &'a str) -> &'a str {
    split.strip_prefix(name).map_or(split, |s| {
        let s = s.trim();
        s.strip_prefix('(').and_then(|s| s.strip_suffix(')')).unwrap_or(s)
    })
}

/// Loads `--model DIR` (a checkpoint, or a training run's best one).
pub fn load_model(dir: &Path) -> CliResult<Checkpoint> {
    let resolved = resolve_model_dir(dir)?;
    if resolved != dir {
        eprintln!("model: {} (the run's best checkpoint)", resolved.display());
    }
    Ok(checkpoint::load(&resolved)?)
}

/// Says once, in one line, which backend computes: nothing when the user
/// chose `--device cpu`; with `auto`, why no GPU was taken. The tape runs on
/// the CPU for now; with a GPU selected, say that it is not used.
pub fn announce_backend(threads: usize, backend: &Backend) {
    if let Some(line) = backend_line(threads, backend) {
        eprintln!("{line}");
    }
}

fn backend_line(threads: usize, backend: &Backend) -> Option<String> {
    match backend {
        Backend::Cpu { fallback: None } => None,
        Backend::Cpu { fallback: Some(reason) } => Some(format!("backend: cpu, {threads} threads ({reason})")),
        Backend::Cuda(_) => Some(format!(
            "backend: cpu, {threads} threads (the GPU is selected, but this command runs on the CPU engine)"
        )),
    }
}

/// [`announce_backend`] for the attack: both attacks run their forward and
/// backward passes on the GPU; the character attack also scores and prunes
/// there, the word attack scores its flips on the CPU.
pub fn announce_attack_backend(threads: usize, backend: &Backend, char_level: bool) {
    match backend {
        Backend::Cuda(gpu) => eprintln!(
            "backend: cuda ({}{}) for forward/backward, {}",
            gpu.info().name,
            if gpu.is_emulated() { ", emulated on the CPU" } else { "" },
            if char_level { "HotFlip scoring and top-b pruning" } else { "word flips scored on the CPU" }
        ),
        _ => announce_backend(threads, backend),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_line_names_the_set_once() {
        let split = "ag_news_small (test.csv rows 1..6000 train/dev; rows 6001..7600 test)";
        assert_eq!(split_without_name("ag_news_small", split), "test.csv rows 1..6000 train/dev; rows 6001..7600 test");
        let official = "official (stsa.binary.train / .dev / .test)";
        assert_eq!(split_without_name("sst2", official), official);
    }

    #[test]
    fn no_backend_line_when_the_user_chose_the_cpu() {
        assert_eq!(backend_line(2, &Backend::Cpu { fallback: None }), None);
        let line = backend_line(2, &Backend::Cpu { fallback: Some("no CUDA driver found".into()) }).unwrap();
        assert!(!line.contains('\n') && line.contains("no CUDA driver found"), "{line}");
    }
}
