//! Finding a split's file among the names different releases use.

use std::path::{Path, PathBuf};

use super::locate::hint;
use crate::error::{Error, Result};

/// The first of `candidates` (file names in `dir`) that exists; else an
/// error listing all of them, and any gzipped copy seen beside them.
pub(crate) fn find(dir: &Path, dataset: &str, split: &str, candidates: &[String]) -> Result<PathBuf> {
    let looked: Vec<PathBuf> = candidates.iter().map(|c| dir.join(c)).collect();
    if let Some(found) = looked.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let gz: Vec<String> = looked
        .iter()
        .map(|p| PathBuf::from(format!("{}.gz", p.display())))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    let mut hint = hint(dataset);
    if !gz.is_empty() {
        hint = format!("Found {}: decompress it (gunzip -k). {hint}", gz.join(", "));
    }
    Err(Error::MissingDataset { name: format!("{dataset} ({split} split)"), looked, hint })
}
