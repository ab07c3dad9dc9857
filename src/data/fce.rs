//! FCE-public grammatical error detection (Yannakoudakis et al. 2011, as
//! released by Rei and Yannakoudakis 2016): one `token<TAB>label` per line,
//! label `c` (correct, 0) or `i` (incorrect, 1), a blank line between
//! sentences.
//!
//! File names looked for, first found wins, per split (train, dev, test):
//! `fce-public.{split}.original.tsv`, `fce-public.{split}.tsv`,
//! `{split}.tsv`. A sentence with a malformed line is an error, or with
//! [`LoadOptions::skip_bad_rows`] is dropped whole (each bad line counted),
//! since a sentence missing a token would no longer be the learner's text.

use std::path::Path;

use super::dataset::{BadRows, Dataset, LoadOptions, TaggedSentence};
use super::lines::{utf8, ByteLines};
use super::split_files;
use crate::error::Result;

/// The data set (and folder) name.
pub const NAME: &str = "fce";
/// Token labels: `c` = 0, `i` = 1.
pub const LABELS: [&str; 2] = ["c", "i"];

/// The file names tried for `split`, in order.
pub fn candidates(split: &str) -> Vec<String> {
    vec![format!("fce-public.{split}.original.tsv"), format!("fce-public.{split}.tsv"), format!("{split}.tsv")]
}

/// Loads the three splits from `dir`.
pub fn load(dir: &Path, opts: LoadOptions) -> Result<Dataset<TaggedSentence>> {
    let mut bad = BadRows::new(opts);
    let mut files = Vec::new();
    let mut splits = Vec::new();
    for split in ["train", "dev", "test"] {
        let path = split_files::find(dir, NAME, split, &candidates(split))?;
        splits.push(read(&path, &mut bad)?);
        files.push(path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
    }
    let test = splits.pop().unwrap_or_default();
    let dev = splits.pop().unwrap_or_default();
    let train = splits.pop().unwrap_or_default();
    Ok(Dataset {
        name: NAME.to_string(),
        dir: dir.to_path_buf(),
        split: format!("official ({})", files.join(", ")),
        train,
        dev,
        test,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        unlabeled: Vec::new(),
        skipped: bad.skipped,
    })
}

/// Reads one TSV file into sentences.
pub(crate) fn read(path: &Path, bad: &mut BadRows) -> Result<Vec<TaggedSentence>> {
    let mut lines = ByteLines::open(path)?;
    let mut out = Vec::new();
    let mut current = TaggedSentence { tokens: Vec::new(), labels: Vec::new() };
    let mut current_bad = false;
    let mut finish = |current: &mut TaggedSentence, current_bad: &mut bool| {
        let sentence = std::mem::replace(current, TaggedSentence { tokens: Vec::new(), labels: Vec::new() });
        if !sentence.tokens.is_empty() && !*current_bad {
            out.push(sentence);
        }
        *current_bad = false;
    };
    while let Some((line, bytes)) = lines.next_line()? {
        let parsed = utf8(bytes).and_then(|text| {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let fields: Vec<&str> = text.split('\t').collect();
            let [token, label] = fields[..] else {
                return Err(format!("expected `token<TAB>label`, found {} tab-separated fields", fields.len()));
            };
            let label = match label.trim() {
                "c" => 0,
                "i" => 1,
                other => return Err(format!("label `{other}` is not `c` or `i`")),
            };
            if token.trim().is_empty() {
                return Err("empty token".into());
            }
            Ok(Some((token.trim().to_string(), label)))
        });
        match parsed {
            Ok(Some((token, label))) => {
                current.tokens.push(token);
                current.labels.push(label);
            }
            Ok(None) => finish(&mut current, &mut current_bad),
            Err(msg) => {
                bad.report(path, line, msg)?;
                current_bad = true;
            }
        }
    }
    finish(&mut current, &mut current_bad);
    Ok(out)
}
