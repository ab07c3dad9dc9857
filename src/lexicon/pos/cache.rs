//! Trained taggers cached on disk, so that a word-level attack trains the
//! tagger once per treebank instead of once per run. An entry is keyed by a
//! checksum of the treebank's bytes and the training options, and lives in
//! `$HOTFLIP_CACHE/pos`, else `$XDG_CACHE_HOME/hotflip/pos`, else
//! `~/.cache/hotflip/pos`. The cache is an optimisation: an entry that
//! cannot be read is retrained, one that cannot be written is skipped.

use std::path::{Path, PathBuf};

use super::tagger::{PerceptronTagger, TrainOptions};
use crate::error::{Error, Result};

/// The cache directory (not created here).
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HOTFLIP_CACHE")
        .map(|d| d.join("pos"))
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("hotflip").join("pos")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("hotflip").join("pos")))
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The cache file for `treebank` (its bytes) trained with `opts`.
pub fn entry_name(treebank: &[u8], opts: &TrainOptions) -> String {
    format!("tagger-{:016x}.json", fnv1a(&[treebank, format!("{opts:?}").as_bytes()]))
}

/// Whether the tagger came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from this cache entry.
    Cached,
    /// Trained now (and stored, if the cache is writable).
    Trained,
}

/// The tagger trained on `treebank` with `opts`, from `cache` (a directory)
/// when an entry for the same treebank bytes and options is there, else
/// trained and stored there.
pub fn train_cached(treebank: &Path, opts: &TrainOptions, cache: Option<&Path>) -> Result<(PerceptronTagger, Source)> {
    let bytes = std::fs::read(treebank).map_err(|source| Error::Io { path: treebank.to_path_buf(), source })?;
    let entry = cache.map(|d| d.join(entry_name(&bytes, opts)));
    if let Some(e) = entry.as_ref().filter(|e| e.is_file()) {
        if let Ok(t) = PerceptronTagger::load(e) {
            return Ok((t, Source::Cached));
        }
    }
    let tagger = PerceptronTagger::train_conllu(treebank, opts)?;
    if let Some(e) = &entry {
        if e.parent().is_some_and(|d| std::fs::create_dir_all(d).is_ok()) {
            let _ = tagger.save(e);
        }
    }
    Ok((tagger, Source::Trained))
}
