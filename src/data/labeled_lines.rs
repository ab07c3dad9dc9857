//! `<label> <sentence>` files (SST-2, MR): one example per line, the label
//! before the first space.

use std::path::Path;

use super::clean::decode_latin1;
use super::dataset::{BadRows, Example};
use super::lines::{utf8, ByteLines};
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    /// ISO-8859-1 as the web reads it (see [`decode_latin1`]).
    Latin1,
}

/// Reads every line as an example with a label in `0..n_labels`.
pub(crate) fn read(path: &Path, encoding: Encoding, n_labels: usize, bad: &mut BadRows) -> Result<Vec<Example>> {
    let mut lines = ByteLines::open(path)?;
    let mut out = Vec::new();
    while let Some((line, bytes)) = lines.next_line()? {
        let text = match encoding {
            Encoding::Utf8 => match utf8(bytes) {
                Ok(s) => std::borrow::Cow::Borrowed(s),
                Err(msg) => {
                    bad.report(path, line, msg)?;
                    continue;
                }
            },
            Encoding::Latin1 => std::borrow::Cow::Owned(decode_latin1(bytes)),
        };
        match parse(&text, n_labels) {
            Ok(ex) => out.push(ex),
            Err(msg) => bad.report(path, line, msg)?,
        }
    }
    Ok(out)
}

fn parse(line: &str, n_labels: usize) -> std::result::Result<Example, String> {
    let Some((label, sentence)) = line.split_once(' ') else {
        return Err(if line.trim().is_empty() {
            "empty line".to_string()
        } else {
            "expected `<label> <sentence>`: no space after the label".to_string()
        });
    };
    let label = match label.parse::<usize>() {
        Ok(l) if l < n_labels => l,
        _ => return Err(format!("label `{label}` is not one of 0..{}", n_labels - 1)),
    };
    let text = sentence.trim();
    if text.is_empty() {
        return Err("empty sentence after the label".to_string());
    }
    Ok(Example { text: text.to_string(), label })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_label_and_sentence_at_the_first_space() {
        let ex = parse("1 a b  c ", 2).unwrap();
        assert_eq!(ex, Example { text: "a b  c".into(), label: 1 });
        assert!(parse("2 out of range", 2).unwrap_err().contains("label `2`"));
        assert!(parse("x text", 2).unwrap_err().contains("label `x`"));
        assert!(parse("0", 2).unwrap_err().contains("no space"));
        assert!(parse("0   ", 2).unwrap_err().contains("empty sentence"));
        assert!(parse("", 2).unwrap_err().contains("empty line"));
    }
}
