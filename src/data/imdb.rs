//! IMDB movie reviews (Maas et al. 2011) in the `aclImdb` layout:
//! `train/{neg,pos,unsup}/*.txt` and `test/{neg,pos}/*.txt`, one review per
//! file, the label from the folder (neg = 0, pos = 1). `dir` may be the
//! `aclImdb` folder itself or a folder that holds it.
//!
//! Files are read in order of their numeric id (`<id>_<rating>.txt`), neg
//! before pos. Dev: the training reviews whose 0-based index i in that order
//! has i % 10 == 0 (2,500 of 25,000, balanced). `train/unsup` (50,000) is
//! [`Dataset::unlabeled`], for virtual adversarial training. `<br />` line
//! breaks become spaces.

use std::path::{Path, PathBuf};

use super::clean::collapse_whitespace;
use super::dataset::{io_err, BadRows, Dataset, Example, LoadOptions};
use crate::error::{Error, Result};

/// The data set (and folder) name.
pub const NAME: &str = "imdb";
/// Label 0 and 1, the folders `neg` and `pos`.
pub const LABELS: [&str; 2] = ["negative", "positive"];
/// Every `DEV_EVERY`-th training review is dev.
pub const DEV_EVERY: usize = 10;

/// Loads the reviews under `dir`.
pub fn load(dir: &Path, opts: LoadOptions) -> Result<Dataset<Example>> {
    let root =
        if !dir.join("train").is_dir() && dir.join("aclImdb").is_dir() { dir.join("aclImdb") } else { dir.into() };
    let mut bad = BadRows::new(opts);
    let labeled = |split: &str, bad: &mut BadRows| -> Result<Vec<Example>> {
        let mut out = Vec::new();
        for (label, folder) in ["neg", "pos"].into_iter().enumerate() {
            for text in read_folder(&root.join(split).join(folder), bad)? {
                out.push(Example { text, label });
            }
        }
        Ok(out)
    };
    let all_train = labeled("train", &mut bad)?;
    let test = labeled("test", &mut bad)?;
    let unsup = root.join("train").join("unsup");
    let unlabeled = if unsup.is_dir() { read_folder(&unsup, &mut bad)? } else { Vec::new() };
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for (i, ex) in all_train.into_iter().enumerate() {
        if i % DEV_EVERY == 0 { &mut dev } else { &mut train }.push(ex);
    }
    Ok(Dataset {
        name: NAME.to_string(),
        dir: root,
        split: format!("official (train minus every {DEV_EVERY}th review in id order, neg then pos, as dev; test)"),
        train,
        dev,
        test,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        unlabeled,
        skipped: bad.skipped,
    })
}

/// The cleaned texts of the `.txt` files in `folder`, in id order.
fn read_folder(folder: &Path, bad: &mut BadRows) -> Result<Vec<String>> {
    if !folder.is_dir() {
        return Err(Error::BadFile {
            path: folder.to_path_buf(),
            msg: "missing folder; expected the aclImdb layout train/{neg,pos}, test/{neg,pos}".into(),
        });
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io_err(folder))? {
        let path = entry.map_err(io_err(folder))?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            files.push(path);
        }
    }
    files.sort_by_cached_key(|p| {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let id = stem.split('_').next().and_then(|id| id.parse::<u64>().ok()).unwrap_or(u64::MAX);
        (id, stem)
    });
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let text = match String::from_utf8(bytes) {
            Ok(s) => clean(super::strip_bom(&s)),
            Err(e) => {
                bad.report(&path, 1, format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to() + 1))?;
                continue;
            }
        };
        if text.is_empty() {
            bad.report(&path, 1, "empty review")?;
            continue;
        }
        out.push(text);
    }
    Ok(out)
}

/// `<br />` (and `<br/>`, `<br>`, any case) to spaces, whitespace collapsed.
fn clean(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(lt) = rest.find('<') {
        s.push_str(&rest[..lt]);
        let tail = &rest[lt..];
        let br = ["<br />", "<br/>", "<br>"]
            .iter()
            .find(|tag| tail.get(..tag.len()).is_some_and(|t| t.eq_ignore_ascii_case(tag)));
        match br {
            Some(tag) => {
                s.push(' ');
                rest = &tail[tag.len()..];
            }
            None => {
                s.push('<');
                rest = &tail[1..];
            }
        }
    }
    s.push_str(rest);
    collapse_whitespace(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_tags_become_spaces() {
        assert_eq!(clean("Great.<br /><br />Really<BR>good <b>x</b> a<b"), "Great. Really good <b>x</b> a<b");
    }
}
