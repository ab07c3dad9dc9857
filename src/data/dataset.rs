//! The records a loader produces and the dataset that holds them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A text with one class label (index into [`Dataset::labels`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Cleaned text; its words are `text.split_whitespace()`.
    pub text: String,
    /// Index into [`Dataset::labels`].
    pub label: usize,
}

/// A tokenised sentence with one label per token: `c` (correct) = 0,
/// `i` (incorrect) = 1 for grammatical error detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedSentence {
    /// The tokens as the data set splits them.
    pub tokens: Vec<String>,
    /// `labels[t]` tags `tokens[t]`.
    pub labels: Vec<usize>,
}

/// A source sentence and its translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParallelPair {
    /// Source sentence.
    pub src: String,
    /// Target sentence.
    pub tgt: String,
}

/// How a loader treats malformed rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Skip malformed rows (recording them in [`Dataset::skipped`]) instead
    /// of failing on the first one.
    pub skip_bad_rows: bool,
}

/// A malformed row that was skipped: where it is and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    /// The file it is in.
    pub path: PathBuf,
    /// 1-based line (the record's first line); for a one-record file, 1.
    pub line: usize,
    /// What is wrong with it.
    pub msg: String,
}

/// A loaded data set: three splits of one record type.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T> {
    /// The name the data is known by in results, e.g. `ag_news` or
    /// `ag_news_small` (which split was used shows in the name too).
    pub name: String,
    /// The folder it was read from.
    pub dir: PathBuf,
    /// Human-readable description of the split, e.g. `"official"`.
    pub split: String,
    /// Training records.
    pub train: Vec<T>,
    /// Development records, for model selection and early stopping.
    pub dev: Vec<T>,
    /// Test records, for reported figures only.
    pub test: Vec<T>,
    /// Label names, index = label id; empty for translation.
    pub labels: Vec<String>,
    /// Texts without labels (IMDB's `train/unsup`); empty elsewhere.
    pub unlabeled: Vec<String>,
    /// Rows skipped under [`LoadOptions::skip_bad_rows`].
    pub skipped: Vec<SkippedRow>,
}

impl<T> Dataset<T> {
    /// Number of malformed rows that were skipped.
    pub fn skipped_count(&self) -> usize {
        self.skipped.len()
    }

    /// `train / dev / test` sizes, for logs and results files.
    pub fn sizes(&self) -> [usize; 3] {
        [self.train.len(), self.dev.len(), self.test.len()]
    }
}

/// Fails on a malformed row, or records it and lets the loader go on.
pub(crate) struct BadRows {
    skip: bool,
    pub(crate) skipped: Vec<SkippedRow>,
}

impl BadRows {
    pub(crate) fn new(opts: LoadOptions) -> Self {
        BadRows { skip: opts.skip_bad_rows, skipped: Vec::new() }
    }

    /// `Ok(())` means "skipped, carry on".
    pub(crate) fn report(&mut self, path: &Path, line: usize, msg: impl Into<String>) -> Result<()> {
        let msg = msg.into();
        if self.skip {
            self.skipped.push(SkippedRow { path: path.to_path_buf(), line, msg });
            Ok(())
        } else {
            Err(Error::Data { path: path.to_path_buf(), line, msg })
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}
