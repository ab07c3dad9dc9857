//! AG's News topic classification (Zhang, Zhao, LeCun 2015).
//!
//! `classes.txt` names the labels (class index k in the CSV is label k - 1).
//! Each CSV row is `"class","title","description"`; the text is
//! title + " " + description, cleaned by [`clean_ag_news`].
//!
//! Splits:
//! - official, when `train.csv` is in the folder: `train.csv` rows whose
//!   0-based index i has i % 20 == 0 are the dev split (6,000 of 120,000,
//!   1,500 per class in the published file), the rest are train;
//!   `test.csv` is test;
//! - `ag_news_small` (../shared/data/README.md), without `train.csv` or when
//!   asked for by name: rows 1..6,000 of `test.csv` in file order are
//!   train, of which i % 10 == 0 are dev, and rows 6,001..7,600 are test.
//!
//! A row's index counts every record of the file, skipped ones included, so
//! one bad row never moves the others between splits.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::clean::clean_ag_news;
use super::dataset::{io_err, BadRows, Dataset, Example, LoadOptions};
use crate::error::{Error, Result};

/// The data set (and folder) name.
pub const NAME: &str = "ag_news";
/// The reduced split's name, which also forces it.
pub const SMALL_NAME: &str = "ag_news_small";
/// Rows of `test.csv` that `ag_news_small` trains on.
pub const SMALL_TRAIN_ROWS: usize = 6000;
/// Every `SMALL_DEV_EVERY`-th training row of `ag_news_small` is dev.
pub const SMALL_DEV_EVERY: usize = 10;
/// Every `DEV_EVERY`-th row of the official `train.csv` is dev.
pub const DEV_EVERY: usize = 20;

/// Loads AG's News from `dir`: the official split if `train.csv` is there
/// and `force_small` is false, else `ag_news_small`.
pub fn load(dir: &Path, opts: LoadOptions, force_small: bool) -> Result<Dataset<Example>> {
    let labels = read_classes(&dir.join("classes.txt"))?;
    let mut bad = BadRows::new(opts);
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    let train_csv = dir.join("train.csv");
    let test_csv = dir.join("test.csv");
    let official = !force_small && train_csv.is_file();
    let (name, split) = if official {
        read_csv(&train_csv, labels.len(), &mut bad, |i, ex| {
            if i % DEV_EVERY == 0 { &mut dev } else { &mut train }.push(ex)
        })?;
        read_csv(&test_csv, labels.len(), &mut bad, |_, ex| test.push(ex))?;
        (
            NAME,
            format!("official (train.csv minus rows with 0-based index i % {DEV_EVERY} == 0, which are dev; test.csv)"),
        )
    } else {
        let rows = read_csv(&test_csv, labels.len(), &mut bad, |i, ex| {
            if i >= SMALL_TRAIN_ROWS {
                &mut test
            } else if i % SMALL_DEV_EVERY == 0 {
                &mut dev
            } else {
                &mut train
            }
            .push(ex)
        })?;
        let split = format!(
            "{SMALL_NAME} (test.csv rows 1..{SMALL_TRAIN_ROWS} train/dev, dev = 0-based i % {SMALL_DEV_EVERY} == 0; \
             rows {}..{rows} test)",
            SMALL_TRAIN_ROWS + 1
        );
        (SMALL_NAME, split)
    };
    Ok(Dataset {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        split,
        train,
        dev,
        test,
        labels,
        unlabeled: Vec::new(),
        skipped: bad.skipped,
    })
}

/// Label names, one per non-empty line.
fn read_classes(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let labels: Vec<String> =
        super::strip_bom(&text).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if labels.is_empty() {
        return Err(Error::BadFile { path: path.to_path_buf(), msg: "no class names".into() });
    }
    Ok(labels)
}

/// Streams `path`, handing each good row to `sink` with its 0-based record
/// index. Returns the number of records (good and skipped).
fn read_csv(path: &Path, n_labels: usize, bad: &mut BadRows, mut sink: impl FnMut(usize, Example)) -> Result<usize> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let mut record = csv::ByteRecord::new();
    let mut index = 0;
    loop {
        let start_line = reader.position().line() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(start_line, |p| p.line() as usize);
                match parse_row(&record, n_labels) {
                    Ok(ex) => sink(index, ex),
                    Err(msg) => bad.report(path, line, msg)?,
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => {
                    let source = std::io::Error::other(e.to_string());
                    return Err(Error::Io { path: path.to_path_buf(), source });
                }
                _ => bad.report(path, start_line, e.to_string())?,
            },
        }
        index += 1;
    }
    Ok(index)
}

fn parse_row(record: &csv::ByteRecord, n_labels: usize) -> std::result::Result<Example, String> {
    if record.len() != 3 {
        return Err(format!("expected 3 fields (class, title, description), found {}", record.len()));
    }
    let field = |k: usize, what: &str| {
        std::str::from_utf8(&record[k])
            .map_err(|e| format!("{what} is not valid UTF-8 at byte {}", e.valid_up_to() + 1))
    };
    let class = field(0, "class")?.trim();
    let label = match class.parse::<usize>() {
        Ok(c) if (1..=n_labels).contains(&c) => c - 1,
        _ => return Err(format!("class `{class}` is not one of 1..{n_labels}")),
    };
    let text = clean_ag_news(&format!("{} {}", field(1, "title")?, field(2, "description")?));
    if text.is_empty() {
        return Err("empty title and description".into());
    }
    Ok(Example { text, label })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn rows(n: usize, first_class: usize) -> String {
        (0..n).map(|i| format!("\"{}\",\"T{i}\",\"d \"\"q\"\" #39;s\"\n", (first_class + i) % 2 + 1)).collect()
    }

    #[test]
    fn switches_to_the_official_split_when_train_csv_exists() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "classes.txt", "A\nB\n");
        write(dir.path(), "test.csv", &rows(6010, 0));
        let small = load(dir.path(), LoadOptions::default(), false).unwrap();
        assert_eq!(small.name, SMALL_NAME);
        assert_eq!(small.sizes(), [5400, 600, 10]);
        assert_eq!(small.dev[1].text, "T10 d \"q\"'s");
        assert!(small.split.contains("rows 6001..6010 test"), "{}", small.split);

        write(dir.path(), "train.csv", &rows(40, 1));
        let full = load(dir.path(), LoadOptions::default(), false).unwrap();
        assert_eq!(full.name, NAME);
        assert_eq!(full.sizes(), [38, 2, 6010]);
        assert_eq!(full.dev[1], Example { text: "T20 d \"q\"'s".into(), label: 1 });
        assert!(full.split.starts_with("official"));
        assert_eq!(load(dir.path(), LoadOptions::default(), true).unwrap(), small);
    }

    #[test]
    fn bad_rows_name_file_and_line_and_keep_their_slot() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "classes.txt", "A\nB\n");
        let text = "\"1\",\"a\",\"b\"\n\"1\",\"multi\nline\",\"x\"\n\"5\",\"bad\",\"class\"\n\"2\",\"two fields\"\n\"2\",\"ok\",\"\"\n";
        write(dir.path(), "test.csv", text);
        let err = load(dir.path(), LoadOptions::default(), false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test.csv:4:") && msg.contains("class `5`"), "{msg}");

        let ds = load(dir.path(), LoadOptions { skip_bad_rows: true }, false).unwrap();
        assert_eq!(ds.skipped_count(), 2);
        assert_eq!((ds.skipped[0].line, ds.skipped[1].line), (4, 5));
        assert!(ds.skipped[1].msg.contains("found 2"), "{}", ds.skipped[1].msg);
        // Row 0 is dev; rows 1 and 4 train (2 and 3 skipped).
        assert_eq!(ds.dev, vec![Example { text: "a b".into(), label: 0 }]);
        assert_eq!(ds.train.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["multi line x", "ok"]);
    }
}
