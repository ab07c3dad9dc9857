//! Pre-trained word vectors in the word2vec / GloVe text format: one
//! `word v1 … vD` per line, separated by spaces; word2vec's optional first
//! line `COUNT DIM` is recognised and skipped. Used to initialise a word
//! model's `embedding.weight` (`train --init-vectors`): the rows of
//! vocabulary words found in the file are replaced, every other row keeps
//! the model's own initialisation.

use std::path::Path;

use super::lines::{utf8, ByteLines};
use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The vectors of the vocabulary words a file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Pretrained {
    /// Vector size.
    pub dim: usize,
    /// `(vocabulary id, vector)` for every covered word, in file order.
    pub rows: Vec<(usize, Vec<f32>)>,
    /// Lines (words) in the file.
    pub file_words: usize,
}

impl Pretrained {
    /// Vocabulary words found (PAD and UNK never are).
    pub fn covered(&self) -> usize {
        self.rows.len()
    }

    /// Overwrites the covered rows of `table` `[V, dim]`.
    pub fn apply(&self, table: &mut Tensor) -> Result<()> {
        let shape = table.shape().to_vec();
        if shape.len() != 2 || shape[1] != self.dim {
            return Err(Error::invalid(
                "init vectors",
                format!("the embedding table is {shape:?}; the vectors have {} dimensions", self.dim),
            ));
        }
        let d = self.dim;
        let data = table.data_mut();
        for (id, v) in &self.rows {
            let row = data.get_mut(id * d..(id + 1) * d).ok_or(Error::IndexOutOfRange {
                op: "init vectors",
                index: *id,
                size: shape[0],
            })?;
            row.copy_from_slice(v);
        }
        Ok(())
    }
}

/// A line's word and values, or why it is not one; `None` for word2vec's
/// `COUNT DIM` header (first line only) and blank lines.
fn parse_line(text: &str, first: bool) -> std::result::Result<Option<(&str, Vec<f32>)>, String> {
    let mut fields = text.split(' ').filter(|f| !f.is_empty());
    let Some(word) = fields.next() else { return Ok(None) };
    let rest: Vec<&str> = fields.collect();
    if first && rest.len() == 1 && word.parse::<usize>().is_ok() && rest[0].parse::<usize>().is_ok() {
        return Ok(None);
    }
    if rest.is_empty() {
        return Err(format!("`{word}` has no values"));
    }
    let values = rest
        .iter()
        .map(|f| match f.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("`{f}` is not a finite number (word `{word}`)")),
        })
        .collect::<std::result::Result<Vec<f32>, String>>()?;
    Ok(Some((word, values)))
}

/// The dimension of the vectors in `path` (from its first vector line).
pub fn dim_of(path: &Path) -> Result<usize> {
    let mut lines = ByteLines::open(path)?;
    let mut first = true;
    while let Some((line, bytes)) = lines.next_line()? {
        let bad = |msg: String| Error::Data { path: path.to_path_buf(), line, msg };
        if let Some((_, v)) = parse_line(utf8(bytes).map_err(bad)?, first).map_err(bad)? {
            return Ok(v.len());
        }
        first = false;
    }
    Err(Error::BadFile { path: path.to_path_buf(), msg: "holds no vectors".into() })
}

/// Reads the vectors of `vocab`'s words from `path`. With `lowercase` (the
/// vocabulary is lowercased) a file word is matched by its lowercase form,
/// the first occurrence winning. Every line must have the same number of
/// values; a malformed line is an error naming it.
pub fn read(path: &Path, vocab: &Vocab, lowercase: bool) -> Result<Pretrained> {
    let mut lines = ByteLines::open(path)?;
    let mut dim: Option<usize> = None;
    let mut taken = vec![false; vocab.len()];
    let mut rows = Vec::new();
    let mut file_words = 0;
    let mut first = true;
    while let Some((line, bytes)) = lines.next_line()? {
        let bad = |msg: String| Error::Data { path: path.to_path_buf(), line, msg };
        let parsed = parse_line(utf8(bytes).map_err(bad)?, first).map_err(bad)?;
        first = false;
        let Some((word, values)) = parsed else { continue };
        match dim {
            None => dim = Some(values.len()),
            Some(d) if d != values.len() => {
                return Err(bad(format!("{} values for `{word}`, earlier lines have {d}", values.len())))
            }
            _ => {}
        }
        file_words += 1;
        let key = if lowercase { word.to_lowercase() } else { word.to_string() };
        if let Some(id) = vocab.get(&key) {
            if id >= 2 && !taken[id] {
                taken[id] = true;
                rows.push((id, values));
            }
        }
    }
    let dim = dim.ok_or_else(|| Error::BadFile { path: path.to_path_buf(), msg: "holds no vectors".into() })?;
    Ok(Pretrained { dim, rows, file_words })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::VocabKind;

    fn vocab() -> Vocab {
        Vocab::from_tokens(VocabKind::Words, vec!["the".into(), "cat".into(), "sat".into()]).unwrap()
    }

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hotflip-vectors-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("v.txt");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_covered_words_skips_header_and_matches_case() {
        let p = file("ok", "4 2\nThe 1 2\ndog 3 4\ncat 5 6\nthe 7 8\n");
        assert_eq!(dim_of(&p).unwrap(), 2);
        let v = read(&p, &vocab(), true).unwrap();
        assert_eq!(v.dim, 2);
        assert_eq!(v.file_words, 4);
        // `The` lowercased wins over the later `the`; `sat` is absent.
        assert_eq!(v.rows, vec![(2, vec![1.0, 2.0]), (3, vec![5.0, 6.0])]);
        let cased = read(&p, &vocab(), false).unwrap();
        assert_eq!(cased.rows, vec![(3, vec![5.0, 6.0]), (2, vec![7.0, 8.0])]);
        let mut t = Tensor::full(&[5, 2], 0.5);
        v.apply(&mut t).unwrap();
        assert_eq!(t.data(), &[0.5, 0.5, 0.5, 0.5, 1.0, 2.0, 5.0, 6.0, 0.5, 0.5]);
        assert!(v.apply(&mut Tensor::full(&[5, 3], 0.0)).is_err(), "wrong width");
    }

    #[test]
    fn bad_lines_name_their_line() {
        let ragged = file("ragged", "the 1 2\ncat 3\n");
        let e = read(&ragged, &vocab(), true).unwrap_err().to_string();
        assert!(e.contains("v.txt:2") && e.contains("1 values"), "{e}");
        let nan = file("nan", "the 1 2\ncat 3 x\n");
        let e = read(&nan, &vocab(), true).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("`x`"), "{e}");
        assert!(read(&file("empty", "\n"), &vocab(), true).is_err());
    }
}
