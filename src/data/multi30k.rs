//! Multi30k (Elliott et al. 2016) task 1, German to English: line-aligned
//! plain-text files, one sentence per line.
//!
//! File names looked for, first pair found wins:
//! train `train.{de,en}`; dev `val.{de,en}`, `valid.{de,en}`, `dev.{de,en}`;
//! test `test_2016_flickr.{de,en}`, `test2016.{de,en}`, `test.{de,en}`.
//! Gzipped files must be decompressed first (the error says so when it sees
//! one). The two files of a split must have the same number of lines.

use std::path::Path;

use super::dataset::{BadRows, Dataset, LoadOptions, ParallelPair};
use super::lines::{utf8, ByteLines};
use super::split_files;
use crate::error::{Error, Result};

/// The data set (and folder) name.
pub const NAME: &str = "multi30k";
/// Source language suffix.
pub const SRC: &str = "de";
/// Target language suffix.
pub const TGT: &str = "en";

/// The file stems tried for each split, in order.
pub fn stems(split: &str) -> &'static [&'static str] {
    match split {
        "train" => &["train"],
        "dev" => &["val", "valid", "dev"],
        _ => &["test_2016_flickr", "test2016", "test"],
    }
}

/// Loads the three splits from `dir`.
pub fn load(dir: &Path, opts: LoadOptions) -> Result<Dataset<ParallelPair>> {
    let mut bad = BadRows::new(opts);
    let mut splits = Vec::new();
    let mut used = Vec::new();
    for split in ["train", "dev", "test"] {
        let names = |lang: &str| stems(split).iter().map(|s| format!("{s}.{lang}")).collect::<Vec<_>>();
        let src = split_files::find(dir, NAME, split, &names(SRC))?;
        // The target file must be the source's twin, not another release's.
        let tgt = src.with_extension(TGT);
        if !tgt.is_file() {
            return Err(Error::MissingDataset {
                name: format!("{NAME} ({split} split)"),
                looked: vec![tgt],
                hint: format!("{} has no {TGT} twin", src.display()),
            });
        }
        splits.push(read_pair(&src, &tgt, &mut bad)?);
        used.push(src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    }
    let test = splits.pop().unwrap_or_default();
    let dev = splits.pop().unwrap_or_default();
    let train = splits.pop().unwrap_or_default();
    Ok(Dataset {
        name: NAME.to_string(),
        dir: dir.to_path_buf(),
        split: format!("official {SRC}->{TGT} ({})", used.join(", ")),
        train,
        dev,
        test,
        labels: Vec::new(),
        unlabeled: Vec::new(),
        skipped: bad.skipped,
    })
}

/// Reads two line-aligned files in step.
pub(crate) fn read_pair(src_path: &Path, tgt_path: &Path, bad: &mut BadRows) -> Result<Vec<ParallelPair>> {
    let mut src = ByteLines::open(src_path)?;
    let mut tgt = ByteLines::open(tgt_path)?;
    let mut out = Vec::new();
    loop {
        let (s, t) = (src.next_line()?, tgt.next_line()?);
        let ((line, s), (_, t)) = match (s, t) {
            (None, None) => break,
            (Some(s), Some(t)) => (s, t),
            (Some((line, _)), None) | (None, Some((line, _))) => {
                return Err(Error::BadFile {
                    path: src_path.to_path_buf(),
                    msg: format!(
                        "{} and {} differ in length (one ends before line {line})",
                        src_path.display(),
                        tgt_path.display()
                    ),
                });
            }
        };
        let side = |bytes: &[u8], path: &Path| match utf8(bytes) {
            Ok(text) if text.trim().is_empty() => Err((path.to_path_buf(), "empty sentence".to_string())),
            Ok(text) => Ok(text.trim().to_string()),
            Err(msg) => Err((path.to_path_buf(), msg)),
        };
        match (side(s, src_path), side(t, tgt_path)) {
            (Ok(src), Ok(tgt)) => out.push(ParallelPair { src, tgt }),
            (Err((path, msg)), _) | (_, Err((path, msg))) => bad.report(&path, line, msg)?,
        }
    }
    Ok(out)
}
