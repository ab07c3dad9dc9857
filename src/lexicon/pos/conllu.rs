//! A streaming reader for the CoNLL-U format of Universal Dependencies
//! (<https://universaldependencies.org/format.html>), keeping what a POS
//! tagger learns from: each syntactic word's FORM and UPOS.
//!
//! Sentences end at a blank line (or at the end of the file). Lines starting
//! with `#` are comments. Of the token lines, only integer IDs are words:
//! multiword token ranges (`1-2 don't`) are the surface token that the
//! following word lines split (`do`, `n't`), and empty nodes (`8.1`) are
//! enhanced-graph nodes with no surface form, so both are skipped. Every
//! error names the file and the 1-based line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{TaggedSentence, Upos};
use crate::error::Result;
use crate::lexicon::lines::TextLines;

/// CoNLL-U has exactly ten tab-separated columns.
const COLUMNS: usize = 10;

/// Reads every sentence of a CoNLL-U file.
pub fn read(path: &Path) -> Result<Vec<TaggedSentence>> {
    Reader::open(path)?.collect()
}

/// Yields one [`TaggedSentence`] at a time, reading one line at a time, so a
/// treebank never has to be in memory as text. After the first error it
/// yields nothing more.
pub struct Reader<R> {
    lines: TextLines<R>,
    failed: bool,
}

impl Reader<BufReader<File>> {
    /// Reads the CoNLL-U file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Reader { lines: TextLines::open(path)?, failed: false })
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads from `input`; `path` is only used to name errors.
    pub fn new(input: R, path: &Path) -> Self {
        Reader { lines: TextLines::new(input, path), failed: false }
    }

    /// Reads lines until a sentence is complete.
    fn next_sentence(&mut self) -> Result<Option<TaggedSentence>> {
        let mut sentence = TaggedSentence { tokens: Vec::new(), tags: Vec::new() };
        loop {
            let Some(line) = self.lines.next_line()? else {
                return Ok((!sentence.tokens.is_empty()).then_some(sentence));
            };
            if line.trim().is_empty() {
                if sentence.tokens.is_empty() {
                    // Extra blank lines between sentences carry nothing.
                    continue;
                }
                return Ok(Some(sentence));
            }
            if line.starts_with('#') {
                continue;
            }
            let word = parse_token_line(line, sentence.tokens.len()).map(|w| w.map(|(f, t)| (f.to_string(), t)));
            if let Some((form, tag)) = word.map_err(|msg| self.lines.error(msg))? {
                sentence.tokens.push(form);
                sentence.tags.push(tag);
            }
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<TaggedSentence>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_sentence();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// FORM and UPOS of a word line; `None` for a multiword range or an empty
/// node; a message for anything malformed. `words_so_far` checks that word
/// IDs count 1, 2, 3, ... as the format requires.
fn parse_token_line(line: &str, words_so_far: usize) -> std::result::Result<Option<(&str, Upos)>, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != COLUMNS {
        return Err(format!(
            "expected {COLUMNS} tab-separated fields (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC), found {}",
            fields.len()
        ));
    }
    let id = fields[0];
    let number = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
    if let Some((a, b)) = id.split_once('-') {
        return match (number(a), number(b)) {
            (Some(a), Some(b)) if a < b => Ok(None),
            _ => Err(format!("bad multiword token range `{id}` (expected e.g. `3-4`)")),
        };
    }
    if let Some((a, b)) = id.split_once('.') {
        return match (a.parse::<usize>(), number(b)) {
            (Ok(_), Some(_)) => Ok(None),
            _ => Err(format!("bad empty node ID `{id}` (expected e.g. `5.1`)")),
        };
    }
    let Some(n) = number(id) else {
        return Err(format!("bad word ID `{id}` (expected a positive integer, a range `3-4` or an empty node `5.1`)"));
    };
    if n != words_so_far + 1 {
        return Err(format!("word ID {n} out of sequence: expected {}", words_so_far + 1));
    }
    let form = fields[1];
    if form.is_empty() {
        return Err(format!("word {n} has an empty FORM"));
    }
    let tag = fields[3].parse::<Upos>().map_err(|e| format!("word {n} `{form}`: UPOS column: {e}"))?;
    Ok(Some((form, tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<TaggedSentence>> {
        Reader::new(text.as_bytes(), Path::new("mem.conllu")).collect()
    }

    fn row(id: &str, form: &str, upos: &str) -> String {
        format!("{id}\t{form}\t_\t{upos}\t_\t_\t_\t_\t_\t_\n")
    }

    #[test]
    fn last_sentence_needs_no_trailing_blank_line_and_crlf_and_bom_are_accepted() {
        let text = format!(
            "\u{feff}# sent_id = 1\r\n{}{}\r\n\n\n{}",
            row("1", "Hi", "INTJ"),
            row("2", "!", "PUNCT"),
            row("1", "Bye", "INTJ")
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].tokens, ["Hi", "!"]);
        assert_eq!(s[1].tags, [Upos::Intj]);
    }

    #[test]
    fn word_ids_must_count_up_from_one() {
        let text = format!("{}{}", row("1", "a", "DET"), row("3", "cat", "NOUN"));
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("mem.conllu:2: word ID 3 out of sequence"), "{err}");
        let err = parse(&row("0", "a", "DET")).unwrap_err().to_string();
        assert!(err.contains("bad word ID `0`"), "{err}");
    }

    #[test]
    fn bad_ranges_and_empty_nodes_are_errors() {
        assert!(parse(&row("2-1", "x", "_")).unwrap_err().to_string().contains("bad multiword token range"));
        assert!(parse(&row("1.x", "x", "_")).unwrap_err().to_string().contains("bad empty node ID"));
    }

    #[test]
    fn the_reader_stops_after_an_error() {
        let text = format!("{}\nbroken\n\n{}", row("1", "a", "DET"), row("1", "b", "DET"));
        let mut r = Reader::new(text.as_bytes(), Path::new("x"));
        assert!(r.next().unwrap().is_ok());
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }
}
