//! MR: Rotten Tomatoes sentence polarity (Pang and Lee 2005), one Latin-1
//! file `rt-polarity.all` with no official split.
//!
//! The split is seeded and fixed: the loaded rows are shuffled with
//! `Rng::new(SPLIT_SEED)`; the first 10% (n / 10, rounded down) are test,
//! the next 10% of the remainder are dev, the rest train. Each split keeps
//! file order. For the file as published (10,662 rows): 1,066 test, 959
//! dev, 8,637 train.

use std::path::Path;

use super::dataset::{BadRows, Dataset, Example, LoadOptions};
use super::labeled_lines::{self, Encoding};
use crate::error::Result;
use crate::rng::Rng;

/// The data set (and folder) name.
pub const NAME: &str = "mr";
/// Label 0 and 1.
pub const LABELS: [&str; 2] = ["negative", "positive"];
/// The year of the data set; changing it changes every MR result.
pub const SPLIT_SEED: u64 = 2005;

/// Loads `rt-polarity.all` from `dir` and splits it.
pub fn load(dir: &Path, opts: LoadOptions) -> Result<Dataset<Example>> {
    let mut bad = BadRows::new(opts);
    let rows = labeled_lines::read(&dir.join("rt-polarity.all"), Encoding::Latin1, 2, &mut bad)?;
    let (train, dev, test) = split(rows, SPLIT_SEED);
    Ok(Dataset {
        name: NAME.to_string(),
        dir: dir.to_path_buf(),
        split: format!("seeded (seed {SPLIT_SEED}): 10% test, 10% of the rest dev, the rest train"),
        train,
        dev,
        test,
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        unlabeled: Vec::new(),
        skipped: bad.skipped,
    })
}

/// Shuffled split of `rows` into (train, dev, test), each in input order.
pub(crate) fn split<T>(rows: Vec<T>, seed: u64) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n = rows.len();
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let n_test = n / 10;
    let n_dev = (n - n_test) / 10;
    // 0 = train, 1 = dev, 2 = test, by position in the shuffled order.
    let mut part = vec![0u8; n];
    for (rank, &i) in order.iter().enumerate() {
        part[i] = if rank < n_test {
            2
        } else if rank < n_test + n_dev {
            1
        } else {
            0
        };
    }
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (row, p) in rows.into_iter().zip(part) {
        match p {
            2 => test.push(row),
            1 => dev.push(row),
            _ => train.push(row),
        }
    }
    (train, dev, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_a_seeded_partition_in_file_order() {
        let (train, dev, test) = split((0..1000).collect::<Vec<u32>>(), SPLIT_SEED);
        assert_eq!((train.len(), dev.len(), test.len()), (810, 90, 100));
        let mut all: Vec<u32> = train.iter().chain(&dev).chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<u32>>());
        assert!(test.windows(2).all(|w| w[0] < w[1]));
        // Shuffled, not the first rows; and the seed matters.
        assert_ne!(test, (0..100).collect::<Vec<u32>>());
        assert_ne!(split((0..1000).collect::<Vec<u32>>(), SPLIT_SEED + 1).2, test);
        assert_eq!(split((0..1000).collect::<Vec<u32>>(), SPLIT_SEED).2, test);
    }
}
