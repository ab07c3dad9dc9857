//! SST-2: the Stanford Sentiment Treebank, binary, sentence level (Socher
//! et al. 2013), as `stsa.binary.{train,dev,test}` (official split).

use std::path::Path;

use super::dataset::{BadRows, Dataset, Example, LoadOptions};
use super::labeled_lines::{self, Encoding};
use crate::error::Result;

/// The data set (and folder) name.
pub const NAME: &str = "sst2";
/// Label 0 and 1.
pub const LABELS: [&str; 2] = ["negative", "positive"];

/// Loads the three official files from `dir`.
pub fn load(dir: &Path, opts: LoadOptions) -> Result<Dataset<Example>> {
    let mut bad = BadRows::new(opts);
    let mut read =
        |split: &str| labeled_lines::read(&dir.join(format!("stsa.binary.{split}")), Encoding::Utf8, 2, &mut bad);
    let (train, dev, test) = (read("train")?, read("dev")?, read("test")?);
    Ok(Dataset {
        name: NAME.to_string(),
        dir: dir.to_path_buf(),
        split: "official (stsa.binary.train / .dev / .test)".to_string(),
        train,
        dev,
        test,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        unlabeled: Vec::new(),
        skipped: bad.skipped,
    })
}
